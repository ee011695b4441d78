#include "router/server/config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/config.h"
#include "common/testing.h"

namespace infernum::router {
namespace {

TEST(ConfigTest, ParsesHostPortForms) {
  auto hp = ParseHostPort("127.0.0.1:8080");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, 8080);
  hp = ParseHostPort("[::1]:9");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "::1");
  hp = ParseHostPort(":7");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "0.0.0.0");
  for (const char* bad : {"localhost", "h:abc", "h:70000", "h:-1", "::1:80"}) {
    EXPECT_FALSE(ParseHostPort(bad).ok()) << bad;
  }
}

TEST(ConfigTest, FileThenFlagOverrides) {
  const std::string path = ::infernum::testing::TempDir() + "/router.yaml";
  {
    std::ofstream out(path);
    out << "listen: 127.0.0.1:9000\n"
           "workers: [a:1, b:2]\n"
           "max_body_bytes: 1000\n"
           "max_tokens_cap: 64\n"
           "request_timeout_s: 30\n"
           "http_threads: 8\n"
           "system_fingerprint: fp_x\n";
  }
  auto c = LoadRouterConfig(
      {"--config", path, "--workers", "c:3, d:4", "--max-body-bytes=2000"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen.host, "127.0.0.1");
  EXPECT_EQ(c->listen.port, 9000);
  EXPECT_EQ(c->workers, (std::vector<std::string>{"c:3", "d:4"}));
  EXPECT_EQ(c->max_body_bytes, 2000);
  EXPECT_EQ(c->max_tokens_cap, 64);
  EXPECT_DOUBLE_EQ(c->request_timeout_s, 30);
  EXPECT_EQ(c->http_threads, 8);
  EXPECT_EQ(c->system_fingerprint, "fp_x");
}

TEST(ConfigTest, DefaultsWithoutFile) {
  auto c = LoadRouterConfig({});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->listen.port, 8000);
  EXPECT_EQ(c->max_body_bytes, 4 << 20);
  EXPECT_TRUE(c->workers.empty());
}

TEST(ConfigTest, RejectsBadSettings) {
  auto root = ParseYaml("listen: 1.2.3.4:80\nworkerz: [a:1]\n");
  ASSERT_TRUE(root.ok());
  RouterConfig c;
  EXPECT_FALSE(ApplyYaml(*root, &c).ok());  // Typo in a key.
  root = ParseYaml("max_body_bytes: lots\n");
  ASSERT_TRUE(root.ok());
  EXPECT_FALSE(ApplyYaml(*root, &c).ok());
  EXPECT_FALSE(LoadRouterConfig({"--max-body-bytes", "0"}).ok());
  EXPECT_FALSE(LoadRouterConfig({"--workers", "nohost"}).ok());
  EXPECT_FALSE(LoadRouterConfig({"--request-timeout-s", "-1"}).ok());
  EXPECT_FALSE(LoadRouterConfig({"--bogus"}).ok());
  EXPECT_FALSE(LoadRouterConfig({"--config", "/nonexistent.yaml"}).ok());
}

TEST(ConfigTest, NewScalarDefaultsMatchContract) {
  auto c = LoadRouterConfig({});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->policy, "round_robin");
  EXPECT_DOUBLE_EQ(c->discovery_interval_s, 10);
  EXPECT_DOUBLE_EQ(c->eject_backoff_initial_s, 1);
  EXPECT_DOUBLE_EQ(c->eject_backoff_max_s, 30);
  EXPECT_DOUBLE_EQ(c->stall_timeout_s, 30);
  EXPECT_EQ(c->max_migrations, 3);
  EXPECT_EQ(c->max_concurrent_requests, 0);
  EXPECT_EQ(c->max_queued_requests, 0);
  EXPECT_DOUBLE_EQ(c->queue_timeout_s, 30);
  EXPECT_TRUE(c->api_keys.empty());
  EXPECT_EQ(c->api_key_env, "INFERNUM_API_KEYS");
  EXPECT_FALSE(c->metrics_require_auth);
  EXPECT_DOUBLE_EQ(c->shutdown_grace_s, 30);
  EXPECT_TRUE(c->access_log);
  EXPECT_TRUE(c->models.empty());
}

