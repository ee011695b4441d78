#include "cli/bench_serve_load.h"

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

namespace infernum::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Seconds from the start at which each request is sent.
std::vector<double> ArrivalTimes(int num, double rate, uint64_t seed) {
  std::vector<double> t(num, 0.0);
  if (!(rate > 0) || std::isinf(rate)) return t;
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
  std::exponential_distribution<double> gap(rate);
  double now = 0;
  for (int i = 0; i < num; ++i) {
    t[i] = now;
    now += gap(rng);
  }
  return t;
}

}  // namespace

std::vector<std::vector<int32_t>> RandomPrompts(int num, int len, int32_t vocab,
                                                uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> id(3, std::max<int32_t>(vocab - 1, 3));
  std::vector<std::vector<int32_t>> prompts(num);
  for (auto& p : prompts) {
    p.resize(len);
    for (int32_t& t : p) t = id(rng);
  }
  return prompts;
}

namespace {

// Senders for RunLoad: threads that each send one request at a time, added
// only when every existing one is busy (so a run costs as many threads as
// requests were ever in flight at once, not one per request).
class SenderPool {
 public:
  SenderPool(ServeClient& client,
             const std::vector<std::vector<int32_t>>& prompts,
             std::vector<RequestResult>& results)
      : client_(client), prompts_(prompts), results_(results) {}
  ~SenderPool() { Join(); }

  // Blocks while `limit` requests are in flight, then hands request `i` to
  // an idle sender (or a new one).
  void Send(int i, int limit) {
    std::unique_lock<std::mutex> lock(mu_);
    slot_cv_.wait(lock, [&] { return in_flight_ < limit; });
    ++in_flight_;
    work_.push_back(i);
    if (static_cast<int>(work_.size()) > idle_) {
      threads_.emplace_back([this] { Run(); });
    } else {
      work_cv_.notify_one();
    }
  }

  // Waits for every request handed out.
  void Join() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
      work_cv_.notify_all();
    }
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      ++idle_;
      work_cv_.wait(lock, [&] { return !work_.empty() || done_; });
      --idle_;
      if (work_.empty()) return;  // Done.
      const int i = work_.front();
      work_.pop_front();
      lock.unlock();
      RequestResult r = client_.Send(prompts_[i], i);
      lock.lock();
      results_[i] = std::move(r);
      --in_flight_;
      slot_cv_.notify_one();
    }
  }

  ServeClient& client_;
  const std::vector<std::vector<int32_t>>& prompts_;
  std::vector<RequestResult>& results_;
  std::mutex mu_;
  std::condition_variable slot_cv_;  // in_flight_ fell.
  std::condition_variable work_cv_;  // work_ grew, or done_.
  std::deque<int> work_;             // Handed out, not yet taken.
  int idle_ = 0;                     // Senders waiting for work.
  int in_flight_ = 0;
  bool done_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace

LoadSummary RunLoad(ServeClient& client,
                    const std::vector<std::vector<int32_t>>& prompts,
                    const LoadParams& params) {
  const int num = static_cast<int>(prompts.size());
  const std::vector<double> arrivals =
      ArrivalTimes(num, params.request_rate, params.seed);
  const int limit = params.max_concurrency > 0 ? params.max_concurrency : num;
  std::vector<RequestResult> results(num);
  const Clock::time_point t0 = Clock::now();
  {
    SenderPool pool(client, prompts, results);
    for (int i = 0; i < num; ++i) {
      std::this_thread::sleep_until(
          t0 + std::chrono::duration_cast<Clock::duration>(
                   std::chrono::duration<double>(arrivals[i])));
      pool.Send(i, limit);
    }
    pool.Join();
  }
  const double duration =
      std::chrono::duration<double>(Clock::now() - t0).count();
  return Summarize(results, duration);
}

}  // namespace infernum::cli
