// Prefix caching (computed prefill tokens, identical outputs), seeded
// sampling across preemption (sampler state rebuilt by replaying outputs),
// and resume with num_previously_generated.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "worker/engine/engine.h"
#include "worker/engine/engine_test_util.h"
#include "worker/engine/output_sink.h"

namespace infernum::worker {
namespace {

using testing::GreedyRequest;

class EnginePrefixTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = new testing::TestModel(testing::LoadDummy(2));
  }
  static void TearDownTestSuite() { delete model_; }

  static std::unique_ptr<Engine> MakeEngine(EngineConfig config) {
    auto engine = Engine::Create(*model_->model, config, {2});
    EXPECT_TRUE(engine.ok()) << engine.status();
    return std::move(engine).value();
  }

  static std::shared_ptr<CollectingSink> Submit(Engine& engine,
                                                EngineRequest r) {
    auto sink = std::make_shared<CollectingSink>();
    const absl::Status st = engine.AddRequest(std::move(r), sink);
    EXPECT_TRUE(st.ok()) << st;
    return sink;
  }

  static testing::TestModel* model_;
};

testing::TestModel* EnginePrefixTest::model_ = nullptr;

// Two prompts: a shared 100-token prefix, then 20 tokens of their own.
std::vector<std::vector<int32_t>> SharedPrefixPrompts() {
  auto base = testing::RandomPrompts(5, 3, 100, 100, 3, 1000);
  std::vector<std::vector<int32_t>> out;
  for (int i = 1; i <= 2; ++i) {
    std::vector<int32_t> p = base[0];
    p.insert(p.end(), base[i].begin(), base[i].begin() + 20);
    out.push_back(p);
  }
  return out;
}

TEST_F(EnginePrefixTest, SecondRequestComputesOnlyTheUncachedSuffix) {
  const auto prompts = SharedPrefixPrompts();
  std::vector<std::vector<int32_t>> outputs[2];
  for (bool caching : {true, false}) {
    EngineConfig config;
    config.num_blocks = 256;
    config.enable_prefix_caching = caching;
    auto engine = MakeEngine(config);
    std::vector<std::shared_ptr<CollectingSink>> sinks;
    for (int i = 0; i < 2; ++i) {  // one after the other
      sinks.push_back(
          Submit(*engine, GreedyRequest(absl::StrCat(i), prompts[i], 8)));
      ASSERT_TRUE(testing::RunToCompletion(*engine).ok());
      outputs[caching].push_back(sinks.back()->token_ids());
    }
    ASSERT_TRUE(testing::CheckNoLeaks(*engine).ok());
    const FinalOutput first = sinks[0]->final_output();
    const FinalOutput second = sinks[1]->final_output();
    EXPECT_EQ(first.num_cached_prompt_tokens, 0);
    EXPECT_EQ(first.num_computed_prompt_tokens, 120);
    // 100 shared tokens = 6 full blocks of 16 (96 tokens) + 4.
    const int cached = caching ? 96 : 0;
    EXPECT_EQ(second.num_prompt_tokens, 120);
    EXPECT_EQ(second.num_cached_prompt_tokens, cached);
    EXPECT_EQ(second.num_computed_prompt_tokens, 120 - cached);
    const EngineStats s = engine->stats();
    EXPECT_EQ(s.computed_prompt_tokens_total, 240 - cached);
    EXPECT_EQ(s.prefix_cache_hits, cached);
  }
  EXPECT_EQ(outputs[true], outputs[false]);
  // And both equal the independent reference.
  for (int i = 0; i < 2; ++i) {
    const auto ref = testing::GreedyReference(*model_->model, prompts[i], 8);
    std::vector<int32_t> ids;
    for (const auto& t : ref) ids.push_back(t.token);
    EXPECT_EQ(outputs[true][i], ids);
  }
}

// A seeded, penalized, sampled request gives the same tokens alone and when
// it is preempted (and its sampler state rebuilt) among many others.
TEST_F(EnginePrefixTest, SeededSamplingSurvivesPreemption) {
  EngineRequest target = GreedyRequest("target", {}, 40);
  target.prompt_token_ids = testing::RandomPrompts(9, 1, 30, 30, 3, 1000)[0];
  target.sampling.temperature = 0.9f;
  target.sampling.top_p = 0.95f;
  target.sampling.presence_penalty = 0.5f;
  target.sampling.frequency_penalty = 0.3f;
  target.sampling.seed = 1234;

  EngineConfig roomy;
  roomy.num_blocks = 512;
  auto alone = MakeEngine(roomy);
  auto alone_sink = Submit(*alone, target);
  ASSERT_TRUE(testing::RunToCompletion(*alone).ok());

  EngineConfig tight;
  tight.num_blocks = 12;  // 16 requests of ~70 tokens cannot all fit
  auto crowded = MakeEngine(tight);
  auto crowded_sink = Submit(*crowded, target);
  ASSERT_TRUE(crowded->Step().ok());  // target admitted first
  // More important requests arrive: when blocks run out, the victim is the
  // running request with the largest (priority, arrival), the target.
  const auto others = testing::RandomPrompts(10, 15, 10, 50, 3, 1000);
  for (int i = 0; i < 15; ++i) {
    EngineRequest o = GreedyRequest(absl::StrCat("o", i), others[i], 30);
    o.priority = -1;
    Submit(*crowded, o);
  }
  ASSERT_TRUE(testing::RunToCompletion(*crowded).ok());
  ASSERT_TRUE(testing::CheckNoLeaks(*crowded).ok());
  EXPECT_GT(crowded_sink->final_output().num_preemptions, 0);
  EXPECT_EQ(crowded_sink->token_ids(), alone_sink->token_ids());
  EXPECT_EQ(crowded_sink->token_ids().size(), 40u);
}

// Resume: prompt + the first K outputs with num_previously_generated = K
// continues exactly like the original seeded run.
TEST_F(EnginePrefixTest, ResumeWithPreviouslyGenerated) {
  EngineRequest r = GreedyRequest("orig", {}, 20);
  r.prompt_token_ids = testing::RandomPrompts(3, 1, 12, 12, 3, 1000)[0];
  r.sampling.temperature = 1.0f;
  r.sampling.frequency_penalty = 0.7f;
  r.sampling.seed = 99;
  EngineConfig config;
  config.num_blocks = 64;
  auto engine = MakeEngine(config);
  auto original = Submit(*engine, r);
  ASSERT_TRUE(testing::RunToCompletion(*engine).ok());
  const std::vector<int32_t> ids = original->token_ids();
  ASSERT_EQ(ids.size(), 20u);

  constexpr int kDone = 8;
  EngineRequest resumed = r;
  resumed.request_id = "resumed";
  resumed.prompt_token_ids.insert(resumed.prompt_token_ids.end(), ids.begin(),
                                  ids.begin() + kDone);
  resumed.num_previously_generated = kDone;
  resumed.max_tokens = 20 - kDone;
  auto sink = Submit(*engine, resumed);
  ASSERT_TRUE(testing::RunToCompletion(*engine).ok());
  EXPECT_EQ(sink->token_ids(),
            std::vector<int32_t>(ids.begin() + kDone, ids.end()));
  EXPECT_EQ(sink->final_output().num_output_tokens, 20 - kDone);
  EXPECT_EQ(sink->final_output().num_prompt_tokens, 12 + kDone);
}

}  // namespace
}  // namespace infernum::worker