TEST(ConfigTest, ParsesEveryContractKeyFromYaml) {
  auto root = ParseYaml(
      "workers: [w:1]\n"
      "models:\n"
      "  - name: llama\n"
      "    workers: [a:50051, b:50051]\n"
      "    dns: llama.svc:50051\n"
      "    policy: prefix_aware\n"
      "    max_concurrent: 7\n"
      "    prefix_aware:\n"
      "      balance_abs_threshold: 4\n"
      "      balance_rel_threshold: 2.5\n"
      "      max_blocks_per_worker: 128\n"
      "  - name: qwen\n"
      "    dns: qwen.svc:9\n"
      "policy: least_load\n"
      "discovery_interval_s: 2\n"
      "eject_backoff_initial_s: 0.5\n"
      "eject_backoff_max_s: 8\n"
      "stall_timeout_s: 12\n"
      "max_migrations: 5\n"
      "max_concurrent_requests: 100\n"
      "max_queued_requests: 10\n"
      "queue_timeout_s: 3\n"
      "api_keys: [sk-a, sk-b]\n"
      "api_key_env: MY_KEYS\n"
      "metrics_require_auth: true\n"
      "shutdown_grace_s: 0\n"
      "access_log: false\n");
  ASSERT_TRUE(root.ok()) << root.status();
  RouterConfig c;
  ASSERT_TRUE(ApplyYaml(*root, &c).ok());
  ASSERT_TRUE(ValidateRouterConfig(c).ok()) << ValidateRouterConfig(c);
  ASSERT_EQ(c.models.size(), 2u);
  const ModelPoolConfig& m = c.models[0];
  EXPECT_EQ(m.name, "llama");
  EXPECT_EQ(m.workers, (std::vector<std::string>{"a:50051", "b:50051"}));
  EXPECT_EQ(m.dns, "llama.svc:50051");
  EXPECT_EQ(m.policy, "prefix_aware");
  EXPECT_EQ(m.max_concurrent, 7);
  EXPECT_DOUBLE_EQ(m.prefix_aware.balance_abs_threshold, 4);
  EXPECT_DOUBLE_EQ(m.prefix_aware.balance_rel_threshold, 2.5);
  EXPECT_EQ(m.prefix_aware.max_blocks_per_worker, 128);
  // Unset model fields keep their defaults; policy falls back to the top.
  EXPECT_EQ(c.models[1].max_concurrent, 0);
  EXPECT_EQ(c.models[1].prefix_aware.max_blocks_per_worker, 65536);
  EXPECT_EQ(EffectivePolicy(c, &c.models[0]), "prefix_aware");
  EXPECT_EQ(EffectivePolicy(c, &c.models[1]), "least_load");
  EXPECT_EQ(EffectivePolicy(c, nullptr), "least_load");
  EXPECT_DOUBLE_EQ(c.discovery_interval_s, 2);
  EXPECT_DOUBLE_EQ(c.eject_backoff_initial_s, 0.5);
  EXPECT_DOUBLE_EQ(c.eject_backoff_max_s, 8);
  EXPECT_DOUBLE_EQ(c.stall_timeout_s, 12);
  EXPECT_EQ(c.max_migrations, 5);
  EXPECT_EQ(c.max_concurrent_requests, 100);
  EXPECT_EQ(c.max_queued_requests, 10);
  EXPECT_DOUBLE_EQ(c.queue_timeout_s, 3);
  EXPECT_EQ(c.api_keys, (std::vector<std::string>{"sk-a", "sk-b"}));
  EXPECT_EQ(c.api_key_env, "MY_KEYS");
  EXPECT_TRUE(c.metrics_require_auth);
  EXPECT_DOUBLE_EQ(c.shutdown_grace_s, 0);
  EXPECT_FALSE(c.access_log);
}

