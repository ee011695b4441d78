// Router behaviour that depends on the set of workers: none configured,
// unreachable at start then coming up, retries around a failing worker,
// round-robin placement, and the request deadline.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "router/server/fake_worker.h"
#include "router/server/router_harness.h"

namespace infernum::router::testing {
namespace {

using nlohmann::json;

const json kCompletion = {
    {"model", "stories260K"}, {"prompt", "Once"}, {"max_tokens", 2}};

// A localhost port that was free a moment ago.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

FakeWorker::Script Tokens(std::vector<int32_t> ids) {
  return [ids](const v1::GenerateRequest&, FakeStream& s) {
    s.SendAll(ids);
    return grpc::Status::OK;
  };
}

TEST(RouterPoolTest, NoWorkerMeans503Everywhere) {
  RouterHarness router({});
  auto health = router.Client()->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  EXPECT_EQ(json::parse(health->body)["status"], "unavailable");
  auto res = router.PostJson("/v1/completions", kCompletion.dump());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(json::parse(res->body)["error"]["type"], "service_unavailable");
  auto models = router.Client()->Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_TRUE(json::parse(models->body)["data"].empty());
}

TEST(RouterPoolTest, WorkerUnreachableAtStartIsPickedUpLater) {
  const int port = FreePort();
  RouterHarness router({.workers = {absl::StrCat("127.0.0.1:", port)}});
  auto res = router.PostJson("/v1/completions", kCompletion.dump());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  FakeWorker worker(Stories260KInfo());
  worker.SetScript(Tokens({400, 401, 402}));
  worker.Start(port);
  ASSERT_TRUE(router.WaitHealthy(1, absl::Seconds(30)));
  res = router.PostJson("/v1/completions", kCompletion.dump());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  // The worker goes away: requests get 503 again, never hang.
  worker.Shutdown();
  res = router.PostJson("/v1/completions", kCompletion.dump());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503) << res->body;
}

TEST(RouterPoolTest, RetriesAroundAnUnavailableWorker) {
  FakeWorker good(Stories260KInfo()), bad(Stories260KInfo());
  good.SetScript(Tokens({400, 401}));
  bad.SetScript([](const v1::GenerateRequest&, FakeStream&) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "draining");
  });
  RouterHarness router({.workers = {bad.Start(), good.Start()},
                        .refresh_interval = absl::Seconds(60)});
  ASSERT_TRUE(router.WaitHealthy(2, absl::Seconds(30)));
  for (int i = 0; i < 4; ++i) {
    auto res = router.PostJson("/v1/completions", kCompletion.dump());
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
  }
  EXPECT_EQ(good.requests().size(), 4u);
  // The failing worker was tried at most once: then marked down.
  EXPECT_LE(bad.requests().size(), 1u);
}

TEST(RouterPoolTest, RoundRobinAcrossHealthyWorkers) {
  FakeWorker a(Stories260KInfo()), b(Stories260KInfo());
  a.SetScript(Tokens({400}));
  b.SetScript(Tokens({401}));
  RouterHarness router({.workers = {a.Start(), b.Start()}});
  ASSERT_TRUE(router.WaitHealthy(2, absl::Seconds(30)));
  for (int i = 0; i < 6; ++i) {
    auto res = router.PostJson("/v1/completions", kCompletion.dump());
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
  }
  EXPECT_EQ(a.requests().size(), 3u);
  EXPECT_EQ(b.requests().size(), 3u);
  // n = 2 spreads the two choices over both workers.
  json body = kCompletion;
  body["n"] = 2;
  auto res = router.PostJson("/v1/completions", body.dump());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(a.requests().size(), 4u);
  EXPECT_EQ(b.requests().size(), 4u);
}

TEST(RouterPoolTest, DeadlineGives504AndCancelsTheStream) {
  FakeWorker worker(Stories260KInfo());
  worker.SetScript([](const v1::GenerateRequest&, FakeStream& s) {
    s.WaitUntilCancelled(absl::Seconds(60));
    return grpc::Status::OK;
  });
  RouterHarness router(
      {.workers = {worker.Start()}, .request_timeout = absl::Seconds(1)});
  ASSERT_TRUE(router.WaitHealthy(1, absl::Seconds(30)));
  auto res = router.PostJson("/v1/completions", kCompletion.dump());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 504) << res->body;
  EXPECT_TRUE(worker.WaitForCancelled(1, absl::Seconds(30)));
}

}  // namespace
}  // namespace infernum::router::testing
