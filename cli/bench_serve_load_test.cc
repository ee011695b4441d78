#include "cli/bench_serve_load.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace infernum::cli {
namespace {

// Records what RunLoad does: which requests, how many at once, on how many
// threads. The first `hold` requests wait (bounded) until `hold` requests
// are in flight together, so reaching the limit is observed, not assumed.
class RecordingClient : public ServeClient {
 public:
  explicit RecordingClient(int hold) : hold_(hold) {}

  RequestResult Send(const std::vector<int32_t>& prompt,
                     int64_t index) override {
    std::unique_lock<std::mutex> lock(mu_);
    sent_.push_back(index);
    threads_.insert(std::this_thread::get_id());
    ++in_flight_;
    max_in_flight_ = std::max(max_in_flight_, in_flight_);
    cv_.notify_all();
    if (index < hold_) {
      cv_.wait_for(lock, std::chrono::seconds(30),
                   [&] { return max_in_flight_ >= hold_; });
    }
    --in_flight_;
    RequestResult r;
    r.ok = true;
    r.ttft_s = r.e2e_s = 0.001;
    r.output_tokens = static_cast<int64_t>(prompt.size());
    return r;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  const int hold_;
  std::vector<int64_t> sent_;
  std::set<std::thread::id> threads_;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
};

TEST(RunLoadTest, SendsEveryRequestOnceWithinTheLimit) {
  const auto prompts = RandomPrompts(200, 3, 100, 1);
  for (int limit : {1, 7, 64}) {
    RecordingClient client(/*hold=*/limit);
    const LoadSummary s =
        RunLoad(client, prompts, LoadParams{.max_concurrency = limit});
    EXPECT_EQ(s.completed, 200) << limit;
    EXPECT_EQ(s.output_tokens, 600) << limit;
    EXPECT_EQ(client.max_in_flight_, limit);
    // Threads are reused: no more than can be in flight at once.
    EXPECT_LE(static_cast<int>(client.threads_.size()), limit);
    std::vector<int64_t> sorted = client.sent_;
    std::sort(sorted.begin(), sorted.end());
    for (int i = 0; i < 200; ++i) ASSERT_EQ(sorted[i], i);
  }
}

TEST(RunLoadTest, UnlimitedSendsAllAtOnce) {
  const auto prompts = RandomPrompts(50, 2, 100, 2);
  RecordingClient client(/*hold=*/50);
  const LoadSummary s = RunLoad(client, prompts, LoadParams{});
  EXPECT_EQ(s.completed, 50);
  EXPECT_EQ(client.max_in_flight_, 50);
}

TEST(RunLoadTest, PoissonArrivalsStillSendEverything) {
  const auto prompts = RandomPrompts(40, 2, 100, 3);
  RecordingClient client(/*hold=*/0);
  const LoadSummary s =
      RunLoad(client, prompts, LoadParams{.request_rate = 2000, .seed = 5});
  EXPECT_EQ(s.completed, 40);
  EXPECT_EQ(client.sent_.size(), 40u);
}

}  // namespace
}  // namespace infernum::cli
