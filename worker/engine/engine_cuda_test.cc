// Batch invariance of the engine on the CUDA backend (tagged gpu; skipped
// without a device): 32 concurrent greedy requests of mixed lengths, half of
// them sharing a prefix, under chunked prefill on and off, prefix caching on
// and off, tiny step budgets and forced preemption, each compared with the
// request generated alone by SimpleGenerate on the same CUDA model, with
// CUDA graphs on (plain decode steps padded to a bucket and replayed; tokens
// sampled on the device) and off.
//
// Unlike the CPU test (engine_invariance_test), results need not be bit for
// bit equal: on CUDA the kernels depend on the batch's shape (split-K decode
// attention for all-decode steps, the flash kernel for mixed ones; cuBLASLt
// picks an algorithm per GEMM shape), so logits move by bf16 rounding. The
// check is: every token equals the reference, except that a request may
// diverge where the reference's top-2 logit gap is within bf16 noise (it is
// not compared after that point), and every logprob is within tolerance.
// How many logprobs were bit-identical is printed for information.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/testing.h"
#include "kernels/backend.h"
#include "models/io/model_config.h"
#include "models/io/safetensors.h"
#include "models/llama/simple_generate.h"
#include "worker/engine/engine.h"
#include "worker/engine/engine_test_util.h"
#include "worker/engine/output_sink.h"
#include "worker/sampling/logprobs.h"

namespace infernum::worker {
namespace {

constexpr int kNumRequests = 32;
constexpr int kMaxPrompt = 120;
constexpr int kMaxOutput = 24;
// A greedy pick whose top-2 gap is below this (relative to the top logit's
// magnitude, at least 1) may flip under bf16 rounding differences.
constexpr float kTieMargin = 2e-2f;
constexpr float kLogprobAbsTol = 5e-2f, kLogprobRelTol = 2e-2f;

// The CUDA backend, or null when there is no usable device.
std::unique_ptr<kernels::Backend> CudaBackendOrNull() {
  auto b = kernels::CreateBackend({.name = "cuda"});
  if (absl::IsUnavailable(b.status())) return nullptr;
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? std::move(b).value() : nullptr;
}

std::unique_ptr<models::LlamaModel> LoadStories(kernels::Backend& backend) {
  const std::string dir =
      ::infernum::testing::SharedModelsDir() + "/stories260K";
  auto config = models::LoadModelConfig(dir);
  EXPECT_TRUE(config.ok()) << config.status();
  auto source = models::WeightSource::Open(dir);
  EXPECT_TRUE(source.ok()) << source.status();
  if (!config.ok() || !source.ok()) return nullptr;
  auto model = models::LlamaModel::Load(*config, **source, backend);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? std::move(model).value() : nullptr;
}

// bf16 random weights, GQA 8/2 heads of 64 (the flash prefill path; the
// stories260K heads of 8 take the row-parallel fallback).
std::unique_ptr<models::LlamaModel> LoadDummy(kernels::Backend& backend) {
  auto config = models::ParseModelConfig(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
    "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 64,
    "vocab_size": 1000, "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
    "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2,
    "torch_dtype": "bfloat16"})",
                                         "");
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return nullptr;
  auto model =
      models::LlamaModel::LoadDummy(*config, kernels::DType::kBF16, 7, backend);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? std::move(model).value() : nullptr;
}

struct RefStep {
  int32_t token;
  float logprob;
  bool near_tie;  // The top-2 gap is within bf16 noise.
};

std::vector<RefStep> Reference(models::LlamaModel& model,
                               const std::vector<int32_t>& prompt,
                               int max_tokens) {
  std::vector<RefStep> out;
  const int blocks = static_cast<int>((prompt.size() + max_tokens + 16) / 16);
  auto cache = models::KvCache::Create(model.backend(),
                                       model.MakeKvCacheShape(blocks, 16));
  EXPECT_TRUE(cache.ok()) << cache.status();
  if (!cache.ok()) return out;
  models::SimpleGenerateOptions opts;
  opts.max_new_tokens = max_tokens;
  const models::TokenPicker pick =
      [&](absl::Span<const float> l) -> absl::StatusOr<int32_t> {
    std::vector<float> sorted(l.begin(), l.end());
    std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(),
                      std::greater<float>());
    const int32_t token =
        static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    const float gap = sorted[0] - sorted[1];
    out.push_back({token, ComputeRawLogprobs(l, token, 0).chosen,
                   gap < kTieMargin * std::max(1.0f, std::abs(sorted[0]))});
    return token;
  };
  auto generated = models::SimpleGenerate(model, *cache, prompt, opts, pick);
  EXPECT_TRUE(generated.ok()) << generated.status();
  return out;
}

struct Workload {
  std::vector<std::vector<int32_t>> prompts;
  std::vector<int> max_tokens;
  std::vector<std::vector<RefStep>> reference;
};

