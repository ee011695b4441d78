#include "router/server/request_builder.h"

#include <gtest/gtest.h>

#include <set>

#include "router/api/errors.h"
#include "router/server/fake_worker.h"

namespace infernum::router {
namespace {

class RequestBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v1::ModelInfo info = testing::Stories260KInfo();
    info.add_extra_stop_token_ids(1);
    auto assets = cache_.Get(info);
    ASSERT_TRUE(assets.ok()) << assets.status();
    model_ = *assets;
  }
  AssetCache cache_;
  std::shared_ptr<const ModelAssets> model_;
};

TEST_F(RequestBuilderTest, MaxTokensDefaultsToTheRestOfTheContext) {
  RequestOptions o;
  auto m = ResolveMaxTokens(o, 12, *model_, 0, "prompt");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, 500);
  m = ResolveMaxTokens(o, 12, *model_, 64, "prompt");  // Capped default.
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, 64);
  o.max_tokens = 500;
  EXPECT_TRUE(ResolveMaxTokens(o, 12, *model_, 0, "prompt").ok());
}

TEST_F(RequestBuilderTest, ContextOverflowIsAnApiErrorWithBothNumbers) {
  RequestOptions o;
  o.max_tokens = 501;
  auto m = ResolveMaxTokens(o, 12, *model_, 0, "messages");
  ASSERT_FALSE(m.ok());
  const ApiError e = ApiErrorFromStatus(m.status());
  EXPECT_EQ(e.kind, ErrorKind::kContextLengthExceeded);
  EXPECT_NE(e.message.find("513 tokens (12 in the messages, 501 in the "
                           "completion)"),
            std::string::npos)
      << e.message;
  EXPECT_NE(e.message.find("512"), std::string::npos);
  o.max_tokens.reset();
  EXPECT_FALSE(ResolveMaxTokens(o, 512, *model_, 0, "prompt").ok());
  o.max_tokens = 100;
  EXPECT_EQ(ApiErrorFromStatus(
                ResolveMaxTokens(o, 12, *model_, 50, "prompt").status())
                .param,
            "max_tokens");
  o.max_tokens = 5;
  o.min_tokens = 6;
  EXPECT_FALSE(ResolveMaxTokens(o, 12, *model_, 0, "prompt").ok());
}

TEST_F(RequestBuilderTest, SampleSeedsAreDistinctAndStable) {
  std::set<int64_t> seen;
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(SampleSeed(42, i), SampleSeed(42, i));
    seen.insert(SampleSeed(42, i));
  }
  EXPECT_EQ(seen.size(), 16u);
  EXPECT_EQ(SampleSeed(42, 0), 42);
  EXPECT_NE(SampleSeed(43, 1), SampleSeed(42, 1));
}

TEST_F(RequestBuilderTest, GenerateRequestCarriesEveryOption) {
  RequestOptions o;
  o.temperature = 0.5;
  o.top_p = 0.9;
  o.top_k = 7;
  o.min_p = 0.05;
  o.presence_penalty = 0.25;
  o.frequency_penalty = -0.5;
  o.repetition_penalty = 1.25;
  o.seed = 9;
  o.min_tokens = 2;
  o.stop_token_ids = {13};
  o.logprobs = true;
  o.top_logprobs = 3;
  SequenceSpec spec{.request_id = "r-1",
                    .prompt_ids = {1, 5, 6},
                    .max_tokens = 10,
                    .sample = 1};
  v1::GenerateRequest r = MakeGenerateRequest(o, *model_, spec);
  EXPECT_EQ(r.request_id(), "r-1");
  EXPECT_EQ(r.prompt_token_ids_size(), 3);
  EXPECT_FLOAT_EQ(r.sampling().temperature(), 0.5f);
  EXPECT_FLOAT_EQ(r.sampling().top_p(), 0.9f);
  EXPECT_EQ(r.sampling().top_k(), 7);
  EXPECT_FLOAT_EQ(r.sampling().min_p(), 0.05f);
  EXPECT_FLOAT_EQ(r.sampling().presence_penalty(), 0.25f);
  EXPECT_FLOAT_EQ(r.sampling().frequency_penalty(), -0.5f);
  EXPECT_FLOAT_EQ(r.sampling().repetition_penalty(), 1.25f);
  EXPECT_EQ(r.sampling().seed(), SampleSeed(9, 1));
  EXPECT_EQ(r.max_tokens(), 10);
  EXPECT_EQ(r.min_tokens(), 2);
  // Request stop ids plus the model's extra stop id.
  EXPECT_EQ(std::vector<int32_t>(r.stop_token_ids().begin(),
                                 r.stop_token_ids().end()),
            (std::vector<int32_t>{13, 1}));
  EXPECT_TRUE(r.logprobs());
  EXPECT_EQ(r.top_logprobs(), 3);
  o.ignore_eos = true;  // No extra stop ids then; request ones stay.
  r = MakeGenerateRequest(o, *model_, spec);
  EXPECT_TRUE(r.ignore_eos());
  EXPECT_EQ(r.stop_token_ids_size(), 1);
}

