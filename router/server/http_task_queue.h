// The connection thread pool of the HTTP server: cpp-httplib serves each
// connection on one thread for its whole life (keep-alive and SSE streams
// included), so a fixed pool smaller than the number of open connections
// leaves the extra ones waiting, unserved, until some connection closes.
// ElasticTaskQueue instead starts a thread whenever a connection arrives
// and none is idle (up to `max_threads`), and lets threads beyond
// `min_threads` exit after `idle_timeout` without work, so memory follows
// the load. Past `max_threads`, connections wait in FIFO order.
#pragma once

#include <httplib.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/time.h"

namespace infernum::router {

class ElasticTaskQueue : public httplib::TaskQueue {
 public:
  struct Options {
    int min_threads = 4;     // Started at once and kept.
    int max_threads = 1024;  // Connections served at once.
    absl::Duration idle_timeout = absl::Seconds(30);
    // Called once, when shutdown() is first called (for cpp-httplib: its
    // accept loop has ended and closed the listening socket).
    std::function<void()> on_shutdown;
  };

  explicit ElasticTaskQueue(Options options);
  ~ElasticTaskQueue() override;  // shutdown() unless done.

  // Runs `fn` on an idle thread, a new one, or (at max_threads) the first
  // thread that frees up. After shutdown() it runs on the caller's thread.
  void enqueue(std::function<void()> fn) override;
  // Runs the queued jobs, then stops and joins every thread. Idempotent.
  void shutdown() override;

  int num_threads() const;
  int num_idle() const;
  size_t num_queued() const;

 private:
  void Spawn();  // Requires mu_.
  void WorkerLoop(int id);
  // Joins threads that have exited (outside mu_).
  void JoinFinished(std::vector<std::thread> finished);

  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable exit_cv_;
  std::deque<std::function<void()>> jobs_;
  int num_threads_ = 0;
  int idle_ = 0;     // Waiting threads not yet claimed by a wakeup.
  int wakeups_ = 0;  // Wakeups sent and not yet consumed.
  bool shutdown_ = false;
  bool hook_called_ = false;
  int next_id_ = 0;
  std::map<int, std::thread> running_;
  std::vector<std::thread> finished_;
};

}  // namespace infernum::router
