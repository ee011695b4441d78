#include "router/server/http_task_queue.h"

#include <algorithm>
#include <utility>

namespace infernum::router {

ElasticTaskQueue::ElasticTaskQueue(Options options)
    : options_{.min_threads = std::max(0, options.min_threads),
               .max_threads =
                   std::max({1, options.min_threads, options.max_threads}),
               .idle_timeout = options.idle_timeout,
               .on_shutdown = std::move(options.on_shutdown)} {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < options_.min_threads; ++i) Spawn();
}

ElasticTaskQueue::~ElasticTaskQueue() { shutdown(); }

void ElasticTaskQueue::Spawn() {
  const int id = next_id_++;
  ++num_threads_;
  running_.emplace(id, std::thread([this, id] { WorkerLoop(id); }));
}

void ElasticTaskQueue::enqueue(std::function<void()> fn) {
  std::vector<std::thread> finished;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (shutdown_) {
      lock.unlock();
      fn();
      return;
    }
    jobs_.push_back(std::move(fn));
    if (idle_ > 0) {
      --idle_;
      ++wakeups_;
      work_cv_.notify_one();
    } else if (num_threads_ < options_.max_threads) {
      Spawn();
    }
    finished.swap(finished_);
  }
  JoinFinished(std::move(finished));
}

void ElasticTaskQueue::WorkerLoop(int id) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    while (!jobs_.empty()) {
      std::function<void()> fn = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      fn();
      fn = nullptr;  // Destroy the job's captures outside the lock too.
      lock.lock();
    }
    if (shutdown_) break;
    ++idle_;
    const bool woken = work_cv_.wait_for(
        lock, absl::ToChronoNanoseconds(options_.idle_timeout),
        [this] { return wakeups_ > 0 || shutdown_; });
    if (woken && wakeups_ > 0) {
      --wakeups_;  // The enqueuer already took us off idle_.
      continue;
    }
    --idle_;
    if (shutdown_) continue;  // Drain what is left, then exit.
    if (jobs_.empty() && num_threads_ > options_.min_threads) break;
  }
  --num_threads_;
  auto self = running_.find(id);
  finished_.push_back(std::move(self->second));
  running_.erase(self);
  exit_cv_.notify_all();
}

void ElasticTaskQueue::shutdown() {
  std::vector<std::thread> finished;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!hook_called_) {
      hook_called_ = true;
      if (options_.on_shutdown) {
        lock.unlock();
        options_.on_shutdown();
        lock.lock();
      }
    }
    shutdown_ = true;
    work_cv_.notify_all();
    exit_cv_.wait(lock, [this] { return num_threads_ == 0; });
    finished.swap(finished_);
  }
  JoinFinished(std::move(finished));
}

void ElasticTaskQueue::JoinFinished(std::vector<std::thread> finished) {
  for (std::thread& t : finished) t.join();
}

int ElasticTaskQueue::num_threads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return num_threads_;
}

int ElasticTaskQueue::num_idle() const {
  std::lock_guard<std::mutex> lock(mu_);
  return idle_;
}

size_t ElasticTaskQueue::num_queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_.size();
}

}  // namespace infernum::router
