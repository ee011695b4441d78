#include "models/tokenizer/decoder.h"

#include <string>
#include <vector>

#include "common/testing.h"
#include "gtest/gtest.h"
#include "models/tokenizer/tokenizer.h"

namespace infernum::models::tokenizer_internal {
namespace {

std::string DecodeWith(const char* json, std::vector<std::string> tokens) {
  auto decoder = MakeDecoder(Json::parse(json));
  EXPECT_TRUE(decoder.ok()) << decoder.status();
  if (!decoder.ok()) return "";
  (*decoder)->DecodeChain(&tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

constexpr char kSentencePiece[] = R"({"type": "Sequence", "decoders": [
  {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
  {"type": "ByteFallback"}, {"type": "Fuse"},
  {"type": "Strip", "content": " ", "start": 1, "stop": 0}]})";

TEST(DecoderTest, SentencePieceChain) {
  EXPECT_EQ(DecodeWith(kSentencePiece, {"\u2581Hello", "\u2581world"}),
            "Hello world");
  // Only one leading space is stripped, and only at the very start.
  EXPECT_EQ(DecodeWith(kSentencePiece, {"\u2581\u2581a", "\u2581b"}), " a b");
  EXPECT_EQ(
      DecodeWith(kSentencePiece, {"a", "<0xF0>", "<0x9F>", "<0x8D>", "<0x95>"}),
      "a\xF0\x9F\x8D\x95");
}

TEST(DecoderTest, ByteFallbackInvalidRunIsOneReplacementPerByte) {
  // HF's ByteFallback: a run of byte tokens that is not valid UTF-8 becomes
  // one U+FFFD per byte (unlike lossy UTF-8 decoding).
  EXPECT_EQ(
      DecodeWith(R"({"type": "ByteFallback"})", {"<0xF0>", "<0x9F>", "a"}),
      "\xEF\xBF\xBD\xEF\xBF\xBD"
      "a");
  EXPECT_EQ(DecodeWith(R"({"type": "ByteFallback"})", {"<0xZZ>", "<0x41>"}),
            "<0xZZ>A");
}

TEST(DecoderTest, ByteLevelIsLossyAndKeepsForeignTokens) {
  const char* kByteLevel = R"({"type": "ByteLevel"})";
  EXPECT_EQ(DecodeWith(kByteLevel, {"Hello", "\xC4\xA0world"}), "Hello world");
  // An incomplete sequence is one U+FFFD (maximal subpart).
  EXPECT_EQ(DecodeWith(kByteLevel, {"\xC3\xB0\xC5\x81"}), "\xEF\xBF\xBD");
  // A token with characters outside the byte alphabet keeps its own bytes.
  EXPECT_EQ(DecodeWith(kByteLevel, {"<\xEF\xBD\x9C"
                                    "end\xEF\xBD\x9C>"}),
            "<\xEF\xBD\x9C"
            "end\xEF\xBD\x9C>");
}

TEST(DecoderTest, MetaspaceAndUnknownTypes) {
  EXPECT_EQ(
      DecodeWith(
          R"({"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always"})",
          {"\u2581Hi", "\u2581there"}),
      "Hi there");
  EXPECT_FALSE(MakeDecoder(Json::parse(R"({"type": "WordPiece"})")).ok());
  EXPECT_FALSE(
      MakeDecoder(Json::parse(R"({"type": "Strip", "content": "ab"})")).ok());
  EXPECT_FALSE(MakeDecoder(Json::parse(R"({"decoders": []})")).ok());
}

// Values from Hugging Face's Rust tokenizers 0.23.2 on the same files.
TEST(DecoderTest, RealFilesMatchHuggingFace) {
  auto llama2 = Tokenizer::FromDirectory(testing::SharedModelsDir() +
                                         "/tokenizers/llama2");
  ASSERT_TRUE(llama2.ok());
  EXPECT_EQ(*(*llama2)->Decode({243, 162, 263}, false),
            "\xEF\xBF\xBD\xEF\xBF\xBD a");
  EXPECT_EQ(*(*llama2)->Decode({263, 243, 162, 144, 152}, false),
            "a\xF0\x9F\x8D\x95");
  EXPECT_EQ(*(*llama2)->Decode({152, 263}, false), "\xEF\xBF\xBD a");
  EXPECT_EQ(*(*llama2)->Decode({1, 263, 2}, false), "<s> a</s>");
  auto llama3 = Tokenizer::FromDirectory(testing::SharedModelsDir() +
                                         "/tokenizers/llama3");
  ASSERT_TRUE(llama3.ok());
  EXPECT_EQ(*(*llama3)->Decode({9468}, false), "\xEF\xBF\xBD");
  EXPECT_EQ(*(*llama3)->Decode({9468, 128000}, false),
            "\xEF\xBF\xBD<|begin_of_text|>");
  EXPECT_EQ(*(*llama3)->Decode({9468, 235, 243}, false), "\xF0\x9F\x8D\x95");
}

}  // namespace
}  // namespace infernum::models::tokenizer_internal
