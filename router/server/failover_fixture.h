// Test-only fixture for failover tests: three deterministic FakeWorkers
// (stories260K) sharing one FaultPlan, and a WorkerPool over them with no
// background polling (a worker marked unavailable stays down).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "router/server/fake_worker.h"
#include "router/server/generation_session.h"
#include "router/server/router_counters.h"
#include "router/server/routing_policy.h"
#include "router/server/worker_pool.h"

namespace infernum::router::testing {

class FailoverTest : public ::testing::Test {
 protected:
  static constexpr int kNumWorkers = 3;
  static constexpr absl::Duration kStallTimeout = absl::Milliseconds(300);

  void SetUp() override {
    TearDown();
    plan_ = std::make_shared<FaultPlan>();
    std::vector<std::string> addresses;
    for (int i = 0; i < kNumWorkers; ++i) {
      workers_.push_back(std::make_unique<FakeWorker>(Stories260KInfo()));
      addresses.push_back(workers_.back()->Start());
      workers_.back()->ServeDeterministic(plan_);
    }
    pool_ = std::make_unique<WorkerPool>(
        WorkerPool::Options{.addresses = addresses,
                            .refresh_interval = absl::Hours(1)},
        MakeDefaultRoutingPolicy());
    pool_->RefreshAll();
    auto route = pool_->registry().Find("stories260K");
    ASSERT_TRUE(route.ok()) << route.status();
    ASSERT_EQ(route->workers.size(), static_cast<size_t>(kNumWorkers));
    route_ = *route;
  }

  void TearDown() override {
    pool_.reset();
    workers_.clear();
  }

  void ResetCounters() {
    counters_.retries = 0;
    counters_.migrations = 0;
    counters_.stalls = 0;
    counters_.failed_sequences = 0;
  }

  // The first `num_streams` streams (on any worker) get `fault`.
  void SetFault(Fault fault, int after_tokens, int num_streams = 1) {
    plan_->fault = fault;
    plan_->after_tokens = after_tokens;
    plan_->num_streams = num_streams;
  }

  GenerationSession::Options SessionOptions() {
    GenerationSession::Options o;
    o.model_id = "stories260K";
    o.route_workers = route_.workers;
    o.deadline = absl::Now() + absl::Seconds(60);
    o.stall_timeout = kStallTimeout;
    o.max_migrations = 3;
    o.counters = &counters_;
    return o;
  }

  // Every request the workers received, in no particular order.
  std::vector<v1::GenerateRequest> AllRequests() const {
    std::vector<v1::GenerateRequest> out;
    for (const auto& w : workers_) {
      for (auto& r : w->requests()) out.push_back(std::move(r));
    }
    return out;
  }

  // Index of the worker that received a request with this id and
  // num_previously_generated; -1 if none.
  int WorkerOf(const std::string& request_id, int previously) const {
    for (int i = 0; i < kNumWorkers; ++i) {
      for (const auto& r : workers_[i]->requests()) {
        if (r.request_id() == request_id &&
            r.num_previously_generated() == previously) {
          return i;
        }
      }
    }
    return -1;
  }

  std::shared_ptr<FaultPlan> plan_;
  std::vector<std::unique_ptr<FakeWorker>> workers_;
  std::unique_ptr<WorkerPool> pool_;
  ModelRegistry::Route route_;
  RouterCounters counters_;
};

}  // namespace infernum::router::testing
