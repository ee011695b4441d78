// Worker discovery by DNS: a `dns: name:port` entry stands for every address
// the name resolves to (A and AAAA records), re-resolved periodically by the
// WorkerPool, which adds and retires workers as the answer changes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace infernum::router {

class Resolver {
 public:
  virtual ~Resolver() = default;
  // Resolves `target` ("name:port", "[v6]:port") into worker targets
  // ("1.2.3.4:port", "[::1]:port"), sorted and without duplicates.
  // Unavailable when the lookup fails (the caller keeps its previous
  // answer), InvalidArgument for a malformed target. Thread-safe.
  virtual absl::StatusOr<std::vector<std::string>> Resolve(
      const std::string& target) = 0;
};

// getaddrinfo(3) (AF_UNSPEC, SOCK_STREAM): the system resolver, with
// /etc/hosts and the search domains of resolv.conf.
class SystemResolver final : public Resolver {
 public:
  absl::StatusOr<std::vector<std::string>> Resolve(
      const std::string& target) override;
};

struct TargetDiff {
  std::vector<std::string> added;    // In `resolved`, not in `current`.
  std::vector<std::string> removed;  // In `current`, not in `resolved`.
};

// What changes when the live set `current` becomes `resolved` (both
// unordered; results sorted).
TargetDiff DiffTargets(const std::vector<std::string>& current,
                       const std::vector<std::string>& resolved);

}  // namespace infernum::router
