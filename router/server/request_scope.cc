#include "router/server/request_scope.h"

#include <utility>

namespace infernum::router {

RequestScope::RequestScope(const RequestObservers& observers,
                           std::string request_id, std::string method,
                           std::string path, bool generation, absl::Time start)
    : observers_(observers) {
  record_.start = start;
  record_.request_id = std::move(request_id);
  record_.method = std::move(method);
  record_.path = std::move(path);
  record_.generation = generation;
}

RequestScope::~RequestScope() { Finish(); }

void RequestScope::SetInfo(const GenerationInfo& info) {
  record_.model = info.model;
  record_.workers = info.workers;
  record_.stream = info.stream;
  record_.prompt_tokens = info.prompt_tokens;
  record_.completion_tokens = info.completion_tokens;
  policy_ = info.policy;
}

void RequestScope::OnStreamWrite(absl::Time now) {
  if (!last_write_.has_value()) {
    record_.ttft_ms = absl::ToDoubleMilliseconds(now - record_.start);
    if (observers_.metrics != nullptr) {
      observers_.metrics->ObserveTimeToFirstToken(
          record_.model, absl::ToDoubleSeconds(now - record_.start));
    }
  } else if (observers_.metrics != nullptr) {
    if (itl_ == nullptr) {
      itl_ = observers_.metrics->InterTokenLatency(record_.model);
    }
    itl_->Observe(absl::ToDoubleSeconds(now - *last_write_));
  }
  last_write_ = now;
}

void RequestScope::Finish(absl::Time now) {
  if (finished_) return;
  finished_ = true;
  // A request that never got a status had its client leave first.
  record_.status = status_ != 0 ? status_ : 499;
  record_.latency_ms = absl::ToDoubleMilliseconds(now - record_.start);
  if (record_.generation && observers_.metrics != nullptr) {
    observers_.metrics->CountRequest(record_.model, record_.status, policy_);
    if (record_.status == 200 && record_.error.empty()) {
      observers_.metrics->ObserveEndToEnd(
          record_.model, absl::ToDoubleSeconds(now - record_.start));
    }
  }
  if (observers_.access_log != nullptr) {
    observers_.access_log->Write(record_);
  }
}

}  // namespace infernum::router
