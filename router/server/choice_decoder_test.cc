#include "router/server/choice_decoder.h"

#include <gtest/gtest.h>

#include "common/testing.h"

namespace infernum::router {
namespace {

class ChoiceDecoderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tok = models::Tokenizer::FromDirectory(
        ::infernum::testing::SharedModelsDir() + "/stories260K");
    ASSERT_TRUE(tok.ok()) << tok.status();
    tokenizer_ = std::move(*tok);
    prompt_ = *tokenizer_->Encode("Hi", true);
    // Byte-fallback characters (é, 🙂) split over several tokens.
    ids_ = *tokenizer_->Encode("Once upon a time, café 🙂 there was a girl.",
                               false);
  }

  // Independent reference: the whole decode minus the prompt's text.
  std::string Full() const {
    std::vector<int32_t> all = prompt_;
    all.insert(all.end(), ids_.begin(), ids_.end());
    return tokenizer_->Decode(all, true)->substr(
        tokenizer_->Decode(prompt_, true)->size());
  }

  // Feeds ids_ in chunks of `chunk` tokens; returns the emitted text.
  std::string Run(ChoiceDecoder& d, size_t chunk) const {
    std::string out;
    for (size_t i = 0; i < ids_.size() && !d.stopped(); i += chunk) {
      v1::TokenChunk c;
      for (size_t j = i; j < std::min(ids_.size(), i + chunk); ++j) {
        c.add_tokens()->set_token_id(ids_[j]);
      }
      auto r = d.AddTokens(c);
      EXPECT_TRUE(r.ok());
      out += r->text;
    }
    if (!d.stopped()) out += *d.Flush();
    return out;
  }

  std::unique_ptr<models::Tokenizer> tokenizer_;
  std::vector<int32_t> prompt_, ids_;
};

TEST_F(ChoiceDecoderTest, WithoutStopsEmitsTheFullDecode) {
  for (size_t chunk : {1, 2, 3, 100}) {
    ChoiceDecoder d(*tokenizer_, prompt_, {});
    EXPECT_EQ(Run(d, chunk), Full()) << chunk;
    EXPECT_FALSE(d.stopped());
    EXPECT_EQ(d.num_tokens(), static_cast<int64_t>(ids_.size()));
  }
}

TEST_F(ChoiceDecoderTest, StopStringsAcrossTokenBoundariesAreNeverEmitted) {
  const std::string full = Full();
  for (const std::string stop :
       {"e, caf", "é 🙂", "🙂", "girl.", "a time"}) {
    const size_t at = full.find(stop);
    ASSERT_NE(at, std::string::npos) << stop;
    for (size_t chunk : {1, 2, 5}) {
      ChoiceDecoder d(*tokenizer_, prompt_, {.stop = {"zzz", stop}});
      EXPECT_EQ(Run(d, chunk), full.substr(0, at)) << stop << " / " << chunk;
      EXPECT_TRUE(d.stopped());
      EXPECT_LE(d.num_tokens(), static_cast<int64_t>(ids_.size()));
    }
  }
}

TEST_F(ChoiceDecoderTest, StopCountsTokensUpToTheMatch) {
  // Stop at the first token's text: exactly one token consumed.
  const std::string first =
      *tokenizer_->Decode(std::vector<int32_t>{ids_[0]}, true);
  ChoiceDecoder d(*tokenizer_, prompt_, {.stop = {first}});
  v1::TokenChunk c;
  for (int32_t id : ids_) c.add_tokens()->set_token_id(id);
  auto r = d.AddTokens(c);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(d.stopped());
  EXPECT_EQ(d.num_tokens(), 1);
}

TEST_F(ChoiceDecoderTest, LogprobsOnePerConsumedToken) {
  ChoiceDecoder d(*tokenizer_, prompt_, {.logprobs = true});
  v1::TokenChunk c;
  for (int k = 0; k < 3; ++k) {
    v1::GeneratedToken* t = c.add_tokens();
    t->set_token_id(ids_[k]);
    t->set_logprob(-0.5f * k);
    v1::TopLogprob* top = t->add_top_logprobs();
    top->set_token_id(ids_[k + 1]);  // The next token as the alternative.
    top->set_logprob(-3);
  }
  auto r = d.AddTokens(c);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->logprobs.size(), 3u);
  std::string joined;
  for (int k = 0; k < 3; ++k) {
    joined += r->logprobs[k].token;
    EXPECT_FLOAT_EQ(r->logprobs[k].logprob, -0.5f * k);
    ASSERT_EQ(r->logprobs[k].top_logprobs.size(), 1u);
    EXPECT_FLOAT_EQ(r->logprobs[k].top_logprobs[0].logprob, -3);
  }
  // Token texts keep their leading spaces: they add up to the text.
  std::vector<int32_t> all = prompt_;
  all.insert(all.end(), ids_.begin(), ids_.begin() + 3);
  const std::string full = *tokenizer_->Decode(all, true);
  EXPECT_EQ(joined, full.substr(tokenizer_->Decode(prompt_, true)->size()));
  EXPECT_EQ(joined[0], ' ');
  // An alternative reads like the same token where it really occurs.
  EXPECT_EQ(r->logprobs[0].top_logprobs[0].token, r->logprobs[1].token);
  EXPECT_EQ(r->logprobs[1].top_logprobs[0].token, r->logprobs[2].token);
}

TEST_F(ChoiceDecoderTest, UnknownTokenIdIsAnError) {
  ChoiceDecoder d(*tokenizer_, prompt_, {});
  v1::TokenChunk c;
  c.add_tokens()->set_token_id(100000);
  EXPECT_FALSE(d.AddTokens(c).ok());
}

}  // namespace
}  // namespace infernum::router