TEST_F(RequestBuilderTest, ResumeRequestContinuesTheSequence) {
  RequestOptions o;
  o.temperature = 0.8;
  o.presence_penalty = 0.5;
  o.seed = 42;
  o.min_tokens = 6;
  o.stop_token_ids = {13};
  o.logprobs = true;
  o.top_logprobs = 2;
  const SequenceSpec spec{.request_id = "r-0",
                          .prompt_ids = {1, 5, 6},
                          .max_tokens = 10,
                          .sample = 0};
  const v1::GenerateRequest original = MakeGenerateRequest(o, *model_, spec);
  const std::vector<int32_t> generated = {40, 41, 42, 43};
  v1::GenerateRequest r = MakeResumeRequest(original, generated);
  EXPECT_EQ(std::vector<int32_t>(r.prompt_token_ids().begin(),
                                 r.prompt_token_ids().end()),
            (std::vector<int32_t>{1, 5, 6, 40, 41, 42, 43}));
  EXPECT_EQ(r.max_tokens(), 6);
  EXPECT_EQ(r.num_previously_generated(), 4);
  // Everything else is the original's (min_tokens counts the K outputs on
  // the worker, so it stays).
  v1::GenerateRequest rest = r;
  rest.mutable_prompt_token_ids()->Truncate(3);
  rest.set_max_tokens(original.max_tokens());
  rest.set_num_previously_generated(0);
  EXPECT_EQ(rest.SerializeAsString(), original.SerializeAsString());
  // A second migration stacks on the first.
  r = MakeResumeRequest(r, {44});
  EXPECT_EQ(r.prompt_token_ids_size(), 8);
  EXPECT_EQ(r.max_tokens(), 5);
  EXPECT_EQ(r.num_previously_generated(), 5);
  // max_tokens 0 ("until the context is full") stays 0.
  v1::GenerateRequest open = original;
  open.set_max_tokens(0);
  EXPECT_EQ(MakeResumeRequest(open, generated).max_tokens(), 0);
}

TEST_F(RequestBuilderTest, TokenIdPromptsAreCheckedAgainstTheVocab) {
  CompletionPrompt p{.is_token_ids = true, .token_ids = {1, 511}};
  EXPECT_TRUE(TokenizeCompletionPrompt(*model_, p, 0).ok());
  p.token_ids = {1, 512};
  auto r = TokenizeCompletionPrompt(*model_, p, 2);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ApiErrorFromStatus(r.status()).param, "prompt[2][1]");
}

TEST_F(RequestBuilderTest, AssetCacheSharesTokenizersByContent) {
  v1::ModelInfo other = testing::Stories260KInfo();
  other.set_model_id("alias");
  auto a = cache_.Get(other);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->text, model_->text);
  EXPECT_EQ(cache_.size(), 1);
  other.set_tokenizer_json("{not json");
  EXPECT_FALSE(cache_.Get(other).ok());
  other = testing::Stories260KInfo();
  other.set_max_context_length(0);
  EXPECT_FALSE(cache_.Get(other).ok());
}

}  // namespace
}  // namespace infernum::router
