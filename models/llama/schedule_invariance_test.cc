// Batch invariance of the forward pass on the CPU backend, for both matmul
// precisions: every position's logits are bit-identical whether the prompts
// run as one prefill, token by token, in chunks, or batched together with
// other sequences (StandardSchedules), with 1 or 2 threads. Random bf16
// weights with a shape (k = 96, 160) that leaves k tails in every kernel.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "models/llama/llama_model.h"
#include "models/llama/oracle_schedule.h"

namespace infernum::models {
namespace {

ModelConfig Config() {
  ModelConfig c;
  c.model_type = "llama";
  c.hidden_size = 96;
  c.intermediate_size = 160;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 6;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.vocab_size = 300;
  c.max_position_embeddings = 256;
  c.rms_norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  return c;
}

std::vector<std::vector<int32_t>> Prompts() {
  std::mt19937 rng(11);
  std::vector<std::vector<int32_t>> prompts;
  for (int len : {1, 6, 23, 70}) {
    std::vector<int32_t> p;
    for (int i = 0; i < len; ++i)
      p.push_back(static_cast<int32_t>(rng() % 300));
    prompts.push_back(std::move(p));
  }
  return prompts;
}

class ScheduleInvarianceTest
    : public ::testing::TestWithParam<kernels::CpuMatmulPrecision> {};

TEST_P(ScheduleInvarianceTest, EveryScheduleGivesTheSameBits) {
  const auto prompts = Prompts();
  std::vector<std::vector<float>> reference;
  for (int threads : {1, 2}) {
    kernels::CpuBackendOptions options;
    options.num_threads = threads;
    options.matmul_precision = GetParam();
    auto backend = kernels::CreateCpuBackend(options);
    auto model =
        LlamaModel::LoadDummy(Config(), kernels::DType::kBF16, 3, *backend);
    ASSERT_TRUE(model.ok()) << model.status();
    ScheduleRunner runner(**model);
    for (const Schedule& s : StandardSchedules()) {
      auto logits = runner.Run(prompts, s);
      ASSERT_TRUE(logits.ok()) << s.name << ": " << logits.status();
      if (reference.empty()) {
        reference = *logits;
        continue;
      }
      for (size_t p = 0; p < prompts.size(); ++p) {
        const std::vector<float>& got = (*logits)[p];
        ASSERT_EQ(got.size(), reference[p].size());
        EXPECT_EQ(std::memcmp(got.data(), reference[p].data(),
                              got.size() * sizeof(float)),
                  0)
            << s.name << ", " << threads << " threads, prompt " << p;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Precisions, ScheduleInvarianceTest,
    ::testing::Values(kernels::CpuMatmulPrecision::kF32,
                      kernels::CpuMatmulPrecision::kBf16),
    [](const ::testing::TestParamInfo<kernels::CpuMatmulPrecision>& info) {
      return std::string(kernels::CpuMatmulPrecisionName(info.param));
    });

}  // namespace
}  // namespace infernum::models
