#include "models/tokenizer/tokenizer.h"

#include <string>
#include <vector>

#include "common/testing.h"
#include "gtest/gtest.h"

namespace infernum::models {
namespace {

using Ids = std::vector<int32_t>;

std::string Dir(const std::string& family) {
  if (family == "stories260K")
    return testing::SharedModelsDir() + "/stories260K";
  return testing::SharedModelsDir() + "/tokenizers/" + family;
}

std::unique_ptr<Tokenizer> Load(const std::string& family) {
  auto tok = Tokenizer::FromDirectory(Dir(family));
  EXPECT_TRUE(tok.ok()) << family << ": " << tok.status();
  return tok.ok() ? *std::move(tok) : nullptr;
}

Ids Encode(const Tokenizer& t, const std::string& text, bool special = true) {
  auto ids = t.Encode(text, special);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return ids.ok() ? *ids : Ids{};
}

// "Hello world" ids from shared/models/README.md (HF's output per family);
// DeepSeek-V3 additionally gets BOS 0 from its config's add_bos_token, as
// transformers' LlamaTokenizerFast adds it.
TEST(TokenizerTest, HelloWorldMatchesHuggingFaceForEveryFamily) {
  const std::vector<std::pair<std::string, Ids>> cases = {
      {"llama2", {1, 15043, 3186}}, {"mistral", {1, 22557, 1526}},
      {"llama3", {9906, 1917}},     {"qwen3", {9707, 1879}},
      {"gemma3", {2, 9259, 1902}},  {"deepseek_v3", {0, 19923, 2058}},
      {"gptoss", {13225, 2375}}};
  for (const auto& [family, expected] : cases) {
    auto tok = Load(family);
    ASSERT_NE(tok, nullptr);
    EXPECT_EQ(Encode(*tok, "Hello world"), expected) << family;
    auto text = tok->Decode(expected, /*skip_special_tokens=*/true);
    ASSERT_TRUE(text.ok());
    EXPECT_EQ(*text, "Hello world") << family;
  }
}

TEST(TokenizerTest, StoriesPromptMatchesReadme) {
  auto tok = Load("stories260K");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(Encode(*tok, "Once upon a time"), (Ids{1, 403, 407, 261, 378}));
  auto llama2 = Load("llama2");
  ASSERT_NE(llama2, nullptr);
  EXPECT_EQ(Encode(*llama2, "Once upon a time"),
            (Ids{1, 9038, 2501, 263, 931}));
  EXPECT_EQ(Encode(*llama2, "Once upon a time", false),
            (Ids{9038, 2501, 263, 931}));
}

TEST(TokenizerTest, SpecialTokenIdsAndChatTemplateFromConfig) {
  auto deepseek = Load("deepseek_v3");
  ASSERT_NE(deepseek, nullptr);
  EXPECT_EQ(deepseek->bos_token_id(),
            0);  // object form {"__type": "AddedToken"}
  EXPECT_EQ(deepseek->eos_token_id(), 1);
  EXPECT_TRUE(deepseek->IsSpecial(0));
  auto qwen = Load("qwen3");
  ASSERT_NE(qwen, nullptr);
  EXPECT_EQ(qwen->bos_token_id(), std::nullopt);
  EXPECT_EQ(qwen->eos_token_id(), qwen->TokenToId("<|im_end|>"));
  EXPECT_NE(qwen->chat_template().find("<|im_start|>"), std::string::npos);
  EXPECT_EQ(qwen->vocab_size(), 151669);
  auto gptoss = Load("gptoss");
  ASSERT_NE(gptoss, nullptr);
  EXPECT_EQ(gptoss->chat_template(), "");
  auto llama3 = Load("llama3");
  ASSERT_NE(llama3, nullptr);
  EXPECT_EQ(llama3->IdToToken(9906), "Hello");
  EXPECT_EQ(llama3->TokenToId("<|begin_of_text|>"), 128000);
  EXPECT_TRUE(llama3->clean_up_tokenization_spaces());
}

TEST(TokenizerTest, SpecialTokenTextInsideInput) {
  auto qwen = Load("qwen3");
  ASSERT_NE(qwen, nullptr);
  const Ids ids = Encode(*qwen, "<|im_start|>user\nhi<|im_end|>", false);
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), *qwen->TokenToId("<|im_start|>"));
  EXPECT_EQ(ids.back(), *qwen->TokenToId("<|im_end|>"));
  auto text = qwen->Decode(ids, /*skip_special_tokens=*/true);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "user\nhi");
}

TEST(TokenizerTest, ByteFallbackRoundTripsEmoji) {
  auto tok = Load("llama2");
  ASSERT_NE(tok, nullptr);
  const std::string text = "I love \xF0\x9F\x8D\x95!";  // pizza emoji
  const Ids ids = Encode(*tok, text, false);
  int byte_tokens = 0;
  for (int32_t id : ids) byte_tokens += tok->IdToToken(id).rfind("<0x", 0) == 0;
  EXPECT_EQ(byte_tokens, 4);
  auto back = tok->Decode(ids, false);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, text);
}

