// WorkerPool against in-process gRPC workers: multi-model pools, a worker
// reporting the wrong model, ejection and probing back, load reports feeding
// least_load, DNS discovery adding and retiring workers live.
#include "router/server/worker_pool.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/testing.h"
#include "router/api/errors.h"
#include "router/server/prefix_index.h"

namespace infernum::router {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A servable model: stories260K's tokenizer files, block size 4.
v1::ModelInfo TinyModelInfo(const std::string& model_id) {
  const std::string dir =
      ::infernum::testing::SharedModelsDir() + "/stories260K";
  v1::ModelInfo info;
  info.set_model_id(model_id);
  info.set_max_context_length(512);
  info.set_block_size(4);
  info.add_eos_token_ids(2);
  info.set_vocab_size(512);
  info.set_tokenizer_json(ReadFile(dir + "/tokenizer.json"));
  info.set_tokenizer_config_json(ReadFile(dir + "/tokenizer_config.json"));
  info.set_model_type("llama");
  return info;
}

// Serves GetModelInfo, GetLoad and grpc.health.v1 with settable answers.
class TestWorker final : public v1::Worker::Service {
 public:
  explicit TestWorker(const std::string& model_id)
      : info_(TinyModelInfo(model_id)) {}
  ~TestWorker() override {
    if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now()));
  }

  std::string Start() {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    port_ = port;
    return address();
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  int port() const { return port_; }

  void SetServing(bool serving) {
    server_->GetHealthCheckService()->SetServingStatus(serving);
  }
  void SetLoad(int running, int waiting, float kv) {
    std::lock_guard<std::mutex> lock(mu_);
    load_.set_num_running(running);
    load_.set_num_waiting(waiting);
    load_.set_kv_cache_usage(kv);
  }

  grpc::Status GetModelInfo(grpc::ServerContext*,
                            const v1::GetModelInfoRequest*,
                            v1::ModelInfo* response) override {
    *response = info_;
    return grpc::Status::OK;
  }
  grpc::Status GetLoad(grpc::ServerContext*, const v1::GetLoadRequest*,
                       v1::LoadReport* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    *response = load_;
    return grpc::Status::OK;
  }

 private:
  v1::ModelInfo info_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::mutex mu_;
  v1::LoadReport load_;
};

// Answers what the test says.
class FakeResolver final : public Resolver {
 public:
  void Set(std::vector<std::string> targets) {
    std::lock_guard<std::mutex> lock(mu_);
    targets_ = std::move(targets);
    fail_ = false;
  }
  void Fail() {
    std::lock_guard<std::mutex> lock(mu_);
    fail_ = true;
  }
  absl::StatusOr<std::vector<std::string>> Resolve(
      const std::string& target) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (fail_) return absl::UnavailableError("resolver down");
    return targets_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> targets_;
  bool fail_ = false;
};

// A port nothing listens on (a server that has been shut down).
std::string DeadAddress() {
  TestWorker w("x");
  return w.Start();
}

ErrorKind KindOf(const absl::StatusOr<ModelRegistry::Route>& r) {
  return ApiErrorFromStatus(r.status()).kind;
}

std::vector<int> RouteOf(const WorkerPool& pool, const std::string& model) {
  auto r = pool.registry().Find(model);
  return r.ok() ? r->workers : std::vector<int>{};
}

