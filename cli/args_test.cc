#include "cli/args.h"

#include <gtest/gtest.h>

namespace infernum::cli {
namespace {

const std::vector<FlagSpec> kSpecs = {
    {"model", FlagType::kString, "model dir"},
    {"max-tokens", FlagType::kInt, "n"},
    {"temperature", FlagType::kFloat, "t"},
    {"add-special-tokens", FlagType::kBool, "b"},
    {"input", FlagType::kString, "file", "i"},
};

TEST(ArgsTest, ParsesAllForms) {
  auto a = ParseArgs({"--model", "/m", "--max-tokens=5", "--temperature", "0.5",
                      "--no-add-special-tokens", "-i", "p.txt", "pos"},
                     kSpecs);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->GetString("model", ""), "/m");
  EXPECT_EQ(a->GetInt("max-tokens", 0), 5);
  EXPECT_DOUBLE_EQ(a->GetFloat("temperature", 1), 0.5);
  EXPECT_FALSE(a->GetBool("add-special-tokens", true));
  EXPECT_EQ(a->GetString("input", ""), "p.txt");
  ASSERT_EQ(a->positional().size(), 1u);
  EXPECT_TRUE(ParseArgs({"--add-special-tokens=false"}, kSpecs)
                  ->Has("add-special-tokens"));
}

TEST(ArgsTest, RejectsBadInput) {
  EXPECT_FALSE(ParseArgs({"--bogus"}, kSpecs).ok());
  EXPECT_FALSE(ParseArgs({"--max-tokens", "ten"}, kSpecs).ok());
  EXPECT_FALSE(ParseArgs({"--max-tokens"}, kSpecs).ok());
  EXPECT_FALSE(ParseArgs({"--temperature=nan"}, kSpecs).ok());
  EXPECT_FALSE(ParseArgs({"--add-special-tokens=maybe"}, kSpecs).ok());
}

}  // namespace
}  // namespace infernum::cli
