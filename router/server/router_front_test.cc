// End-to-end tests of the router front end through real HTTP: API keys on
// every route, request ids, access log lines, probes, /metrics.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/metrics.h"
#include "common/testing.h"
#include "router/server/router_front_fixture.h"

namespace infernum::router::testing {
namespace {

using nlohmann::json;

struct RouteCase {
  std::string method;
  std::string path;
  bool needs_key;       // With keys configured (metrics_require_auth off).
  int status_with_key;  // The answer once authenticated.
};

// Every route and method the router answers (see http_server.h).
std::vector<RouteCase> AllRoutes() {
  return {
      {"POST", "/v1/chat/completions", true, 200},
      {"POST", "/v1/completions", true, 200},
      {"GET", "/v1/models", true, 200},
      {"GET", "/v1/chat/completions", true, 405},
      {"GET", "/v1/completions", true, 405},
      {"POST", "/v1/models", true, 405},
      {"GET", "/metrics", false, 200},
      {"POST", "/metrics", false, 405},
      {"GET", "/health", false, 200},
      {"GET", "/live", false, 200},
      {"GET", "/ready", false, 200},
      {"POST", "/health", false, 405},
      {"POST", "/live", false, 405},
      {"POST", "/ready", false, 405},
  };
}

httplib::Result Call(RouterHarness& router, const RouteCase& route,
                     const std::string& authorization) {
  httplib::Headers headers;
  if (!authorization.empty()) headers.emplace("Authorization", authorization);
  auto client = router.Client();
  if (route.method == "GET") return client->Get(route.path.c_str(), headers);
  const json body =
      route.path == "/v1/chat/completions"
          ? json{{"model", "stories260K"},
                 {"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                 {"max_tokens", 4}}
          : json{{"model", "stories260K"},
                 {"prompt", "Once"},
                 {"max_tokens", 4}};
  return client->Post(route.path.c_str(), headers, body.dump(),
                      "application/json");
}

void ExpectUnauthorized(const httplib::Result& res, const std::string& what) {
  ASSERT_TRUE(res) << what;
  EXPECT_EQ(res->status, 401) << what;
  const json j = json::parse(res->body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << what << ": " << res->body;
  EXPECT_EQ(j["error"]["type"], "invalid_request_error") << what;
  EXPECT_EQ(j["error"]["code"], "invalid_api_key") << what;
  EXPECT_TRUE(j["error"]["param"].is_null()) << what;
  EXPECT_TRUE(j["error"]["message"].is_string()) << what;
  EXPECT_FALSE(res->get_header_value("x-request-id").empty()) << what;
}

void RunAuthTable(RouterHarness& router, bool metrics_require_auth) {
  const std::vector<std::string> wrong = {
      "",          "Bearer sk-wrong", "Bearer sk-test-1x", "Basic sk-test-1",
      "sk-test-1", "Bearer"};
  const std::vector<std::string> right = {"Bearer sk-test-1",
                                          "bearer sk-env-2"};
  for (const RouteCase& route : AllRoutes()) {
    const bool needs_key =
        route.needs_key || (metrics_require_auth && route.path == "/metrics");
    const std::string name = route.method + " " + route.path;
    for (const std::string& auth : wrong) {
      httplib::Result res = Call(router, route, auth);
      const std::string what = name + " with '" + auth + "'";
      if (needs_key) {
        ExpectUnauthorized(res, what);
      } else {
        ASSERT_TRUE(res) << what;
        EXPECT_EQ(res->status, route.status_with_key) << what;
      }
    }
    for (const std::string& auth : right) {
      httplib::Result res = Call(router, route, auth);
      ASSERT_TRUE(res) << name;
      EXPECT_EQ(res->status, route.status_with_key) << name << " " << res->body;
    }
  }
}

TEST_F(FrontTest, ApiKeysGuardEveryRoute) {
  StartRouter({.configure = [](RouterConfig& c) { c.api_keys = {"sk-test-1"}; },
               .api_key_env_value = "sk-env-2, sk-env-3"});
  RunAuthTable(*router_, /*metrics_require_auth=*/false);
  // Unknown paths are 404 whatever the key.
  auto res = router_->Client()->Get("/v2/nothing");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

TEST_F(FrontTest, MetricsCanRequireTheKey) {
  StartRouter({.configure =
                   [](RouterConfig& c) {
                     c.api_keys = {"sk-test-1"};
                     c.metrics_require_auth = true;
                   },
               .api_key_env_value = "sk-env-2"});
  RunAuthTable(*router_, /*metrics_require_auth=*/true);
}

TEST_F(FrontTest, NoKeysMeansNoAuth) {
  StartRouter();
  for (const RouteCase& route : AllRoutes()) {
    httplib::Result res = Call(*router_, route, "");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, route.status_with_key) << route.path;
  }
}

TEST_F(FrontTest, RequestIdIsEchoedOrGenerated) {
  StartRouter();
  auto client = router_->Client();
  auto res = client->Get("/v1/models", {{"X-Request-Id", "trace-42.abc"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->get_header_value("x-request-id"), "trace-42.abc");
  // Unsafe characters are dropped; overlong ids are cut.
  res = client->Get("/v1/models", {{"x-request-id", "a b\"c"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->get_header_value("x-request-id"), "ab\"c");
  res = client->Get("/live", {{"x-request-id", std::string(500, 'z')}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->get_header_value("x-request-id"), std::string(128, 'z'));
  // Generated when absent: unique, on every kind of response.
  std::vector<std::string> ids;
  for (const char* path : {"/v1/models", "/v1/models", "/nowhere", "/ready"}) {
    res = client->Get(path);
    ASSERT_TRUE(res);
    ids.push_back(res->get_header_value("x-request-id"));
    EXPECT_EQ(ids.back().size(), 32u) << path;
  }
  EXPECT_NE(ids[0], ids[1]);
  res = router_->PostJson("/v1/completions", Completion(true).dump(),
                          {{"x-request-id", "stream-1"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("x-request-id"), "stream-1");
  // Errors from the HTTP library itself too (a malformed request line).
  const std::string raw =
      RawHttp(router_->port(), "BROKEN\r\n\r\n", /*close_early=*/false);
  EXPECT_NE(raw.find(" 400 "), std::string::npos) << raw;
  EXPECT_NE(raw.find("x-request-id: "), std::string::npos) << raw;
}

class AccessLogTest : public FrontTest {
 protected:
  void StartLogged() {
    StartRouter({.configure = [](RouterConfig& c) { c.api_keys = {"sk-1"}; },
                 .access_log_sink =
                     [this](std::string_view line) {
                       std::lock_guard<std::mutex> lock(mu_);
                       lines_.emplace_back(line);
                     }});
  }
  // The log line of request `id`, waiting for it (streams log at their end).
  json LineFor(const std::string& id) {
    json found;
    Eventually([&] {
      std::lock_guard<std::mutex> lock(mu_);
      for (const std::string& line : lines_) {
        json j = json::parse(line, nullptr, false);
        if (j.is_object() && j["request_id"] == id) found = j;
      }
      return !found.is_null();
    });
    return found;
  }
  size_t num_lines() {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_.size();
  }
  std::mutex mu_;
  std::vector<std::string> lines_;
};

TEST_F(AccessLogTest, OneJsonLinePerRequest) {
  StartLogged();
  const httplib::Headers key = {{"Authorization", "Bearer sk-1"}};
  auto with_id = [&](const std::string& id) {
    httplib::Headers h = key;
    h.emplace("x-request-id", id);
    return h;
  };
  ASSERT_EQ(router_
                ->PostJson("/v1/completions", Completion(false).dump(),
                           with_id("plain"))
                ->status,
            200);
  ASSERT_EQ(router_
                ->PostJson("/v1/completions", Completion(true).dump(),
                           with_id("streamed"))
                ->status,
            200);
  ASSERT_EQ(router_
                ->PostJson("/v1/completions", Completion(false).dump(),
                           {{"x-request-id", "nokey"}})
                ->status,
            401);
  json bad = Completion();
  bad["model"] = "nope";
  EXPECT_EQ(
      router_->PostJson("/v1/completions", bad.dump(), with_id("bad"))->status,
      404);

  json plain = LineFor("plain");
  ASSERT_TRUE(plain.is_object());
  EXPECT_EQ(plain["method"], "POST");
  EXPECT_EQ(plain["path"], "/v1/completions");
  EXPECT_EQ(plain["status"], 200);
  EXPECT_EQ(plain["model"], "stories260K");
  EXPECT_EQ(plain["stream"], false);
  EXPECT_GT(plain["prompt_tokens"].get<int>(), 0);
  // The worker streams kTokens and counts the stop token: max_tokens = 8
  // leaves them all.
  EXPECT_EQ(plain["completion_tokens"], static_cast<int>(kTokens.size()) + 1);
  EXPECT_GE(plain["latency_ms"].get<double>(), 0);
  EXPECT_FALSE(plain.contains("ttft_ms"));
  EXPECT_TRUE(plain["ts"].is_string());

  json streamed = LineFor("streamed");
  ASSERT_TRUE(streamed.is_object());
  EXPECT_EQ(streamed["status"], 200);
  EXPECT_EQ(streamed["stream"], true);
  ASSERT_TRUE(streamed.contains("ttft_ms"));
  EXPECT_LE(streamed["ttft_ms"].get<double>(),
            streamed["latency_ms"].get<double>());

  json nokey = LineFor("nokey");
  ASSERT_TRUE(nokey.is_object());
  EXPECT_EQ(nokey["status"], 401);
  EXPECT_EQ(nokey["model"], "");

  json unknown = LineFor("bad");
  ASSERT_TRUE(unknown.is_object());
  EXPECT_EQ(unknown["status"], 404);

  // Probes and scrapes are not logged.
  const size_t before = num_lines();
  for (const char* path : {"/live", "/ready", "/health", "/metrics"}) {
    ASSERT_TRUE(router_->Client()->Get(path, with_id("probe")));
  }
  ASSERT_TRUE(router_->Client()->Get("/v1/models", with_id("models")));
  ASSERT_TRUE(LineFor("models").is_object());
  EXPECT_EQ(num_lines(), before + 1);
}

TEST_F(FrontTest, ReadyFollowsTheWorkers) {
  // Reserve a port for a worker that is not up yet.
  int port = 0;
  {
    FakeWorker probe(Stories260KInfo());
    const std::string a = probe.Start();
    port = std::stoi(a.substr(a.rfind(':') + 1));
  }
  const std::string late_address = absl::StrCat("127.0.0.1:", port);
  router_ = std::make_unique<RouterHarness>(RouterHarness::Options{
      .workers = {late_address}, .configure = [](RouterConfig& c) {
        c.eject_backoff_initial_s = 0.05;
        c.eject_backoff_max_s = 0.1;
      }});
  auto status_of = [&](const char* path) {
    auto res = router_->Client()->Get(path);
    return res ? res->status : -1;
  };
  EXPECT_EQ(status_of("/live"), 200);
  EXPECT_EQ(status_of("/ready"), 503);
  auto res = router_->Client()->Get("/ready");
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body)["error"]["type"].is_string(), true);

  auto late = std::make_unique<FakeWorker>(Stories260KInfo());
  ASSERT_EQ(late->Start(port), late_address);
  EXPECT_TRUE(Eventually([&] { return status_of("/ready") == 200; }));
  late.reset();  // The worker goes away.
  EXPECT_TRUE(Eventually([&] { return status_of("/ready") == 503; }));
  EXPECT_EQ(status_of("/live"), 200);
}

TEST_F(FrontTest, ReadyNeedsEveryConfiguredModel) {
  StartRouter({.workers = {}, .configure = [this](RouterConfig& c) {
                 c.workers.clear();
                 c.models = {{.name = "stories260K", .workers = {address_}},
                             {.name = "other", .workers = {"127.0.0.1:1"}}};
               }});
  auto res = router_->Client()->Get("/ready");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  // The served model still works.
  EXPECT_EQ(router_->PostJson("/v1/completions", Completion().dump())->status,
            200);
}

// Parses the exposition text with Debian's prometheus_client and returns
// {"series": value} for every sample ("name{k=v,...}", labels sorted).
json ParseWithPrometheusClient(const std::string& text) {
  const std::string path =
      ::infernum::testing::TempDir() + "/router_metrics.txt";
  std::ofstream(path) << text;
  const std::string cmd =
      "/usr/bin/python3 -c '"
      "import json,sys\n"
      "from prometheus_client.parser import text_string_to_metric_families\n"
      "out={}\n"
      "for f in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
      "  for s in f.samples:\n"
      "    l=\",\".join(k+\"=\"+v for k,v in sorted(s.labels.items()))\n"
      "    out[s.name+\"{\"+l+\"}\"]=s.value\n"
      "print(json.dumps(out))' " +
      path;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return nullptr;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  if (pclose(pipe) != 0) return nullptr;
  return json::parse(out, nullptr, false);
}

TEST_F(FrontTest, MetricsParseAndMove) {
  StartRouter({.configure = [](RouterConfig& c) { c.api_keys = {"sk-1"}; }});
  const httplib::Headers key = {{"Authorization", "Bearer sk-1"}};
  ASSERT_EQ(router_->PostJson("/v1/completions", Completion(true).dump(), key)
                ->status,
            200);
  ASSERT_EQ(router_->PostJson("/v1/completions", Completion(false).dump(), key)
                ->status,
            200);
  ASSERT_EQ(router_->PostJson("/v1/completions", Completion().dump())->status,
            401);
  router_->app().counters().retries += 3;

  auto res = router_->Client()->Get("/metrics");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"),
            std::string(metrics::kContentType));
  const json s = ParseWithPrometheusClient(res->body);
  ASSERT_TRUE(s.is_object()) << res->body;
  const std::string ok =
      "infernum_router:requests_total{model=stories260K,policy=round_robin,"
      "status=200}";
  EXPECT_EQ(s.value(ok, -1.0), 2) << s.dump(1);
  EXPECT_EQ(s.value("infernum_router:requests_total{model=,policy=,"
                    "status=401}",
                    -1.0),
            1);
  EXPECT_EQ(
      s.value("infernum_router:rejected_requests_total{reason=auth}", -1.0), 1);
  const std::string w = "{model=stories260K,worker=" + address_ + "}";
  EXPECT_EQ(s.value("infernum_router:worker_healthy" + w, -1.0), 1);
  EXPECT_EQ(s.value("infernum_router:worker_in_flight" + w, -1.0), 0);
  EXPECT_EQ(s.value("infernum_router:retries_total{}", -1.0), 3);
  EXPECT_EQ(s.value("infernum_router:queued_requests{}", -1.0), 0);
  EXPECT_EQ(s.value("infernum_router:time_to_first_token_seconds_count{model="
                    "stories260K}",
                    -1.0),
            1);  // The streamed request only.
  EXPECT_EQ(s.value("infernum_router:inter_token_latency_seconds_count{model="
                    "stories260K}",
                    -1.0) > 0,
            true);
  EXPECT_EQ(s.value("infernum_router:e2e_request_latency_seconds_count{model="
                    "stories260K}",
                    -1.0),
            2);
}

TEST_F(FrontTest, ListenBacklogIsRaised) {
  StartRouter();
  int somaxconn = 4096;
  std::ifstream("/proc/sys/net/core/somaxconn") >> somaxconn;
  EXPECT_EQ(router_->app().server().ListenBacklog(), std::min(4096, somaxconn));
}

}  // namespace
}  // namespace infernum::router::testing
