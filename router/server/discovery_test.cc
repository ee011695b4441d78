#include "router/server/discovery.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "absl/strings/match.h"

namespace infernum::router {
namespace {

TEST(SystemResolverTest, LocalhostResolvesToLoopbackTargets) {
  SystemResolver resolver;
  auto targets = resolver.Resolve("localhost:4321");
  ASSERT_TRUE(targets.ok()) << targets.status();
  ASSERT_FALSE(targets->empty());
  for (const std::string& t : *targets) {
    EXPECT_TRUE(t == "127.0.0.1:4321" || t == "[::1]:4321") << t;
  }
  EXPECT_TRUE(std::is_sorted(targets->begin(), targets->end()));
  EXPECT_EQ(std::adjacent_find(targets->begin(), targets->end()),
            targets->end());
}

TEST(SystemResolverTest, LiteralAddressesResolveToThemselves) {
  SystemResolver resolver;
  auto v4 = resolver.Resolve("127.0.0.1:80");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(*v4, (std::vector<std::string>{"127.0.0.1:80"}));
  auto v6 = resolver.Resolve("[::1]:81");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(*v6, (std::vector<std::string>{"[::1]:81"}));
}

TEST(SystemResolverTest, BadTargetsAreErrors) {
  SystemResolver resolver;
  EXPECT_EQ(resolver.Resolve("no-port").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto missing = resolver.Resolve("no-such-host.invalid:1");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "no-such-host"));
}

TEST(DiffTargetsTest, AddedAndRemoved) {
  const TargetDiff d =
      DiffTargets({"b:1", "a:1", "c:1"}, {"d:1", "a:1", "b:1"});
  EXPECT_EQ(d.added, (std::vector<std::string>{"d:1"}));
  EXPECT_EQ(d.removed, (std::vector<std::string>{"c:1"}));
  const TargetDiff same = DiffTargets({"a:1"}, {"a:1", "a:1"});
  EXPECT_TRUE(same.added.empty());
  EXPECT_TRUE(same.removed.empty());
}

}  // namespace
}  // namespace infernum::router
