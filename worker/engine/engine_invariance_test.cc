// Batch invariance of the engine on the CPU backend: the greedy output of
// every request (tokens AND their logprobs, bit for bit) equals that of the
// request generated alone by SimpleGenerate (an independent path: no
// scheduler, block manager or model runner), whether it runs among 32
// concurrent requests of mixed lengths, with chunked prefill on or off,
// with prefix caching on or off, or under forced preemption. Every run also
// checks that no KV block leaks. The CUDA graph decode path (plain decode
// steps padded to a bucket, inputs in a fixed buffer) is checked here too,
// run eagerly on the CPU: padding must not change any real row's result.
// So is a bf16 KV cache (--kv-cache-dtype bf16), whose reference is
// SimpleGenerate on the same bf16 cache dtype.
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

using testing::RefToken;

struct Workload {
  std::vector<std::vector<int32_t>> prompts;
  std::vector<int> max_tokens;
  std::vector<std::vector<RefToken>> reference;
};

constexpr int kNumRequests = 32;
constexpr int kMaxPrompt = 120;
constexpr int kMaxOutput = 24;

Workload MakeWorkload(models::LlamaModel& model, uint64_t seed) {
  Workload w;
  const int vocab = model.config().vocab_size;
  // Half the prompts share a 40-token prefix (prefix-cache hits).
  w.prompts = testing::RandomPrompts(seed, kNumRequests, 1, kMaxPrompt, 3,
                                     vocab, /*shared_prefix=*/40);
  for (int i = 0; i < kNumRequests; ++i) {
    w.max_tokens.push_back(1 + (i * 7) % kMaxOutput);
    w.reference.push_back(
        testing::GreedyReference(model, w.prompts[i], w.max_tokens[i]));
  }
  return w;
}

struct RunResult {
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  EngineStats stats;
};

RunResult RunAll(models::LlamaModel& model, const EngineConfig& config,
                 const Workload& w) {
  RunResult result;
  auto engine = Engine::Create(model, config, {2});
  EXPECT_TRUE(engine.ok()) << engine.status();
  if (!engine.ok()) return result;
  for (int i = 0; i < kNumRequests; ++i) {
    auto sink = std::make_shared<CollectingSink>();
    const absl::Status st = (*engine)->AddRequest(
        testing::GreedyRequest(absl::StrCat("r", i), w.prompts[i],
                               w.max_tokens[i]),
        sink);
    EXPECT_TRUE(st.ok()) << st;
    result.sinks.push_back(sink);
  }
  const absl::Status st = testing::RunToCompletion(**engine);
  EXPECT_TRUE(st.ok()) << st;
  const absl::Status leaks = testing::CheckNoLeaks(**engine);
  EXPECT_TRUE(leaks.ok()) << leaks;
  result.stats = (*engine)->stats();
  return result;
}

void ExpectMatchesReference(const RunResult& run, const Workload& w) {
  ASSERT_EQ(run.sinks.size(), w.reference.size());
  for (size_t i = 0; i < w.reference.size(); ++i) {
    const CollectingSink& sink = *run.sinks[i];
    ASSERT_TRUE(sink.finished()) << "request " << i;
    EXPECT_EQ(sink.final_output().finish_reason, FinishReason::kLength);
    const std::vector<TokenOutput> tokens = sink.tokens();
    ASSERT_EQ(tokens.size(), w.reference[i].size()) << "request " << i;
    for (size_t j = 0; j < tokens.size(); ++j) {
      ASSERT_EQ(tokens[j].token_id, w.reference[i][j].token)
          << "request " << i << " (prompt " << w.prompts[i].size()
          << " tokens), output " << j;
      ASSERT_TRUE(tokens[j].logprob.has_value());
      // Bit-exact: the logits must not depend on the batch.
      ASSERT_EQ(*tokens[j].logprob, w.reference[i][j].logprob)
          << "request " << i << ", output " << j;
    }
  }
}

void RunAllVariants(models::LlamaModel& model, const Workload& w) {
  for (const testing::Variant& v : testing::InvarianceVariants()) {
    SCOPED_TRACE(v.name);
    const RunResult run = RunAll(model, v.config, w);
    ExpectMatchesReference(run, w);
    if (v.expect_preemption) {
      EXPECT_GT(run.stats.num_preemptions, 0);
    }
    if (v.expect_prefix_hits) {
      EXPECT_GT(run.stats.prefix_cache_hits, 0);
    }
    if (!v.config.enable_prefix_caching) {
      EXPECT_EQ(run.stats.prefix_cache_hits, 0);
    }
  }
}

TEST(EngineInvarianceTest, Stories260K) {
  testing::TestModel m = testing::LoadStories(/*num_threads=*/2);
  RunAllVariants(*m.model, MakeWorkload(*m.model, /*seed=*/11));
}

TEST(EngineInvarianceTest, RandomWeightsBf16) {
  testing::TestModel m = testing::LoadDummy(/*num_threads=*/2);
  RunAllVariants(*m.model, MakeWorkload(*m.model, /*seed=*/12));
}

// Every variant (preemption included) with a bf16 KV cache. The references
// differ from the f32-KV ones, so the cache dtype really changed.
TEST(EngineInvarianceTest, Stories260KBf16KvCache) {
  testing::TestModel m = testing::LoadStories(/*num_threads=*/2);
  const Workload f32_kv = MakeWorkload(*m.model, /*seed=*/14);
  ASSERT_TRUE(m.model->SetKvCacheDType(kernels::DType::kBF16).ok());
  ASSERT_EQ(m.model->MakeKvCacheShape(1, 16).dtype, kernels::DType::kBF16);
  const Workload w = MakeWorkload(*m.model, /*seed=*/14);
  int num_differing = 0;
  for (size_t i = 0; i < w.reference.size(); ++i) {
    for (size_t j = 0; j < w.reference[i].size(); ++j) {
      num_differing +=
          w.reference[i][j].logprob != f32_kv.reference[i][j].logprob;
    }
  }
  EXPECT_GT(num_differing, 0);
  RunAllVariants(*m.model, w);
}

// The padded decode path of CUDA graphs, taken eagerly on the CPU
// (pad_decode_without_graphs): padding rows must neither change the real
// rows nor write KV, with preemption and prefix hits as well.
TEST(EngineInvarianceTest, PaddedDecodePathIsInvariant) {
  testing::TestModel m = testing::LoadDummy(/*num_threads=*/2);
  const Workload w = MakeWorkload(*m.model, /*seed=*/13);
  for (const testing::Variant& v : testing::InvarianceVariants()) {
    if (v.name != "batched_chunked_prefix" && v.name != "preemption") continue;
    SCOPED_TRACE(v.name);
    EngineConfig config = v.config;
    config.pad_decode_without_graphs = true;
    const int64_t padded_before = m.model->num_padded_decode_steps();
    const RunResult run = RunAll(*m.model, config, w);
    ExpectMatchesReference(run, w);
    EXPECT_GT(m.model->num_padded_decode_steps(), padded_before);
    EXPECT_EQ(m.model->num_decode_graphs(), 0);  // No graphs on the CPU.
  }
}

}  // namespace
}  // namespace infernum::worker
