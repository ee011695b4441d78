#include "models/tokenizer/incremental_detokenizer.h"

#include <string>
#include <vector>

#include "common/testing.h"
#include "gtest/gtest.h"
#include "models/tokenizer/unicode.h"

namespace infernum::models {
namespace {

using Ids = std::vector<int32_t>;

std::unique_ptr<Tokenizer> Load(const std::string& family) {
  auto tok = Tokenizer::FromDirectory(testing::SharedModelsDir() +
                                      "/tokenizers/" + family);
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? *std::move(tok) : nullptr;
}

// Streams `ids` one at a time; returns the pieces (Flush's last).
std::vector<std::string> Stream(IncrementalDetokenizer& d, const Ids& ids) {
  std::vector<std::string> pieces;
  for (int32_t id : ids) {
    auto piece = d.Append(id);
    EXPECT_TRUE(piece.ok()) << piece.status();
    pieces.push_back(piece.ok() ? *piece : "");
  }
  auto rest = d.Flush();
  EXPECT_TRUE(rest.ok());
  pieces.push_back(rest.ok() ? *rest : "");
  return pieces;
}

std::string Join(const std::vector<std::string>& pieces) {
  std::string s;
  for (const auto& p : pieces) s += p;
  return s;
}

// Every piece is whole UTF-8 and all pieces add up to the full decode.
void ExpectStreamsLikeDecode(const Tokenizer& tok, const std::string& text) {
  auto ids = tok.Encode(text, true);
  ASSERT_TRUE(ids.ok());
  for (const bool skip : {false, true}) {
    IncrementalDetokenizer d(tok, skip);
    const std::vector<std::string> pieces = Stream(d, *ids);
    for (const auto& p : pieces) {
      EXPECT_TRUE(tokenizer_internal::IsValidUtf8(p)) << text;
      EXPECT_EQ(p.find("\xEF\xBF\xBD"), std::string::npos)
          << "U+FFFD leaked for " << text;
    }
    auto full = tok.Decode(*ids, skip);
    ASSERT_TRUE(full.ok());
    EXPECT_EQ(Join(pieces), *full) << text;
  }
}

TEST(IncrementalDetokenizerTest,
     EmojiSplitAcrossByteFallbackTokensComesOutWhole) {
  auto tok = Load("llama2");
  ASSERT_NE(tok, nullptr);
  auto ids = tok->Encode("I love \xF0\x9F\x8D\x95!", false);  // 4 byte tokens
  ASSERT_TRUE(ids.ok());
  IncrementalDetokenizer d(*tok, false);
  const std::vector<std::string> pieces = Stream(d, *ids);
  int emoji_pieces = 0;
  for (const auto& p : pieces)
    emoji_pieces += p.find("\xF0\x9F\x8D\x95") != std::string::npos;
  EXPECT_EQ(emoji_pieces, 1);
  EXPECT_EQ(Join(pieces), "I love \xF0\x9F\x8D\x95!");
}

TEST(IncrementalDetokenizerTest, SentencePieceSpacesMatchFullDecode) {
  auto tok = Load("llama2");
  ASSERT_NE(tok, nullptr);
  auto ids = tok->Encode("Hello world", true);
  ASSERT_TRUE(ids.ok());
  IncrementalDetokenizer d(*tok, /*skip_special_tokens=*/true);
  // BOS (skipped), "Hello" without its leading space, then " world".
  EXPECT_EQ(Stream(d, *ids),
            (std::vector<std::string>{"", "Hello", " world", ""}));
}

TEST(IncrementalDetokenizerTest, ManyFamiliesAndScripts) {
  const std::vector<std::string> texts = {
      "Hello   world\n\n  code()",
      "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7"
      " family "
      "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",
      "\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C "
      "\xED\x95\x9C\xEA\xB5\xAD "
      "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7",
      " leading space and trailing  "};
  for (const std::string family :
       {"llama2", "llama3", "qwen3", "gemma3", "gptoss"}) {
    auto tok = Load(family);
    ASSERT_NE(tok, nullptr);
    for (const auto& text : texts) ExpectStreamsLikeDecode(*tok, text);
  }
}

TEST(IncrementalDetokenizerTest, PromptGivesContextButIsNotEmitted) {
  auto tok = Load("llama2");
  ASSERT_NE(tok, nullptr);
  auto prompt = tok->Encode("Once upon a", true);
  auto all = tok->Encode("Once upon a time there", true);
  ASSERT_TRUE(prompt.ok() && all.ok());
  ASSERT_EQ(Ids(all->begin(), all->begin() + prompt->size()), *prompt);
  IncrementalDetokenizer d(*tok, true, *prompt);
  const Ids generated(all->begin() + prompt->size(), all->end());
  // The first generated token keeps its leading space: " time", " there".
  EXPECT_EQ(Join(Stream(d, generated)), " time there");
  EXPECT_EQ(d.ids(), *all);
}

TEST(IncrementalDetokenizerTest,
     IncompleteCharacterIsHeldThenFlushedAsDecodeWould) {
  auto tok = Load("llama2");
  ASSERT_NE(tok, nullptr);
  auto ids = tok->Encode("ab \xF0\x9F\x8D\x95", false);
  ASSERT_TRUE(ids.ok());
  ids->pop_back();  // drop the emoji's last byte token
  IncrementalDetokenizer d(*tok, false);
  std::string streamed;
  for (int32_t id : *ids) streamed += *d.Append(id);
  EXPECT_EQ(streamed.find("\xEF\xBF\xBD"), std::string::npos);  // held back
  streamed += *d.Flush();
  EXPECT_EQ(streamed, *tok->Decode(*ids, false));
}

TEST(IncrementalDetokenizerTest, OutOfRangeIdIsAnError) {
  auto tok = Load("qwen3");
  ASSERT_NE(tok, nullptr);
  IncrementalDetokenizer d(*tok, false);
  EXPECT_FALSE(d.Append(tok->vocab_size() + 5).ok());
  EXPECT_TRUE(d.ids().empty());
  EXPECT_EQ(*d.Append(*tok->TokenToId("Hello")), "Hello");
}

}  // namespace
}  // namespace infernum::models
