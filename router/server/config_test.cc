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

}  // namespace
}  // namespace infernum::router
