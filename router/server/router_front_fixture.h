// Test-only fixture for the router front end (auth, admission, probes,
// metrics, access logs, shutdown): one scripted FakeWorker serving
// stories260K and a RouterHarness configured per test.
#pragma once

#include <gtest/gtest.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "router/server/fake_worker.h"
#include "router/server/router_harness.h"

namespace infernum::router::testing {

// Token ids the worker streams (stories260K word pieces).
inline const std::vector<int32_t> kTokens = {300, 301, 302, 303, 304};

// Waits (bounded, so a bug fails instead of hanging) until `cond` holds.
template <typename Cond>
bool Eventually(Cond cond, absl::Duration timeout = absl::Seconds(30)) {
  const absl::Time until = absl::Now() + timeout;
  while (!cond()) {
    if (absl::Now() > until) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

// Holds worker streams until opened. A held stream first sends
// `tokens_before_hold` tokens (0: nothing, so the router's request waits
// for its first token), then waits for Open() or the router's cancel.
class Valve {
 public:
  explicit Valve(int tokens_before_hold = 0)
      : tokens_before_hold_(tokens_before_hold) {}

  FakeWorker::Script Script() {
    return [this](const v1::GenerateRequest&, FakeStream& s) {
      for (int i = 0; i < tokens_before_hold_; ++i) {
        if (!s.Send({kTokens[i % kTokens.size()]})) return grpc::Status::OK;
      }
      Arrive();
      if (!WaitOpen(s)) return grpc::Status::OK;  // Cancelled.
      s.SendAll(kTokens);
      return grpc::Status::OK;
    };
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int arrivals() {
    std::lock_guard<std::mutex> lock(mu_);
    return arrivals_;
  }
  bool WaitArrivals(int n) {
    return Eventually([&] { return arrivals() >= n; });
  }

 private:
  void Arrive() {
    std::lock_guard<std::mutex> lock(mu_);
    ++arrivals_;
  }
  bool WaitOpen(FakeStream& s) {
    std::unique_lock<std::mutex> lock(mu_);
    const absl::Time until = absl::Now() + absl::Seconds(60);
    while (!open_) {
      if (s.cancelled() || absl::Now() > until) return false;
      cv_.wait_for(lock, std::chrono::milliseconds(5));
    }
    return true;
  }
  const int tokens_before_hold_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int arrivals_ = 0;
};

class FrontTest : public ::testing::Test {
 protected:
  void SetUp() override {
    worker_ = std::make_unique<FakeWorker>(Stories260KInfo());
    address_ = worker_->Start();
    worker_->SetScript([](const v1::GenerateRequest&, FakeStream& s) {
      s.SendAll(kTokens);
      return grpc::Status::OK;
    });
  }
  void TearDown() override {
    router_.reset();
    worker_.reset();
  }

  // Starts the router in front of the worker (options.workers is set
  // here) and waits until the worker is healthy.
  void StartRouter(RouterHarness::Options options = {}) {
    if (options.workers.empty()) options.workers = {address_};
    router_ = std::make_unique<RouterHarness>(std::move(options));
    ASSERT_TRUE(router_->WaitHealthy(1, absl::Seconds(30)));
  }

  static nlohmann::json Completion(bool stream = false) {
    return {{"model", "stories260K"},
            {"prompt", "Once"},
            {"max_tokens", 8},
            {"stream", stream}};
  }
  static nlohmann::json Chat() {
    return {{"model", "stories260K"},
            {"messages", {{{"role", "user"}, {"content", "Hi"}}}},
            {"max_tokens", 8}};
  }

  std::unique_ptr<FakeWorker> worker_;
  std::string address_;
  std::unique_ptr<RouterHarness> router_;
};

}  // namespace infernum::router::testing
