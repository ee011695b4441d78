#include "router/server/auth.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>

namespace infernum::router {
namespace {

TEST(ConstantTimeEqualsTest, AgreesWithOperatorEquals) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> len(0, 6), byte(0, 3);
  for (int i = 0; i < 5000; ++i) {
    std::string a(len(rng), 'a'), b(len(rng), 'a');
    for (char& c : a) c = static_cast<char>('a' + byte(rng));
    for (char& c : b) c = static_cast<char>('a' + byte(rng));
    EXPECT_EQ(ConstantTimeEquals(a, b), a == b) << a << " vs " << b;
  }
  // Prefixes, embedded NULs, high bytes.
  EXPECT_FALSE(ConstantTimeEquals("sk-abc", "sk-abcd"));
  EXPECT_FALSE(ConstantTimeEquals("sk-abcd", "sk-abc"));
  EXPECT_TRUE(
      ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0", 2), "a"));
  EXPECT_TRUE(ConstantTimeEquals("\xff\x80", "\xff\x80"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(BearerTokenTest, ParsesTheScheme) {
  EXPECT_EQ(BearerToken("Bearer sk-1"), "sk-1");
  EXPECT_EQ(BearerToken("bearer sk-1"), "sk-1");
  EXPECT_EQ(BearerToken("BEARER \t sk-1  "), "sk-1");
  EXPECT_EQ(BearerToken("  Bearer sk-1"), "sk-1");
  EXPECT_EQ(BearerToken("Basic c2stMQ=="), "");
  EXPECT_EQ(BearerToken("Bearersk-1"), "");
  EXPECT_EQ(BearerToken("Bearer"), "");
  EXPECT_EQ(BearerToken("Bearer   "), "");
  EXPECT_EQ(BearerToken("sk-1"), "");
  EXPECT_EQ(BearerToken(""), "");
}

TEST(ApiKeyAuthTest, NoKeysMeansOpen) {
  const ApiKeyAuth auth({});
  EXPECT_FALSE(auth.enabled());
  EXPECT_TRUE(auth.Allows(""));
  EXPECT_TRUE(auth.Allows("Bearer anything"));
  // Empty strings are not keys.
  const ApiKeyAuth empty_keys({"", ""});
  EXPECT_FALSE(empty_keys.enabled());
  EXPECT_TRUE(empty_keys.Allows(""));
}

TEST(ApiKeyAuthTest, OnlyConfiguredKeysPass) {
  const ApiKeyAuth auth({"sk-alpha", "", "sk-beta"});
  EXPECT_TRUE(auth.enabled());
  EXPECT_EQ(auth.num_keys(), 2);
  EXPECT_TRUE(auth.Allows("Bearer sk-alpha"));
  EXPECT_TRUE(auth.Allows("bearer sk-beta"));
  EXPECT_FALSE(auth.Allows(""));
  EXPECT_FALSE(auth.Allows("Bearer "));
  EXPECT_FALSE(auth.Allows("Bearer sk-alph"));
  EXPECT_FALSE(auth.Allows("Bearer sk-alphaa"));
  EXPECT_FALSE(auth.Allows("Bearer sk-gamma"));
  EXPECT_FALSE(auth.Allows("sk-alpha"));
  EXPECT_FALSE(auth.Allows("Basic sk-alpha"));
  EXPECT_FALSE(auth.Allows("Bearer sk-alpha sk-beta"));
}

TEST(UnauthorizedBodyTest, HasOpenAiShape) {
  for (bool present : {false, true}) {
    const nlohmann::json j = nlohmann::json::parse(UnauthorizedBody(present));
    const nlohmann::json& e = j.at("error");
    EXPECT_TRUE(e.at("message").is_string());
    EXPECT_FALSE(e.at("message").get<std::string>().empty());
    EXPECT_EQ(e.at("type"), "invalid_request_error");
    EXPECT_TRUE(e.at("param").is_null());
    EXPECT_EQ(e.at("code"), "invalid_api_key");
  }
  EXPECT_NE(UnauthorizedBody(false), UnauthorizedBody(true));
}

}  // namespace
}  // namespace infernum::router