TEST(TokenizerTest, BadInputIsAnErrorNotACrash) {
  auto tok = Load("llama3");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->Decode(Ids{-1}, false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tok->Decode(Ids{tok->vocab_size()}, false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tok->Encode("bad \xC3", true).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(Tokenizer::FromDirectory("/nonexistent/dir").ok());
  EXPECT_FALSE(Tokenizer::FromJson("{\"model\": ", "").ok());
  EXPECT_FALSE(Tokenizer::FromJson("[1, 2]", "").ok());
  EXPECT_FALSE(Tokenizer::FromJson("{}", "").ok());
  EXPECT_FALSE(
      Tokenizer::FromJson(R"({"model": {"type": "BPE", "vocab": {}}})", "")
          .ok());
  EXPECT_FALSE(
      Tokenizer::FromJson(
          R"({"model": {"type": "WordPiece", "vocab": {}, "merges": []}})", "")
          .ok());
  const std::string minimal =
      R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})";
  EXPECT_TRUE(Tokenizer::FromJson(minimal, "").ok());
  EXPECT_FALSE(Tokenizer::FromJson(minimal, "{not json").ok());
  EXPECT_FALSE(Tokenizer::FromJson(minimal, R"({"bos_token": 5})").ok());
  EXPECT_FALSE(Tokenizer::FromJson(
                   minimal, R"({"add_bos_token": true, "bos_token": "<s>"})")
                   .ok());
  const std::string unknown_regex =
      R"({"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated",
          "invert": false}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})";
  EXPECT_EQ(Tokenizer::FromJson(unknown_regex, "").status().code(),
            absl::StatusCode::kUnimplemented);
}

// A small char-level tokenizer with added tokens using single_word, lstrip,
// rstrip and normalized. Expected ids and texts were produced by Hugging
// Face's Rust tokenizers 0.23.2 (npm "tokenizers") on this same JSON.
constexpr char kAddedTokensJson[] = R"({"added_tokens": [
 {"id": 30, "content": "<sw>", "single_word": true, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
 {"id": 31, "content": "<ls>", "single_word": false, "lstrip": true, "rstrip": false, "normalized": false, "special": true},
 {"id": 32, "content": "<rs>", "single_word": false, "lstrip": false, "rstrip": true, "normalized": false, "special": false},
 {"id": 33, "content": "<N>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": false},
 {"id": 34, "content": "ab", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": false},
 {"id": 35, "content": "abc", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": false}],
 "normalizer": {"type": "Lowercase"}, "pre_tokenizer": null, "post_processor": null, "decoder": null,
 "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "merges": [],
  "vocab": {" ": 0, "a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9,
   "j": 10, "k": 11, "l": 12, "m": 13, "n": 14, "o": 15, "p": 16, "q": 17, "r": 18, "s": 19,
   "t": 20, "u": 21, "v": 22, "w": 23, "x": 24, "y": 25, "z": 26, "<": 27, ">": 28, "!": 29}}})";

TEST(TokenizerTest, AddedTokenOptionsMatchHuggingFace) {
  auto tok = Tokenizer::FromJson(kAddedTokensJson, "");
  ASSERT_TRUE(tok.ok()) << tok.status();
  const std::vector<std::pair<std::string, Ids>> cases = {
      {"a<sw>b",
       {1, 27, 19, 23, 28, 2}},  // single_word: not at a word boundary
      {"a <sw> b", {1, 0, 30, 0, 2}},
      {"<sw>", {30}},
      {"a   <ls>b", {1, 31, 2}},  // lstrip eats the spaces before
      {"<ls>b", {31, 2}},
      {"a<rs>   b", {1, 32, 2}},  // rstrip eats the spaces after
      {"x<N>y", {24, 33, 25}},    // normalized token matches after Lowercase
      {"abcab", {35, 34}},        // longest match first
      {"A <SW> B", {1, 0, 27, 19, 23, 28, 0, 2}}};
  for (const auto& [text, expected] : cases) {
    EXPECT_EQ(Encode(**tok, text), expected) << text;
  }
  const Ids ids = {1, 30, 2, 32, 3, 33};
  EXPECT_EQ(*(*tok)->Decode(ids, false), "a <sw> b <rs> c <n>");
  EXPECT_EQ(*(*tok)->Decode(ids, true), "a b <rs> c <n>");
}

TEST(TokenizerTest, CleanUpTokenizationSpaces) {
  EXPECT_EQ(
      CleanUpTokenizationSpaces("Hello , world . I 'm here ! Is n't it ?"),
      "Hello, world. I'm here! Isn't it?");
}

}  // namespace
}  // namespace infernum::models
