#include "worker/engine/output_sink.h"

#include "common/logging.h"

namespace infernum::worker {

void CollectingSink::OnToken(const TokenOutput& token) {
  std::lock_guard<std::mutex> lock(mu_);
  if (final_.has_value()) ++num_after_finish_;
  tokens_.push_back(token);
}

void CollectingSink::OnFinish(const FinalOutput& final_output) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (final_.has_value()) ++num_after_finish_;
    final_ = final_output;
  }
  cv_.notify_all();
}

bool CollectingSink::WaitForFinish(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return final_.has_value(); });
}

bool CollectingSink::finished() const {
  std::lock_guard<std::mutex> lock(mu_);
  return final_.has_value();
}

std::vector<TokenOutput> CollectingSink::tokens() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tokens_;
}

std::vector<int32_t> CollectingSink::token_ids() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int32_t> ids;
  ids.reserve(tokens_.size());
  for (const TokenOutput& t : tokens_) ids.push_back(t.token_id);
  return ids;
}

FinalOutput CollectingSink::final_output() const {
  std::lock_guard<std::mutex> lock(mu_);
  CHECK(final_.has_value()) << "CollectingSink::final_output before finish";
  return *final_;
}

int CollectingSink::num_events_after_finish() const {
  std::lock_guard<std::mutex> lock(mu_);
  return num_after_finish_;
}

void QueueSink::OnToken(const TokenOutput& token) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(Event{token, std::nullopt});
  }
  cv_.notify_all();
}

void QueueSink::OnFinish(const FinalOutput& final_output) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(Event{std::nullopt, final_output});
  }
  cv_.notify_all();
}

std::optional<QueueSink::Event> QueueSink::Next(
    std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (final_popped_) return std::nullopt;
  if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) {
    return std::nullopt;
  }
  std::optional<Event> e(std::in_place, std::move(events_.front()));
  events_.pop_front();
  if (e->final_output.has_value()) final_popped_ = true;
  return e;
}

bool QueueSink::done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return final_popped_;
}

std::vector<QueueSink::Event> QueueSink::TakeAll() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Event> out(std::make_move_iterator(events_.begin()),
                         std::make_move_iterator(events_.end()));
  events_.clear();
  for (const Event& e : out) {
    if (e.final_output.has_value()) final_popped_ = true;
  }
  return out;
}

}  // namespace infernum::worker
