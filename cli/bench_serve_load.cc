#include "cli/bench_serve_load.h"

#include <chrono>
#include <cmath>
#include <condition_variable>
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

LoadSummary RunLoad(ServeClient& client,
                    const std::vector<std::vector<int32_t>>& prompts,
                    const LoadParams& params) {
  const int num = static_cast<int>(prompts.size());
  const std::vector<double> arrivals =
      ArrivalTimes(num, params.request_rate, params.seed);
  const int limit = params.max_concurrency > 0 ? params.max_concurrency : num;
  std::vector<RequestResult> results(num);
  std::vector<std::thread> threads;
  threads.reserve(num);
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < num; ++i) {
    std::this_thread::sleep_until(
        t0 + std::chrono::duration_cast<Clock::duration>(
                 std::chrono::duration<double>(arrivals[i])));
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return in_flight < limit; });
      ++in_flight;
    }
    threads.emplace_back([&, i] {
      results[i] = client.Send(prompts[i], i);
      std::lock_guard<std::mutex> lock(mu);
      --in_flight;
      cv.notify_all();
    });
  }
  for (std::thread& t : threads) t.join();
  const double duration =
      std::chrono::duration<double>(Clock::now() - t0).count();
  return Summarize(results, duration);
}

}  // namespace infernum::cli
