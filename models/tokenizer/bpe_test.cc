#include "models/tokenizer/bpe.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace infernum::models::tokenizer_internal {
namespace {

using Vocab = std::vector<std::pair<std::string, int32_t>>;
using Merges = std::vector<std::pair<std::string, std::string>>;

// Textbook BPE, as an independent reference: repeatedly merge the adjacent
// pair with the lowest merge rank (leftmost on ties) until none applies.
std::vector<std::string> NaiveBpe(const std::vector<std::string>& chars,
                                  const Merges& merges) {
  std::vector<std::string> syms = chars;
  while (true) {
    size_t best_rank = merges.size(), best_pos = 0;
    for (size_t i = 0; i + 1 < syms.size(); ++i) {
      for (size_t r = 0; r < best_rank; ++r) {
        if (merges[r].first == syms[i] && merges[r].second == syms[i + 1]) {
          best_rank = r;
          best_pos = i;
          break;
        }
      }
    }
    if (best_rank == merges.size()) return syms;
    syms[best_pos] += syms[best_pos + 1];
    syms.erase(syms.begin() + best_pos + 1);
  }
}

struct Toy {
  Vocab vocab;
  Merges merges;
};

// A vocab over {a,b,c,d} with merges of every pair of existing tokens up to
// length 4, in a shuffled (but fixed) order.
Toy MakeToy() {
  Toy t;
  std::vector<std::string> tokens = {"a", "b", "c", "d"};
  std::mt19937 rng(3);
  for (int round = 0; round < 40; ++round) {
    const std::string& x = tokens[rng() % tokens.size()];
    const std::string& y = tokens[rng() % tokens.size()];
    const std::string z = x + y;
    if (z.size() > 4 ||
        std::find(tokens.begin(), tokens.end(), z) != tokens.end())
      continue;
    t.merges.emplace_back(x, y);
    tokens.push_back(z);
  }
  for (size_t i = 0; i < tokens.size(); ++i) t.vocab.emplace_back(tokens[i], i);
  return t;
}

std::vector<std::string> Tokens(const BpeModel& m, const std::string& word) {
  std::vector<int32_t> ids;
  m.Tokenize(word, &ids);
  std::vector<std::string> out;
  for (int32_t id : ids) out.push_back(*m.IdToToken(id));
  return out;
}

TEST(BpeTest, MatchesNaiveReferenceOnRandomWords) {
  const Toy toy = MakeToy();
  auto model = BpeModel::Create(toy.vocab, toy.merges, {});
  ASSERT_TRUE(model.ok()) << model.status();
  std::mt19937 rng(11);
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<std::string> chars;
    std::string word;
    const int n = 1 + rng() % 16;
    for (int k = 0; k < n; ++k) {
      chars.push_back(std::string(1, "abcd"[rng() % 4]));
      word += chars.back();
    }
    EXPECT_EQ(Tokens(**model, word), NaiveBpe(chars, toy.merges)) << word;
  }
}

TEST(BpeTest, ByteFallbackForUnknownCharacters) {
  Vocab vocab = {{"<unk>", 0}, {"a", 1}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab.emplace_back(name, 2 + b);
  }
  BpeOptions options;
  options.unk_token = "<unk>";
  options.byte_fallback = true;
  auto model = BpeModel::Create(vocab, {}, options);
  ASSERT_TRUE(model.ok());
  // U+1F600 is F0 9F 98 80.
  EXPECT_EQ(
      Tokens(**model, "a\xF0\x9F\x98\x80"),
      (std::vector<std::string>{"a", "<0xF0>", "<0x9F>", "<0x98>", "<0x80>"}));
}

TEST(BpeTest, UnknownCharactersFuseIntoOneUnk) {
  const Vocab vocab = {{"<unk>", 0}, {"a", 1}};
  BpeOptions options;
  options.unk_token = "<unk>";
  options.fuse_unk = true;
  auto fused = BpeModel::Create(vocab, {}, options);
  ASSERT_TRUE(fused.ok());
  EXPECT_EQ(Tokens(**fused, "xya\xC3\xA9z"),
            (std::vector<std::string>{"<unk>", "a", "<unk>"}));
  options.fuse_unk = false;
  auto unfused = BpeModel::Create(vocab, {}, options);
  ASSERT_TRUE(unfused.ok());
  EXPECT_EQ(Tokens(**unfused, "xya"),
            (std::vector<std::string>{"<unk>", "<unk>", "a"}));
}

TEST(BpeTest, IgnoreMergesTakesWholeWordsFromTheVocab) {
  // "abc" is in the vocab but no merge sequence builds it.
  const Vocab vocab = {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"abc", 4}};
  const Merges merges = {{"a", "b"}};
  BpeOptions options;
  auto plain = BpeModel::Create(vocab, merges, options);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(Tokens(**plain, "abc"), (std::vector<std::string>{"ab", "c"}));
  options.ignore_merges = true;
  auto ignoring = BpeModel::Create(vocab, merges, options);
  ASSERT_TRUE(ignoring.ok());
  EXPECT_EQ(Tokens(**ignoring, "abc"), (std::vector<std::string>{"abc"}));
}

TEST(BpeTest, BadMergesAreErrors) {
  const Vocab vocab = {{"a", 0}, {"b", 1}};
  EXPECT_FALSE(BpeModel::Create(vocab, {{"a", "b"}}, {}).ok());  // "ab" missing
  EXPECT_FALSE(BpeModel::Create(vocab, {{"a", "x"}}, {}).ok());  // "x" missing
  BpeOptions options;
  options.unk_token = "<unk>";
  EXPECT_FALSE(BpeModel::Create(vocab, {}, options).ok());  // unk missing
  EXPECT_FALSE(
      BpeModel::Create({{"a", 0}, {"b", 0}}, {}, {}).ok());  // duplicate id
}

TEST(BpeTest, FromJsonAcceptsBothMergeFormats) {
  const Json strings = Json::parse(
      R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})");
  const Json pairs = Json::parse(
      R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]})");
  for (const Json& j : {strings, pairs}) {
    auto model = BpeModel::FromJson(j);
    ASSERT_TRUE(model.ok()) << model.status();
    EXPECT_EQ(Tokens(**model, "abab"), (std::vector<std::string>{"ab", "ab"}));
  }
  EXPECT_FALSE(BpeModel::FromJson(
                   Json::parse(R"({"vocab": {"a": 0}, "merges": ["a b c"]})"))
                   .ok());
  EXPECT_FALSE(
      BpeModel::FromJson(Json::parse(R"({"vocab": {"a": "x"}, "merges": []})"))
          .ok());
  EXPECT_FALSE(BpeModel::FromJson(Json::parse(R"({"merges": []})")).ok());
}

}  // namespace
}  // namespace infernum::models::tokenizer_internal
