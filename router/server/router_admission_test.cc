// End-to-end tests of admission (429 + Retry-After, queueing, slots freed
// by disconnects), graceful shutdown and many concurrent streams.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "router/server/router_front_fixture.h"

namespace infernum::router::testing {
namespace {

using nlohmann::json;

// Sends a request on a new connection from another thread.
std::future<httplib::Result> PostAsync(RouterHarness& router, json body) {
  return std::async(std::launch::async, [&router, body] {
    return router.PostJson("/v1/completions", body.dump());
  });
}

void ExpectRateLimited(const httplib::Result& res) {
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 429) << res->body;
  const json j = json::parse(res->body, nullptr, false);
  EXPECT_EQ(j["error"]["type"], "rate_limit_error") << res->body;
  ASSERT_TRUE(res->has_header("Retry-After"));
  EXPECT_GE(std::stoi(res->get_header_value("Retry-After")), 1);
}

// Complete SSE stream: ends with [DONE], no error event.
void ExpectCompleteStream(const httplib::Result& res) {
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const std::vector<std::string> events = SseEvents(res->body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  for (const std::string& e : events) {
    EXPECT_EQ(e.find("\"error\""), std::string::npos) << e;
  }
}

TEST_F(FrontTest, RouterWideLimitAnswers429) {
  Valve valve;
  worker_->SetScript(valve.Script());
  StartRouter(
      {.configure = [](RouterConfig& c) { c.max_concurrent_requests = 1; }});
  auto first = PostAsync(*router_, Completion(true));
  ASSERT_TRUE(valve.WaitArrivals(1));
  ExpectRateLimited(router_->PostJson("/v1/completions", Completion().dump()));
  // Other routes are not limited.
  EXPECT_EQ(router_->Client()->Get("/v1/models")->status, 200);
  valve.Open();
  ExpectCompleteStream(first.get());
  // The slot is free again.
  EXPECT_EQ(router_->PostJson("/v1/completions", Completion().dump())->status,
            200);
  EXPECT_EQ(router_->app().admission().num_active(), 0);
}

TEST_F(FrontTest, QueueAdmitsInTurnThenRefuses) {
  Valve valve;
  worker_->SetScript(valve.Script());
  StartRouter({.configure = [](RouterConfig& c) {
    c.max_concurrent_requests = 1;
    c.max_queued_requests = 1;
    c.queue_timeout_s = 600;
  }});
  Admission& admission = router_->app().admission();
  auto first = PostAsync(*router_, Completion(false));
  ASSERT_TRUE(valve.WaitArrivals(1));
  auto queued = PostAsync(*router_, Completion(true));
  ASSERT_TRUE(Eventually([&] { return admission.num_queued() == 1; }));
  EXPECT_EQ(valve.arrivals(), 1);  // The queued one has not reached it.
  ExpectRateLimited(router_->PostJson("/v1/completions", Completion().dump()));
  valve.Open();
  auto r1 = first.get();
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->status, 200);
  ExpectCompleteStream(queued.get());
  EXPECT_EQ(valve.arrivals(), 2);
}

TEST_F(FrontTest, QueueTimeoutAnswers429) {
  Valve valve;
  worker_->SetScript(valve.Script());
  StartRouter({.configure = [](RouterConfig& c) {
    c.max_concurrent_requests = 1;
    c.max_queued_requests = 4;
    c.queue_timeout_s = 0.05;
  }});
  auto first = PostAsync(*router_, Completion(false));
  ASSERT_TRUE(valve.WaitArrivals(1));
  ExpectRateLimited(router_->PostJson("/v1/completions", Completion().dump()));
  valve.Open();
  EXPECT_EQ(first.get()->status, 200);
}

TEST_F(FrontTest, PerModelLimit) {
  Valve valve;
  worker_->SetScript(valve.Script());
  StartRouter({.configure = [this](RouterConfig& c) {
    c.workers.clear();
    c.models = {
        {.name = "stories260K", .workers = {address_}, .max_concurrent = 2}};
  }});
  auto a = PostAsync(*router_, Completion(true));
  auto b = PostAsync(*router_, Completion(false));
  ASSERT_TRUE(valve.WaitArrivals(2));
  ExpectRateLimited(router_->PostJson("/v1/completions", Completion().dump()));
  valve.Open();
  ExpectCompleteStream(a.get());
  EXPECT_EQ(b.get()->status, 200);
}

TEST_F(FrontTest, ClientDisconnectFreesTheSlot) {
  Valve valve(/*tokens_before_hold=*/1);  // Streaming starts, then holds.
  worker_->SetScript(valve.Script());
  StartRouter(
      {.configure = [](RouterConfig& c) { c.max_concurrent_requests = 1; }});
  const std::string body = Completion(true).dump();
  const int fd = ConnectLocal(router_->port());
  ASSERT_GE(fd, 0);
  const std::string request =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  ASSERT_TRUE(valve.WaitArrivals(1));
  char buf[256];
  ASSERT_GT(recv(fd, buf, sizeof(buf), 0), 0);  // The stream has started.
  EXPECT_EQ(router_->app().admission().num_active(), 1);
  close(fd);  // The client leaves mid-stream.
  EXPECT_TRUE(worker_->WaitForCancelled(1, absl::Seconds(30)));
  EXPECT_TRUE(
      Eventually([&] { return router_->app().admission().num_active() == 0; }));
  valve.Open();
  EXPECT_EQ(router_->PostJson("/v1/completions", Completion().dump())->status,
            200);
}

TEST_F(FrontTest, ShutdownLetsOpenStreamsFinish) {
  Valve valve(/*tokens_before_hold=*/1);
  worker_->SetScript(valve.Script());
  StartRouter();
  // A keep-alive connection opened before the shutdown.
  auto kept = router_->Client();
  kept->set_keep_alive(true);
  ASSERT_EQ(kept->Get("/live")->status, 200);
  auto open_stream = PostAsync(*router_, Completion(true));
  ASSERT_TRUE(valve.WaitArrivals(1));

  std::thread shutdown([&] { router_->Shutdown(absl::Seconds(60)); });
  ASSERT_TRUE(Eventually([&] { return router_->app().server().draining(); }));
  // New requests on the open connection: 503; /ready: 503; /live: 200.
  auto refused =
      kept->Post("/v1/completions", Completion().dump(), "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  // No new connections.
  EXPECT_TRUE(Eventually([&] {
    const int fd = ConnectLocal(router_->port());
    if (fd >= 0) close(fd);
    return fd < 0;
  }));
  EXPECT_EQ(router_->app().server().num_active_requests(), 1);
  valve.Open();
  ExpectCompleteStream(open_stream.get());
  shutdown.join();
  EXPECT_EQ(worker_->num_cancelled(), 0);
}

TEST_F(FrontTest, ShutdownCancelsStreamsPastTheGrace) {
  Valve valve(/*tokens_before_hold=*/1);  // Never opened.
  worker_->SetScript(valve.Script());
  StartRouter();
  auto open_stream = PostAsync(*router_, Completion(true));
  ASSERT_TRUE(valve.WaitArrivals(1));
  router_->Shutdown(absl::Milliseconds(50));
  EXPECT_TRUE(worker_->WaitForCancelled(1, absl::Seconds(30)));
  auto res = open_stream.get();
  // The stream was cut: it never got its [DONE].
  if (res) {
    const std::vector<std::string> events = SseEvents(res->body);
    EXPECT_TRUE(events.empty() || events.back() != "[DONE]");
  }
}

// More concurrent streams than the router keeps threads for: every one is
// served at once (they only finish once all have reached the worker).
TEST_F(FrontTest, ManyConcurrentStreams) {
  constexpr int kStreams = 96;
  Valve valve;
  worker_->SetScript(valve.Script());
  StartRouter({.http_threads = 512});
  std::vector<std::future<httplib::Result>> streams;
  for (int i = 0; i < kStreams; ++i) {
    streams.push_back(PostAsync(*router_, Completion(true)));
  }
  ASSERT_TRUE(valve.WaitArrivals(kStreams));
  valve.Open();
  for (auto& f : streams) ExpectCompleteStream(f.get());
}

}  // namespace
}  // namespace infernum::router::testing