TEST(ConfigTest, NewFlagsOverride) {
  auto c = LoadRouterConfig({"--policy",
                             "prefix_aware",
                             "--stall-timeout-s",
                             "7",
                             "--max-migrations",
                             "0",
                             "--api-keys",
                             "k1, k2",
                             "--no-access-log",
                             "--metrics-require-auth",
                             "--max-concurrent-requests=4",
                             "--max-queued-requests",
                             "2",
                             "--queue-timeout-s",
                             "1.5",
                             "--shutdown-grace-s",
                             "9",
                             "--discovery-interval-s",
                             "3",
                             "--eject-backoff-initial-s",
                             "2",
                             "--eject-backoff-max-s",
                             "4",
                             "--api-key-env",
                             "K"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->policy, "prefix_aware");
  EXPECT_DOUBLE_EQ(c->stall_timeout_s, 7);
  EXPECT_EQ(c->max_migrations, 0);
  EXPECT_EQ(c->api_keys, (std::vector<std::string>{"k1", "k2"}));
  EXPECT_FALSE(c->access_log);
  EXPECT_TRUE(c->metrics_require_auth);
  EXPECT_EQ(c->max_concurrent_requests, 4);
  EXPECT_EQ(c->max_queued_requests, 2);
  EXPECT_DOUBLE_EQ(c->queue_timeout_s, 1.5);
  EXPECT_DOUBLE_EQ(c->shutdown_grace_s, 9);
  EXPECT_DOUBLE_EQ(c->discovery_interval_s, 3);
  EXPECT_DOUBLE_EQ(c->eject_backoff_initial_s, 2);
  EXPECT_DOUBLE_EQ(c->eject_backoff_max_s, 4);
  EXPECT_EQ(c->api_key_env, "K");
}

TEST(ConfigTest, RejectsBadNewSettings) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"--policy", "random"},
           {"--stall-timeout-s", "0"},
           {"--queue-timeout-s", "-1"},
           {"--shutdown-grace-s", "-1"},
           {"--max-migrations", "-1"},
           {"--max-concurrent-requests", "-1"},
           {"--max-queued-requests", "-2"},
           {"--eject-backoff-initial-s", "10", "--eject-backoff-max-s", "5"},
           {"--discovery-interval-s", "0"}}) {
    EXPECT_FALSE(LoadRouterConfig(args).ok()) << args[0];
  }
  const char* bad_yaml[] = {
      "models: {name: x}\n",                            // Not a list.
      "models: [{name: x, workers: [a:1], wat: 1}]\n",  // Unknown model key.
      "models: [{name: x, workers: [a:1], prefix_aware: {foo: 1}}]\n",
      "models: [{name: x, workers: [a:1], max_concurrent: many}]\n",
      "models: [x]\n",
  };
  for (const char* text : bad_yaml) {
    auto root = ParseYaml(text);
    ASSERT_TRUE(root.ok()) << text;
    RouterConfig c;
    EXPECT_FALSE(ApplyYaml(*root, &c).ok()) << text;
  }
  const char* invalid[] = {
      "models: [{workers: [a:1]}]\n",  // No name.
      "models: [{name: x}]\n",         // No targets.
      "models: [{name: x, workers: [a:1]}, {name: x, dns: b:2}]\n",
      "models: [{name: x, workers: [a]}]\n",  // No port.
      "models: [{name: x, dns: svc}]\n",      // No port.
      "models: [{name: x, dns: svc:0}]\n",
      "models: [{name: x, workers: [a:1], policy: fastest}]\n",
      "models: [{name: x, workers: [a:1], max_concurrent: -1}]\n",
      "models: [{name: x, workers: [a:1], "
      "prefix_aware: {balance_rel_threshold: 0.5}}]\n",
      "models: [{name: x, workers: [a:1], "
      "prefix_aware: {max_blocks_per_worker: 0}}]\n",
  };
  for (const char* text : invalid) {
    auto root = ParseYaml(text);
    ASSERT_TRUE(root.ok()) << text;
    RouterConfig c;
    ASSERT_TRUE(ApplyYaml(*root, &c).ok()) << text;
    EXPECT_FALSE(ValidateRouterConfig(c).ok()) << text;
  }
}

TEST(ConfigTest, MergesApiKeysWithEnvironmentValue) {
  RouterConfig c;
  EXPECT_TRUE(MergeApiKeys(c, nullptr).empty());
  EXPECT_TRUE(MergeApiKeys(c, " , ").empty());
  c.api_keys = {"a", "b"};
  EXPECT_EQ(MergeApiKeys(c, "b, c,,d"),
            (std::vector<std::string>{"a", "b", "c", "d"}));
  c.api_keys.clear();
  EXPECT_EQ(MergeApiKeys(c, "x"), (std::vector<std::string>{"x"}));
}

}  // namespace
}  // namespace infernum::router
