// The OpenAI API endpoints, independent of the HTTP library: each takes the
// request body and returns a status + JSON body, or a GenerationRun to
// stream as SSE. Generation requests pass admission control (admission.h)
// after they are parsed and their model resolved. Thread-safe: called
// concurrently from HTTP threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "router/server/admission.h"
#include "router/server/generation_run.h"
#include "router/server/router_counters.h"
#include "router/server/worker_pool.h"

namespace infernum::router {

// What a generation request was, for access logs and metrics.
struct GenerationInfo {
  std::string model;   // Resolved model id; "" when the request failed first.
  std::string policy;  // Its routing policy ("" when unresolved).
  bool stream = false;
  int64_t prompt_tokens = -1;        // -1 = unknown.
  int64_t completion_tokens = -1;    // -1 = unknown (e.g. still streaming).
  std::vector<std::string> workers;  // Worker addresses used, if known.
};

struct ApiResponse {
  int status = 200;
  std::string body;  // JSON; empty when `stream` is set.
  // Set for a successful streaming request: 200, text/event-stream, events
  // from stream->Stream(...). Already primed (first tokens are in).
  std::shared_ptr<GenerationRun> stream;
  GenerationInfo info;  // Generation endpoints only.
  // The request's admission slot: keep it until the response (stream) ends.
  Admission::Slot slot;
  int retry_after_s = 0;  // > 0: send "Retry-After" (429 responses).
  // Why admission refused the request ("rate_limit", "queue_timeout"), or "".
  std::string rejected;
};

class ApiService {
 public:
  struct Options {
    int64_t max_tokens_cap = 0;  // 0 = context only.
    absl::Duration request_timeout = absl::Seconds(600);
    int max_worker_attempts = 3;
    absl::Duration stall_timeout = absl::Seconds(30);
    int max_migrations = 3;
    std::string system_fingerprint;
    Admission* admission = nullptr;      // Null: no limits.
    RouterCounters* counters = nullptr;  // Null: nothing counted.
  };

  // `pool` (and the admission / counters in `options`) must outlive the
  // service.
  ApiService(WorkerPool* pool, Options options);

  // POST /v1/chat/completions and /v1/completions. `connected` is polled
  // while queued for admission and while waiting for the workers; see
  // GenerationRun.
  ApiResponse ChatCompletions(std::string_view body,
                              const ConnectionCheck& connected);
  ApiResponse Completions(std::string_view body,
                          const ConnectionCheck& connected);

  // GET /v1/models: the models served by healthy workers.
  ApiResponse Models() const;
  // GET /health: 200 when at least one worker is healthy, else 503.
  ApiResponse Health() const;
  // GET /ready: 200 when every configured model has a healthy worker (with
  // only a top-level `workers` list: when one worker is healthy), else 503
  // with an error body.
  ApiResponse Ready() const;

  // An error response ({"error": {...}} with the kind's HTTP status).
  static ApiResponse Error(const absl::Status& status);

 private:
  ResponseMeta NewMeta(std::string_view prefix, const std::string& model);
  absl::StatusOr<RunSpec> PrepareChat(std::string_view body);
  absl::StatusOr<RunSpec> PrepareCompletion(std::string_view body);
  // Admission, then the run: the response for a prepared request.
  ApiResponse Serve(absl::StatusOr<RunSpec> spec,
                    const ConnectionCheck& connected);
  // Waits for an admission slot for `out->info.model`. False when refused;
  // `*out` is then the error response to send.
  bool Admit(const ConnectionCheck& connected, ApiResponse* out);
  void Run(RunSpec spec, const ConnectionCheck& connected, ApiResponse* out);
  std::string PolicyOf(const std::string& model) const;

  WorkerPool* pool_;
  Options options_;
  int64_t created_ = 0;  // Start time, for /v1/models.
  uint64_t id_base_ = 0;
  std::atomic<uint64_t> id_counter_{0};
};

}  // namespace infernum::router
