#include "worker/engine/engine_loop.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/logging.h"
#include "common/status.h"

namespace infernum::worker {

// Forwards to the caller's sink, then tells the loop the request is done.
class EngineLoop::TrackingSink : public RequestSink {
 public:
  TrackingSink(EngineLoop* loop, std::string request_id,
               std::shared_ptr<RequestSink> inner)
      : loop_(loop),
        request_id_(std::move(request_id)),
        inner_(std::move(inner)) {}
  void OnToken(const TokenOutput& token) override { inner_->OnToken(token); }
  void OnFinish(const FinalOutput& final_output) override {
    inner_->OnFinish(final_output);
    loop_->OnRequestFinished(request_id_);
  }

 private:
  EngineLoop* const loop_;
  const std::string request_id_;
  const std::shared_ptr<RequestSink> inner_;
};

EngineLoop::EngineLoop(std::unique_ptr<Engine> engine)
    : engine_(std::move(engine)) {
  CHECK(engine_ != nullptr && !engine_->HasUnfinishedRequests())
      << "EngineLoop needs an idle engine";
  stats_ = engine_->stats();
  thread_ = std::thread([this] { Run(); });
}

EngineLoop::~EngineLoop() { Shutdown(); }

absl::Status EngineLoop::Submit(EngineRequest request,
                                std::shared_ptr<RequestSink> sink) {
  CHECK(sink != nullptr) << "EngineLoop::Submit without a sink";
  RETURN_IF_ERROR(engine_->ValidateRequest(request));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!accepting_) {
      return absl::UnavailableError("engine is draining or shut down");
    }
    if (!unfinished_.insert(request.request_id).second) {
      return absl::AlreadyExistsError(
          absl::StrCat("request ", request.request_id, " is live"));
    }
    auto tracking = std::make_shared<TrackingSink>(this, request.request_id,
                                                   std::move(sink));
    pending_.push_back({std::move(request), std::move(tracking)});
  }
  work_cv_.notify_one();
  return absl::OkStatus();
}

absl::Status EngineLoop::Abort(std::string_view request_id) {
  const absl::string_view id(request_id.data(), request_id.size());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!unfinished_.contains(id)) {
      return absl::NotFoundError(absl::StrCat("request ", id, " is not live"));
    }
    aborts_.emplace_back(request_id);
  }
  work_cv_.notify_one();
  return absl::OkStatus();
}

bool EngineLoop::Drain(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  accepting_ = false;
  return idle_cv_.wait_for(lock, timeout, [&] { return unfinished_.empty(); });
}

bool EngineLoop::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_cv_.wait_for(lock, timeout, [&] { return unfinished_.empty(); });
}

void EngineLoop::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    accepting_ = false;
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

EngineStats EngineLoop::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

int EngineLoop::num_unfinished() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(unfinished_.size());
}

void EngineLoop::OnRequestFinished(const std::string& request_id) {
  std::lock_guard<std::mutex> lock(mu_);
  unfinished_.erase(request_id);
  if (unfinished_.empty()) idle_cv_.notify_all();
}

void EngineLoop::ApplyQueued(std::vector<Pending> pending,
                             std::vector<std::string> aborts) {
  for (Pending& p : pending) {
    const int num_prompt = static_cast<int>(p.request.prompt_token_ids.size());
    absl::Status st = engine_->AddRequest(std::move(p.request), p.sink);
    if (!st.ok()) {  // validated in Submit, so only on a race or a bug
      FinalOutput f;
      f.finish_reason = FinishReason::kError;
      f.error = st;
      f.num_prompt_tokens = num_prompt;
      p.sink->OnFinish(f);
    }
  }
  for (const std::string& id : aborts) {
    engine_->Abort(id).IgnoreError();  // NotFound: it finished meanwhile
  }
}

void EngineLoop::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_cv_.wait(lock, [&] {
      return stopping_ || !pending_.empty() || !aborts_.empty() || engine_busy_;
    });
    if (stopping_) break;
    std::vector<Pending> pending = std::move(pending_);
    std::vector<std::string> aborts = std::move(aborts_);
    pending_.clear();
    aborts_.clear();
    lock.unlock();
    ApplyQueued(std::move(pending), std::move(aborts));
    if (engine_->HasUnfinishedRequests()) {
      const absl::Status st = engine_->Step();
      if (!st.ok()) {
        LOG(ERROR) << "engine step failed: " << st;
        engine_->FailAll(Annotate(st, "engine step failed"));
      }
    }
    const EngineStats stats = engine_->stats();
    const bool busy = engine_->HasUnfinishedRequests();
    lock.lock();
    stats_ = stats;
    engine_busy_ = busy;
  }
  // Shutting down: requests never handed to the engine, then the engine's.
  std::vector<Pending> pending = std::move(pending_);
  pending_.clear();
  aborts_.clear();
  lock.unlock();
  const absl::Status reason = absl::UnavailableError("engine shutting down");
  for (Pending& p : pending) {
    FinalOutput f;
    f.finish_reason = FinishReason::kAbort;
    f.error = reason;
    f.num_prompt_tokens = static_cast<int>(p.request.prompt_token_ids.size());
    p.sink->OnFinish(f);
  }
  engine_->AbortAll(reason);
  const EngineStats stats = engine_->stats();
  lock.lock();
  stats_ = stats;
  engine_busy_ = false;
}

}  // namespace infernum::worker