// Waits (up to 60 s) until `done()` holds.
template <typename Pred>
bool Eventually(Pred done) {
  const absl::Time until = absl::Now() + absl::Seconds(60);
  while (!done()) {
    if (absl::Now() > until) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

WorkerPool::Options FastOptions() {
  return {.refresh_interval = absl::Seconds(60),
          .health_timeout = absl::Seconds(5),
          .model_info_timeout = absl::Seconds(10),
          .eject_backoff_initial = absl::Milliseconds(20),
          .eject_backoff_max = absl::Milliseconds(100)};
}

TEST(WorkerPoolTest, RoutesByModelAndSkipsWorkersReportingAnotherModel) {
  TestWorker a("model-a"), b("model-b"), wrong("model-b");
  WorkerPool::Options o = FastOptions();
  o.models = {{.name = "model-a", .addresses = {a.Start(), wrong.Start()}},
              {.name = "model-b", .addresses = {b.Start()}},
              {.name = "model-c", .addresses = {DeadAddress()}}};
  WorkerPool pool(o, nullptr);
  pool.RefreshAll();
  ASSERT_EQ(pool.num_workers(), 4);  // a, wrong, b, dead: in config order.
  EXPECT_EQ(RouteOf(pool, "model-a"), (std::vector<int>{0}));
  // `wrong` reports model-b but belongs to model-a's pool: used for neither.
  EXPECT_EQ(RouteOf(pool, "model-b"), (std::vector<int>{2}));
  // Configured but not served: 503; never configured nor served: 404.
  EXPECT_EQ(KindOf(pool.registry().Find("model-c")),
            ErrorKind::kServiceUnavailable);
  EXPECT_EQ(KindOf(pool.registry().Find("model-z")), ErrorKind::kModelNotFound);
  std::vector<std::string> served;
  for (const auto& m : pool.registry().ServedModels()) {
    served.push_back(m->model_id);
  }
  EXPECT_EQ(served, (std::vector<std::string>{"model-a", "model-b"}));
  const std::vector<WorkerSnapshot> snap = pool.Snapshot();
  ASSERT_EQ(snap.size(), 4u);
  EXPECT_EQ(snap[1].address, wrong.address());
  EXPECT_EQ(snap[1].model_id, "model-a");
  EXPECT_FALSE(snap[1].healthy);
  EXPECT_TRUE(snap[0].healthy);
  EXPECT_FALSE(snap[3].healthy);
  EXPECT_EQ(snap[3].num_ejections, 1u);
  EXPECT_FALSE(pool.Ready());  // model-c has no healthy worker.
}

TEST(WorkerPoolTest, ReadyMeansEveryModelServedAndALegacyWorkerUp) {
  TestWorker a("model-a"), legacy("other");
  WorkerPool::Options o = FastOptions();
  o.models = {{.name = "model-a", .addresses = {a.Start()}}};
  WorkerPool pool(o, nullptr);
  pool.RefreshAll();
  EXPECT_TRUE(pool.Ready());
  o.addresses = {DeadAddress()};
  WorkerPool with_dead_legacy(o, nullptr);
  with_dead_legacy.RefreshAll();
  EXPECT_FALSE(with_dead_legacy.Ready());
  o.addresses = {legacy.Start()};
  WorkerPool with_legacy(o, nullptr);
  with_legacy.RefreshAll();
  EXPECT_TRUE(with_legacy.Ready());
  // The legacy worker's model is learned from it.
  EXPECT_EQ(RouteOf(with_legacy, "other"), (std::vector<int>{0}));
  EXPECT_FALSE(WorkerPool(WorkerPool::Options{}, nullptr).Ready());
}

TEST(WorkerPoolTest, EjectedWorkerIsProbedBackInAndKeepsInFlightCounts) {
  TestWorker w("m");
  WorkerPool::Options o = FastOptions();
  o.addresses = {w.Start()};
  WorkerPool pool(o, nullptr);
  pool.RefreshAll();
  pool.StartBackgroundRefresh();
  ASSERT_TRUE(pool.registry().IsHealthy(0));
  WorkerClient::InFlightGuard stream = pool.client(0).TrackInFlight();
  pool.MarkUnavailable(0);
  EXPECT_FALSE(pool.registry().IsHealthy(0));
  EXPECT_FALSE(pool.PickWorker({"m", {}}, {0}, {}).has_value());
  // The probe (refresh_interval is 60 s, so only the breaker brings it
  // back) finds it serving.
  ASSERT_TRUE(Eventually([&] { return pool.registry().IsHealthy(0); }));
  EXPECT_EQ(pool.PickWorker({"m", {}}, {0}, {}), 0);
  // Now it really goes away: probes keep failing, it stays out.
  w.SetServing(false);
  pool.MarkUnavailable(0);
  absl::SleepFor(absl::Milliseconds(300));  // Several probe periods.
  EXPECT_FALSE(pool.registry().IsHealthy(0));
  w.SetServing(true);
  ASSERT_TRUE(Eventually([&] { return pool.registry().IsHealthy(0); }));
  const WorkerSnapshot snap = pool.Snapshot()[0];
  EXPECT_EQ(snap.num_ejections, 2u);
  EXPECT_EQ(snap.model_id, "m");
  EXPECT_EQ(snap.num_in_flight, 1);  // Polls never reset the stream count.
  stream.Release();
  EXPECT_EQ(pool.Snapshot()[0].num_in_flight, 0);
}

TEST(WorkerPoolTest, LoadReportsFeedSnapshotsAndLeastLoad) {
  TestWorker busy("m"), idle("m");
  busy.SetLoad(/*running=*/3, /*waiting=*/7, /*kv=*/0.5f);
  WorkerPool::Options o = FastOptions();
  o.models = {{.name = "m",
               .addresses = {busy.Start(), idle.Start()},
               .policy = std::make_shared<LeastLoadPolicy>()}};
  WorkerPool pool(o, nullptr);
  pool.RefreshAll();
  EXPECT_EQ(pool.PolicyName("m"), "least_load");
  EXPECT_EQ(pool.PolicyName("other"), "round_robin");
  const std::vector<WorkerSnapshot> snap = pool.Snapshot();
  ASSERT_EQ(snap.size(), 2u);
  EXPECT_EQ(snap[0].num_running, 3);
  EXPECT_EQ(snap[0].num_waiting, 7);
  EXPECT_FLOAT_EQ(snap[0].kv_cache_usage, 0.5f);
  EXPECT_EQ(snap[1].num_waiting, 0);
  const std::vector<int> route = RouteOf(pool, "m");
  ASSERT_EQ(route.size(), 2u);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(pool.PickWorker({"m", {}}, route, {}), 1);
  // This router's own streams count: 10 open on the idle one outweigh the
  // busy one's queue (7 + 4 * 0.5 = 9).
  std::vector<WorkerClient::InFlightGuard> streams;
  for (int i = 0; i < 10; ++i)
    streams.push_back(pool.client(1).TrackInFlight());
  EXPECT_EQ(pool.PickWorker({"m", {}}, route, {}), 0);
  // Excluded workers are never picked.
  EXPECT_EQ(pool.PickWorker({"m", {}}, route, {0}), 1);
}

TEST(WorkerPoolTest, DnsDiscoveryAddsAndRetiresWorkersLive) {
  TestWorker a("m"), b("m");
  a.Start();
  b.Start();
  auto resolver = std::make_shared<FakeResolver>();
  resolver->Set({a.address()});
  WorkerPool::Options o = FastOptions();
  o.models = {{.name = "m", .dns = "workers.test:1"}};
  o.resolver = resolver;
  WorkerPool pool(o, nullptr);
  pool.RefreshAll();
  ASSERT_EQ(RouteOf(pool, "m"), (std::vector<int>{0}));
  // A stream is open on `a` when DNS stops listing it.
  const WorkerClient& client_a = pool.client(0);
  WorkerClient::InFlightGuard stream = client_a.TrackInFlight();
  resolver->Set({b.address()});
  pool.RefreshAll();
  EXPECT_EQ(RouteOf(pool, "m"), (std::vector<int>{1}));
  EXPECT_EQ(pool.registry().num_workers(), 1);
  ASSERT_EQ(pool.Snapshot().size(), 1u);
  EXPECT_EQ(pool.Snapshot()[0].address, b.address());
  EXPECT_FALSE(pool.PickWorker({"m", {}}, {0, 1}, {}) == 0);
  // The retired worker's client stays valid for the open stream.
  EXPECT_EQ(&pool.client(0), &client_a);
  EXPECT_EQ(client_a.num_in_flight(), 1);
  stream.Release();
  // A failing resolver keeps the current workers.
  resolver->Fail();
  pool.RefreshAll();
  EXPECT_EQ(RouteOf(pool, "m"), (std::vector<int>{1}));
  // `a` comes back: same index as before.
  resolver->Set({a.address(), b.address()});
  pool.RefreshAll();
  EXPECT_EQ(RouteOf(pool, "m"), (std::vector<int>{0, 1}));
  EXPECT_EQ(pool.num_workers(), 2);
}

TEST(WorkerPoolTest, BackgroundDiscoveryFollowsTheResolver) {
  TestWorker a("m"), b("m");
  a.Start();
  b.Start();
  auto resolver = std::make_shared<FakeResolver>();
  resolver->Set({a.address()});
  WorkerPool::Options o = FastOptions();
  o.models = {{.name = "m", .dns = "workers.test:1"}};
  o.resolver = resolver;
  o.discovery_interval = absl::Milliseconds(20);
  WorkerPool pool(o, nullptr);
  pool.StartBackgroundRefresh();  // No RefreshAll: the threads do it all.
  ASSERT_TRUE(Eventually([&] { return RouteOf(pool, "m").size() == 1; }));
  resolver->Set({b.address()});
  ASSERT_TRUE(Eventually([&] {
    const std::vector<WorkerSnapshot> s = pool.Snapshot();
    return s.size() == 1 && s[0].address == b.address() && s[0].healthy;
  }));
  EXPECT_EQ(RouteOf(pool, "m"), (std::vector<int>{1}));
  EXPECT_TRUE(pool.Ready());
}

TEST(WorkerPoolTest, DnsNameLocalhostFindsTheWorker) {
  TestWorker w("m");
  w.Start();
  WorkerPool::Options o = FastOptions();
  o.models = {{.name = "m", .dns = absl::StrCat("localhost:", w.port())}};
  WorkerPool pool(o, nullptr);
  pool.RefreshAll();
  // localhost may also resolve to ::1, where nothing listens: that worker is
  // ejected, 127.0.0.1 serves.
  std::set<std::string> healthy;
  for (const WorkerSnapshot& s : pool.Snapshot()) {
    if (s.healthy) healthy.insert(s.address);
  }
  EXPECT_EQ(healthy, (std::set<std::string>{w.address()}));
  EXPECT_TRUE(pool.Ready());
}

TEST(WorkerPoolTest, FromConfigBuildsPoolsAndPolicies) {
  TestWorker a("model-a");
  RouterConfig config;
  config.policy = "least_load";
  config.models = {
      {.name = "model-a", .workers = {a.Start()}, .policy = "prefix_aware"},
      {.name = "model-b", .workers = {DeadAddress()}}};
  auto pool = WorkerPool::FromConfig(config);
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_EQ((*pool)->PolicyName("model-a"), "prefix_aware");
  EXPECT_EQ((*pool)->PolicyName("model-b"), "least_load");
  EXPECT_EQ((*pool)->PolicyName("legacy"), "least_load");
  (*pool)->RefreshAll();
  EXPECT_EQ(RouteOf(**pool, "model-a"), (std::vector<int>{0}));
  config.policy = "bogus";
  EXPECT_FALSE(WorkerPool::FromConfig(config).ok());
}

TEST(WorkerPoolTest, PrefixAwarePoolKeepsAPromptOnItsWorker) {
  TestWorker a("m"), b("m");
  WorkerPool::Options o = FastOptions();
  o.models = {
      {.name = "m",
       .addresses = {a.Start(), b.Start()},
       .policy = std::make_shared<PrefixAwarePolicy>(PrefixAwareConfig{})}};
  WorkerPool pool(o, nullptr);
  pool.RefreshAll();
  const std::vector<int> route = RouteOf(pool, "m");
  ASSERT_EQ(route.size(), 2u);
  std::vector<int32_t> prompt(40);
  for (int i = 0; i < 40; ++i) prompt[i] = 100 + i;
  const std::optional<int> first = pool.PickWorker({"m", prompt}, route, {});
  ASSERT_TRUE(first.has_value());
  for (int i = 0; i < 6; ++i) {
    prompt.push_back(7 + i);  // Same prefix (block size 4), new tail.
    EXPECT_EQ(pool.PickWorker({"m", prompt}, route, {}), first);
  }
}

}  // namespace
}  // namespace infernum::router
