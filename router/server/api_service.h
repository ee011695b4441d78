// The OpenAI API endpoints, independent of the HTTP library: each takes the
// request body and returns a status + JSON body, or a GenerationRun to
// stream as SSE. Thread-safe: called concurrently from HTTP threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "router/server/generation_run.h"
#include "router/server/worker_pool.h"

namespace infernum::router {

struct ApiResponse {
  int status = 200;
  std::string body;  // JSON; empty when `stream` is set.
  // Set for a successful streaming request: 200, text/event-stream, events
  // from stream->Stream(...). Already primed (first tokens are in).
  std::shared_ptr<GenerationRun> stream;
};

class ApiService {
 public:
  struct Options {
    int64_t max_tokens_cap = 0;  // 0 = context only.
    absl::Duration request_timeout = absl::Seconds(600);
    int max_worker_attempts = 3;
    std::string system_fingerprint;
  };

  // `pool` must outlive the service.
  ApiService(WorkerPool* pool, Options options);

  // POST /v1/chat/completions and /v1/completions. `connected` is polled
  // while waiting for the workers; see GenerationRun.
  ApiResponse ChatCompletions(std::string_view body,
                              const ConnectionCheck& connected);
  ApiResponse Completions(std::string_view body,
                          const ConnectionCheck& connected);

  // GET /v1/models: the models served by healthy workers.
  ApiResponse Models() const;
  // GET /health: 200 when at least one worker is healthy, else 503.
  ApiResponse Health() const;

  // An error response ({"error": {...}} with the kind's HTTP status).
  static ApiResponse Error(const absl::Status& status);

 private:
  ResponseMeta NewMeta(std::string_view prefix, const std::string& model);
  ApiResponse Run(RunSpec spec, const ConnectionCheck& connected);
  absl::StatusOr<RunSpec> PrepareChat(std::string_view body);
  absl::StatusOr<RunSpec> PrepareCompletion(std::string_view body);

  WorkerPool* pool_;
  Options options_;
  int64_t created_ = 0;  // Start time, for /v1/models.
  uint64_t id_base_ = 0;
  std::atomic<uint64_t> id_counter_{0};
};

}  // namespace infernum::router
