// EngineLoop: runs an Engine on a background thread and gives it a
// thread-safe front end (what the gRPC worker calls).
//
//   auto loop = std::make_unique<EngineLoop>(std::move(engine));
//   auto sink = std::make_shared<QueueSink>();
//   RETURN_IF_ERROR(loop->Submit(request, sink));   // errors at once
//   while (auto e = sink->Next(timeout)) ...         // tokens, then final
//   loop->Abort(id);                                 // client went away
//
// The loop thread sleeps while there is no work; each iteration it admits
// the submissions and applies the aborts queued since the previous one, then
// runs one Engine::Step. Sinks are called on the loop thread (see
// RequestSink); a sink may call Submit / Abort / stats (no lock is held
// while sinks run), but never Drain, WaitIdle or Shutdown (they wait for the
// loop thread). A request id can be reused once its OnFinish has returned.
//
// Lifecycle: Drain() stops accepting requests (Submit => Unavailable) and
// waits until everything accepted has finished (SIGTERM handling: Drain with
// a grace period, then Shutdown). Shutdown() (also run by the destructor)
// aborts whatever is still in flight: every accepted request's sink gets
// OnFinish(kAbort, Unavailable "shutting down"); then the thread is joined.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "worker/engine/engine.h"

namespace infernum::worker {

class EngineLoop {
 public:
  // Takes the engine (non-null, with no live requests) and starts the thread.
  explicit EngineLoop(std::unique_ptr<Engine> engine);
  ~EngineLoop();  // Shutdown()
  EngineLoop(const EngineLoop&) = delete;
  EngineLoop& operator=(const EngineLoop&) = delete;

  // Validates (Engine::ValidateRequest, plus AlreadyExists for a live id)
  // and queues the request; never blocks on the engine. Unavailable after
  // Drain or Shutdown started. On OK, `sink` (non-null) will receive the
  // request's outputs, ending with exactly one OnFinish.
  absl::Status Submit(EngineRequest request, std::shared_ptr<RequestSink> sink);

  // Asks the loop to abort a live request (its sink then gets
  // OnFinish(kAbort, Cancelled) from the loop thread, soon). NotFound if no
  // accepted request with this id is still unfinished.
  absl::Status Abort(std::string_view request_id);

  // Refuses new requests from now on and waits until every accepted request
  // has finished or `timeout` passed; true if none is left.
  bool Drain(std::chrono::milliseconds timeout);
  // Waits (without refusing requests) until no accepted request is
  // unfinished or `timeout` passed; true if idle.
  bool WaitIdle(std::chrono::milliseconds timeout);
  // Aborts all in flight, stops and joins the thread. Idempotent.
  void Shutdown();

  // Snapshot taken after the latest iteration (cheap; any thread).
  EngineStats stats() const;
  // Accepted requests not yet finished (queued ones included).
  int num_unfinished() const;
  const EngineConfig& config() const { return engine_->config(); }

 private:
  class TrackingSink;
  struct Pending {
    EngineRequest request;
    std::shared_ptr<RequestSink> sink;
  };

  void Run();
  void ApplyQueued(std::vector<Pending> pending,
                   std::vector<std::string> aborts);
  void OnRequestFinished(const std::string& request_id);

  std::unique_ptr<Engine> engine_;  // touched only by the loop thread
  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // loop thread waits for work
  std::condition_variable idle_cv_;  // Drain / WaitIdle wait for idle
  std::vector<Pending> pending_;
  std::vector<std::string> aborts_;
  absl::flat_hash_set<std::string> unfinished_;  // accepted, not finished
  bool accepting_ = true;
  bool stopping_ = false;
  bool engine_busy_ = false;  // engine has live requests (loop's view)
  EngineStats stats_;
  std::thread thread_;  // last: started after everything above exists
};

}  // namespace infernum::worker
