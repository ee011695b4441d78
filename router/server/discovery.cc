#include "router/server/discovery.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "router/server/config.h"

namespace infernum::router {
namespace {

// "ip:port" or "[ip6]:port" for one getaddrinfo result; empty if neither.
std::string FormatTarget(const addrinfo& ai, int port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (ai.ai_family == AF_INET) {
    const auto* sa = reinterpret_cast<const sockaddr_in*>(ai.ai_addr);
    if (inet_ntop(AF_INET, &sa->sin_addr, text, sizeof(text)) == nullptr) {
      return "";
    }
    return absl::StrCat(text, ":", port);
  }
  if (ai.ai_family == AF_INET6) {
    const auto* sa = reinterpret_cast<const sockaddr_in6*>(ai.ai_addr);
    if (inet_ntop(AF_INET6, &sa->sin6_addr, text, sizeof(text)) == nullptr) {
      return "";
    }
    return absl::StrCat("[", text, "]:", port);
  }
  return "";
}

}  // namespace

absl::StatusOr<std::vector<std::string>> SystemResolver::Resolve(
    const std::string& target) {
  absl::StatusOr<HostPort> hp = ParseHostPort(target);
  if (!hp.ok()) return hp.status();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  const int rc = getaddrinfo(hp->host.c_str(), nullptr, &hints, &result);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve '", hp->host, "': ", gai_strerror(rc)));
  }
  std::set<std::string> targets;
  for (const addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    std::string t = FormatTarget(*ai, hp->port);
    if (!t.empty()) targets.insert(std::move(t));
  }
  freeaddrinfo(result);
  return std::vector<std::string>(targets.begin(), targets.end());
}

TargetDiff DiffTargets(const std::vector<std::string>& current,
                       const std::vector<std::string>& resolved) {
  const std::set<std::string> now(current.begin(), current.end());
  const std::set<std::string> next(resolved.begin(), resolved.end());
  TargetDiff diff;
  std::set_difference(next.begin(), next.end(), now.begin(), now.end(),
                      std::back_inserter(diff.added));
  std::set_difference(now.begin(), now.end(), next.begin(), next.end(),
                      std::back_inserter(diff.removed));
  return diff;
}

}  // namespace infernum::router
