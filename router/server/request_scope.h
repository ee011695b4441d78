// One HTTP request's observations, from the start of its handler to the end
// of its response (the last SSE write for streams): the access log line
// and the per-request metrics.
//
// Created by the HTTP layer per request; for a stream it is kept alive with
// the response's content provider, so it finishes when the stream ends,
// however it ends (done, error, client gone). Not thread-safe: one request
// is served by one thread at a time.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "router/server/access_log.h"
#include "router/server/api_service.h"
#include "router/server/router_metrics.h"

namespace infernum::router {

// Where observations go; either may be null.
struct RequestObservers {
  AccessLog* access_log = nullptr;
  RouterMetrics* metrics = nullptr;
};

class RequestScope {
 public:
  // `generation`: a completions request (metrics count it; the log carries
  // the generation fields).
  RequestScope(const RequestObservers& observers, std::string request_id,
               std::string method, std::string path, bool generation,
               absl::Time start = absl::Now());
  ~RequestScope();  // Finish() if not done yet (status 499 if never set).

  RequestScope(const RequestScope&) = delete;
  RequestScope& operator=(const RequestScope&) = delete;

  const std::string& request_id() const { return record_.request_id; }
  absl::Time start() const { return record_.start; }

  // The API layer's description of the request (model, tokens, ...).
  void SetInfo(const GenerationInfo& info);
  void set_status(int status) { status_ = status; }
  void set_error(std::string type) { record_.error = std::move(type); }
  void set_completion_tokens(int64_t n) { record_.completion_tokens = n; }
  void set_workers(std::vector<std::string> workers) {
    record_.workers = std::move(workers);
  }

  // A streamed write of generated content reached the client at `now`:
  // the first one is the time to first token, later ones inter-token gaps.
  void OnStreamWrite(absl::Time now = absl::Now());

  // Writes the access log line and records the request's metrics, once;
  // later calls do nothing.
  void Finish(absl::Time now = absl::Now());

 private:
  RequestObservers observers_;
  AccessRecord record_;
  std::string policy_;
  int status_ = 0;
  std::optional<absl::Time> last_write_;
  metrics::Histogram* itl_ = nullptr;  // The model's ITL histogram, once used.
  bool finished_ = false;
};

}  // namespace infernum::router
