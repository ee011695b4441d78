// Ready-made RequestSinks (engine_types.h):
//   CallbackSink   forwards to two std::functions (engine thread);
//   CollectingSink records everything; thread-safe readers, WaitForFinish;
//   QueueSink      a thread-safe event queue a consumer thread pops from
//                  (e.g. a gRPC server-streaming handler).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "worker/engine/engine_types.h"

namespace infernum::worker {

class CallbackSink : public RequestSink {
 public:
  // Either function may be empty (the event is then dropped).
  CallbackSink(std::function<void(const TokenOutput&)> on_token,
               std::function<void(const FinalOutput&)> on_finish)
      : on_token_(std::move(on_token)), on_finish_(std::move(on_finish)) {}
  void OnToken(const TokenOutput& token) override {
    if (on_token_) on_token_(token);
  }
  void OnFinish(const FinalOutput& final_output) override {
    if (on_finish_) on_finish_(final_output);
  }

 private:
  std::function<void(const TokenOutput&)> on_token_;
  std::function<void(const FinalOutput&)> on_finish_;
};

// Records the whole output of one request.
class CollectingSink : public RequestSink {
 public:
  void OnToken(const TokenOutput& token) override;
  void OnFinish(const FinalOutput& final_output) override;

  // Waits until OnFinish ran (or the timeout passed); true if it did.
  bool WaitForFinish(std::chrono::milliseconds timeout) const;
  bool finished() const;
  std::vector<TokenOutput> tokens() const;
  std::vector<int32_t> token_ids() const;
  // Valid once finished().
  FinalOutput final_output() const;
  // Events received after OnFinish, or a second OnFinish (contract breaks,
  // for tests).
  int num_events_after_finish() const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<TokenOutput> tokens_;
  std::optional<FinalOutput> final_;
  int num_after_finish_ = 0;
};

// A queue of one request's events, filled on the engine thread and drained
// by a consumer thread.
class QueueSink : public RequestSink {
 public:
  struct Event {
    std::optional<TokenOutput> token;         // set for a token
    std::optional<FinalOutput> final_output;  // set for the last event
  };

  void OnToken(const TokenOutput& token) override;
  void OnFinish(const FinalOutput& final_output) override;

  // Blocks until an event is queued (or the timeout passed: nullopt) and
  // pops it. After the final event was popped, returns nullopt at once
  // (done() tells that apart from a timeout, e.g. to poll for cancellation).
  std::optional<Event> Next(std::chrono::milliseconds timeout);
  // True once the final event has been popped.
  bool done() const;
  // Pops everything queued now, without blocking.
  std::vector<Event> TakeAll();

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_;
  bool final_popped_ = false;
};

}  // namespace infernum::worker
