#include "common/config.h"

#include <gtest/gtest.h>

namespace infernum {
namespace {

TEST(ConfigTest, TypedGetters) {
  auto node = ParseYaml(
      "model: /m\nthreads: 4\nratio: 0.9\nflag: true\nworkers: [a, b]\n");
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ(*GetString(*node, "model", ""), "/m");
  EXPECT_EQ(*GetInt(*node, "threads", 1), 4);
  EXPECT_EQ(*GetInt(*node, "missing", 7), 7);
  EXPECT_DOUBLE_EQ(*GetDouble(*node, "ratio", 0), 0.9);
  EXPECT_TRUE(*GetBool(*node, "flag", false));
  EXPECT_EQ(GetStringList(*node, "workers")->size(), 2u);
}

TEST(ConfigTest, BadTypesAndSyntaxAreErrors) {
  auto node = ParseYaml("threads: many\n");
  ASSERT_TRUE(node.ok());
  auto threads = GetInt(*node, "threads", 1);
  EXPECT_FALSE(threads.ok());
  EXPECT_NE(threads.status().message().find("threads"), std::string::npos);
  EXPECT_FALSE(ParseYaml("a: [1, 2\n").ok());
  EXPECT_FALSE(ParseYaml("- 1\n- 2\n").ok());
  EXPECT_EQ(LoadYamlFile("/nonexistent.yaml").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace infernum
