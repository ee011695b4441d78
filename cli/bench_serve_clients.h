// Clients that send one streamed generation request of `infernum bench
// serve` and time it: over HTTP to the router's /v1/completions (SSE), or
// over gRPC straight to a worker's Generate. Both send the same token-id
// prompt with ignore_eos so the work is identical.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/bench_serve_stats.h"

namespace infernum::cli {

// Sampling settings shared by every request of a run.
struct ServeRequestOptions {
  std::string model;  // Model name for the router ("model" field).
  int max_tokens = 128;
  double temperature = 0;
  int64_t seed = 0;
  bool keep_alive = true;  // HTTP: reuse connections across requests.
};

// Sends requests; Send() is safe to call from many threads at once. A
// failed connection or a server error gives a RequestResult with ok=false;
// it never throws or aborts.
class ServeClient {
 public:
  virtual ~ServeClient() = default;
  virtual RequestResult Send(const std::vector<int32_t>& prompt_ids,
                             int64_t request_index) = 0;
};

// Router client for base_url "http://host:port". Reuses keep-alive
// connections (one per request in flight at most).
std::unique_ptr<ServeClient> MakeHttpServeClient(
    const std::string& base_url, const ServeRequestOptions& options);

// Worker client for "host:port" (insecure gRPC channel).
std::unique_ptr<ServeClient> MakeGrpcServeClient(
    const std::string& address, const ServeRequestOptions& options);

// The first model id listed by the router's GET /v1/models.
absl::StatusOr<std::string> FetchRouterModel(const std::string& base_url);

// What the bench needs from a worker's GetModelInfo.
struct WorkerModel {
  std::string model_id;
  int32_t vocab_size = 0;
};
absl::StatusOr<WorkerModel> FetchWorkerModel(const std::string& address);

// Splits "http://host:port" into host and port; error if malformed.
absl::Status ParseHttpUrl(const std::string& url, std::string* host, int* port);

}  // namespace infernum::cli