Workload MakeWorkload(models::LlamaModel& model, uint64_t seed) {
  Workload w;
  w.prompts = testing::RandomPrompts(seed, kNumRequests, 1, kMaxPrompt, 3,
                                     model.config().vocab_size,
                                     /*shared_prefix=*/40);
  for (int i = 0; i < kNumRequests; ++i) {
    w.max_tokens.push_back(1 + (i * 7) % kMaxOutput);
    w.reference.push_back(Reference(model, w.prompts[i], w.max_tokens[i]));
  }
  return w;
}

// Compares one request's outputs with its reference; returns the number of
// bit-identical logprobs.
int ExpectMatches(const CollectingSink& sink, const Workload& w, int i) {
  EXPECT_TRUE(sink.finished()) << "request " << i;
  const std::vector<TokenOutput> tokens = sink.tokens();
  const std::vector<RefStep>& ref = w.reference[i];
  int exact = 0;
  for (size_t j = 0; j < ref.size(); ++j) {
    if (j >= tokens.size()) {
      ADD_FAILURE() << "request " << i << ": " << tokens.size()
                    << " tokens, expected " << ref.size();
      break;
    }
    if (tokens[j].token_id != ref[j].token) {
      EXPECT_TRUE(ref[j].near_tie)
          << "request " << i << " (prompt " << w.prompts[i].size()
          << "), output " << j << ": " << tokens[j].token_id << " vs "
          << ref[j].token << " where the reference's pick is not a near tie";
      break;  // The sequences diverge from here on.
    }
    EXPECT_TRUE(tokens[j].logprob.has_value());
    const float got = tokens[j].logprob.value_or(NAN);
    EXPECT_NEAR(got, ref[j].logprob,
                kLogprobAbsTol + kLogprobRelTol * std::abs(ref[j].logprob))
        << "request " << i << ", output " << j;
    exact += got == ref[j].logprob;
  }
  return exact;
}

void RunVariants(models::LlamaModel& model, uint64_t seed, bool graphs,
                 const std::string& label) {
  const Workload w = MakeWorkload(model, seed);
  int total = 0;
  for (const auto& r : w.reference) total += static_cast<int>(r.size());
  for (const testing::Variant& v : testing::InvarianceVariants()) {
    SCOPED_TRACE(v.name);
    EngineConfig config = v.config;
    config.cuda_graphs = graphs;
    const int64_t padded_before = model.num_padded_decode_steps();
    auto engine = Engine::Create(model, config, {2});
    ASSERT_TRUE(engine.ok()) << engine.status();
    std::vector<std::shared_ptr<CollectingSink>> sinks;
    for (int i = 0; i < kNumRequests; ++i) {
      sinks.push_back(std::make_shared<CollectingSink>());
      ASSERT_TRUE((*engine)
                      ->AddRequest(
                          testing::GreedyRequest(absl::StrCat("r", i),
                                                 w.prompts[i], w.max_tokens[i]),
                          sinks.back())
                      .ok());
    }
    const absl::Status run = testing::RunToCompletion(**engine);
    ASSERT_TRUE(run.ok()) << run;
    const absl::Status leaks = testing::CheckNoLeaks(**engine);
    EXPECT_TRUE(leaks.ok()) << leaks;
    int exact = 0;
    for (int i = 0; i < kNumRequests; ++i) {
      exact += ExpectMatches(*sinks[i], w, i);
    }
    std::printf("[%s/%s] %d of %d logprobs bit-identical to the reference\n",
                label.c_str(), v.name.c_str(), exact, total);
    const EngineStats stats = (*engine)->stats();
    // Plain decode steps replay CUDA graphs exactly when graphs are on.
    if (graphs) {
      EXPECT_GT(model.num_padded_decode_steps(), padded_before);
      EXPECT_GT(model.num_decode_graphs(), 0);
    } else {
      EXPECT_EQ(model.num_padded_decode_steps(), padded_before);
      EXPECT_EQ(model.num_decode_graphs(), 0);
    }
    if (v.expect_preemption) {
      EXPECT_GT(stats.num_preemptions, 0);
    }
    if (v.expect_prefix_hits) {
      EXPECT_GT(stats.prefix_cache_hits, 0);
    }
    if (!v.config.enable_prefix_caching) {
      EXPECT_EQ(stats.prefix_cache_hits, 0);
    }
  }
}

class EngineCudaTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    backend_ = CudaBackendOrNull();
    if (backend_ == nullptr) GTEST_SKIP() << "no usable CUDA device";
  }
  std::unique_ptr<kernels::Backend> backend_;
};

TEST_P(EngineCudaTest, Stories260K) {
  auto model = LoadStories(*backend_);
  ASSERT_NE(model, nullptr);
  RunVariants(*model, /*seed=*/11, GetParam(), "stories260K");
}

TEST_P(EngineCudaTest, RandomWeightsBf16Gqa) {
  auto model = LoadDummy(*backend_);
  ASSERT_NE(model, nullptr);
  RunVariants(*model, /*seed=*/12, GetParam(), "random-gqa");
}

INSTANTIATE_TEST_SUITE_P(Graphs, EngineCudaTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "CudaGraphsOn" : "CudaGraphsOff";
                         });

}  // namespace
}  // namespace infernum::worker
