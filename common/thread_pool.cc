#include "common/thread_pool.h"

#include <algorithm>

namespace infernum {
namespace {
// Waiting threads first spin with `pause` (cheap wake-up for back-to-back
// ops), then yield the core (so an oversubscribed machine still makes
// progress), and workers finally sleep on the condition variable.
constexpr int kPauseIterations = 2000;
constexpr int kYieldIterations = 200;
constexpr uint64_t kClosed = uint64_t{1} << 31;
constexpr uint64_t kJoinedMask = kClosed - 1;

inline void CpuRelax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

inline uint64_t JoinTag(uint64_t generation) {
  return (generation & 0xffffffffu) << 32;
}

// Spins, then yields, until done() holds.
template <class Done>
void WaitUntil(Done done) {
  for (int spin = 0; !done(); ++spin) {
    if (spin < kPauseIterations) {
      CpuRelax();
    } else {
      std::this_thread::yield();  // Let a descheduled thread run.
    }
  }
}
}  // namespace

ThreadPool::ThreadPool(int num_threads)
    : num_threads_(num_threads > 0
                       ? num_threads
                       : std::max(1u, std::thread::hardware_concurrency())) {
  for (int i = 1; i < num_threads_; ++i) {
    workers_.emplace_back([this, i] { WorkerLoop(i); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

bool ThreadPool::Join(uint64_t generation) {
  uint64_t state = join_state_.load(std::memory_order_acquire);
  while ((state & ~(kClosed | kJoinedMask)) == JoinTag(generation) &&
         (state & kClosed) == 0) {
    if (join_state_.compare_exchange_weak(state, state + 1,
                                          std::memory_order_acq_rel)) {
      return true;
    }
  }
  return false;
}

void ThreadPool::WorkerLoop(int index) {
  uint64_t seen = 0;
  while (true) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int spin = 0;
         gen == seen && spin < kPauseIterations + kYieldIterations; ++spin) {
      if (spin < kPauseIterations) {
        CpuRelax();
      } else {
        std::this_thread::yield();
      }
      gen = generation_.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] {
        return generation_.load(std::memory_order_acquire) != seen;
      });
    }
    const std::function<void(int)>* task;
    Mode mode;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      // Read under mu_ with the task, so that both belong to one call.
      gen = generation_.load(std::memory_order_acquire);
      task = task_;
      mode = mode_;
    }
    seen = gen;
    if (mode == Mode::kAll) {
      (*task)(index);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    } else if (Join(gen)) {
      (*task)(index);
      finished_.fetch_add(1, std::memory_order_acq_rel);
    }
  }
}

void ThreadPool::Dispatch(const std::function<void(int)>& fn, Mode mode) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    task_ = &fn;
    mode_ = mode;
    const uint64_t gen = generation_.load(std::memory_order_relaxed) + 1;
    if (mode == Mode::kAll) {
      pending_.store(num_threads_ - 1, std::memory_order_relaxed);
    } else {
      finished_.store(0, std::memory_order_relaxed);
      join_state_.store(JoinTag(gen), std::memory_order_relaxed);
    }
    generation_.store(gen, std::memory_order_release);
  }
  cv_.notify_all();
}

void ThreadPool::RunOnAll(const std::function<void(int)>& fn) {
  if (num_threads_ == 1) {
    fn(0);
    return;
  }
  std::lock_guard<std::mutex> call_lock(call_mu_);
  Dispatch(fn, Mode::kAll);
  fn(0);
  WaitUntil([&] { return pending_.load(std::memory_order_acquire) == 0; });
}

void ThreadPool::RunOnAvailable(const std::function<void(int)>& fn) {
  if (num_threads_ == 1) {
    fn(0);
    return;
  }
  std::lock_guard<std::mutex> call_lock(call_mu_);
  Dispatch(fn, Mode::kAvailable);
  fn(0);
  const int joined = static_cast<int>(
      join_state_.fetch_or(kClosed, std::memory_order_acq_rel) & kJoinedMask);
  WaitUntil(
      [&] { return finished_.load(std::memory_order_acquire) == joined; });
}

void ThreadPool::ParallelFor(int64_t n,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int64_t chunks = std::min<int64_t>(n, num_threads_);
  if (chunks == 1) {
    fn(0, n);
    return;
  }
  RunOnAll([&](int t) {
    if (t >= chunks) return;
    const int64_t begin = n * t / chunks;
    const int64_t end = n * (t + 1) / chunks;
    if (begin < end) fn(begin, end);
  });
}

}  // namespace infernum
