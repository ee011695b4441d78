// A fixed-size thread pool for data-parallel kernels.
//
// ParallelFor(n, fn) splits [0, n) into contiguous chunks, one per thread, and
// runs fn(begin, end) on the pool with the calling thread taking the first
// chunk. It returns when every chunk is done. Calls are serialized: one
// call runs at a time per pool (a second caller waits). Workers spin
// briefly before sleeping, so back-to-back calls (one per op in a forward
// pass) do not pay a futex wake each time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace infernum {

class ThreadPool {
 public:
  // num_threads counts the caller; 0 means std::thread::hardware_concurrency().
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Runs fn(begin, end) over a partition of [0, n) into at most num_threads()
  // chunks (fewer when n is small, never an empty chunk).
  void ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

  // Runs fn(thread_index) once on every thread (0 = caller), for kernels that
  // partition work themselves.
  void RunOnAll(const std::function<void(int)>& fn);

  // Runs fn(0) on the caller and fn(t) on each worker t that picks the call
  // up before the caller's fn(0) has returned; returns when every fn that
  // started has returned. A worker that comes later (e.g. it was not running
  // because other processes hold the cores) skips the call, so the caller
  // never waits for a thread that has not started. For work shared out
  // dynamically (from an atomic counter), which any subset of the threads
  // completes.
  void RunOnAvailable(const std::function<void(int)>& fn);

 private:
  enum class Mode { kAll, kAvailable };
  void Dispatch(const std::function<void(int)>& fn, Mode mode);
  // Whether a worker that saw call `generation` may run it (kAvailable).
  bool Join(uint64_t generation);
  void WorkerLoop(int index);

  const int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex call_mu_;  // Serializes callers.
  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<void(int)>* task_ = nullptr;  // Guarded by mu_.
  Mode mode_ = Mode::kAll;                          // Guarded by mu_.
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};  // kAll: workers still running the call.
  // kAvailable: the call's generation (low 32 bits) << 32 | kClosed once the
  // caller's fn(0) returned | workers that joined; and how many finished.
  std::atomic<uint64_t> join_state_{0};
  std::atomic<int> finished_{0};
  bool stop_ = false;
};

}  // namespace infernum
