// End-to-end checks of LlamaModel on the CUDA backend against the CPU backend
// (the exact f32 reference): greedy tokens of stories260K, and the logits of
// a random-weight Llama (GQA, llama3 RoPE) over a mixed schedule of prefill
// chunks and decodes. Tagged gpu; skipped where CreateBackend("cuda") is
// Unavailable.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/testing.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/io/model_config.h"
#include "models/io/safetensors.h"
#include "models/kv_cache.h"
#include "models/llama/llama_model.h"
#include "models/llama/simple_generate.h"

namespace infernum::models {
namespace {

// Gap between the two largest logits: how close a greedy pick was to a tie.
float TopTwoMargin(absl::Span<const float> logits) {
  float a = -INFINITY, b = -INFINITY;
  for (float v : logits) {
    if (v > a) {
      b = a;
      a = v;
    } else if (v > b) {
      b = v;
    }
  }
  return a - b;
}

// The CUDA backend, or null (and the test skips) when there is no device.
std::unique_ptr<kernels::Backend> CudaOrSkip() {
  auto cuda = kernels::CreateBackend({.name = "cuda"});
  if (absl::IsUnavailable(cuda.status())) return nullptr;
  EXPECT_TRUE(cuda.ok()) << cuda.status();
  return cuda.ok() ? std::move(cuda).value() : nullptr;
}

#define SKIP_WITHOUT_CUDA(backend)                                   \
  if ((backend) == nullptr) {                                        \
    GTEST_SKIP() << "no usable CUDA device (CreateBackend(cuda) is " \
                    "Unavailable)";                                  \
  }

struct Generation {
  std::vector<int32_t> tokens;
  std::vector<float> margins;  // TopTwoMargin of each step's logits.
};

Generation Generate(LlamaModel& model, const std::vector<int32_t>& prompt,
                    int max_new_tokens, int prefill_chunk) {
  Generation g;
  auto cache = KvCache::Create(
      model.backend(),
      model.MakeKvCacheShape(
          (static_cast<int>(prompt.size()) + max_new_tokens + 15) / 16, 16));
  EXPECT_TRUE(cache.ok()) << cache.status();
  if (!cache.ok()) return g;
  SimpleGenerateOptions opts;
  opts.max_new_tokens = max_new_tokens;
  opts.prefill_chunk_size = prefill_chunk;
  opts.on_logits = [&](absl::Span<const float> l) {
    g.margins.push_back(TopTwoMargin(l));
  };
  auto out = SimpleGenerate(model, *cache, prompt, opts, GreedyPicker());
  EXPECT_TRUE(out.ok()) << out.status();
  if (out.ok()) g.tokens = *out;
  return g;
}

class StoriesCudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gpu_ = CudaOrSkip();
    SKIP_WITHOUT_CUDA(gpu_);
    const std::string dir =
        infernum::testing::SharedModelsDir() + "/stories260K";
    auto config = LoadModelConfig(dir);
    ASSERT_TRUE(config.ok()) << config.status();
    auto source = WeightSource::Open(dir);
    ASSERT_TRUE(source.ok()) << source.status();
    cpu_ = kernels::CreateCpuBackend(0);
    auto cpu_model = LlamaModel::Load(*config, **source, *cpu_);
    ASSERT_TRUE(cpu_model.ok()) << cpu_model.status();
    cpu_model_ = std::move(cpu_model).value();
    auto gpu_model = LlamaModel::Load(*config, **source, *gpu_);
    ASSERT_TRUE(gpu_model.ok()) << gpu_model.status();
    gpu_model_ = std::move(gpu_model).value();
  }

  // CUDA greedy tokens must equal the CPU ones exactly; a failure names the
  // first differing step and how close the CPU's pick was to a tie there.
  void ExpectSameTokens(const std::vector<int32_t>& prompt, int max_new,
                        int gpu_chunk) {
    const Generation cpu = Generate(*cpu_model_, prompt, max_new, 0);
    const Generation gpu = Generate(*gpu_model_, prompt, max_new, gpu_chunk);
    ASSERT_EQ(cpu.tokens.size(), static_cast<size_t>(max_new));
    ASSERT_EQ(gpu.tokens.size(), cpu.tokens.size());
    for (size_t i = 0; i < cpu.tokens.size(); ++i) {
      ASSERT_EQ(gpu.tokens[i], cpu.tokens[i])
          << "first difference at generated token " << i << " (prompt of "
          << prompt.size() << ", gpu prefill chunk " << gpu_chunk
          << "); CPU top-2 logit margin there " << cpu.margins[i];
    }
  }

  std::unique_ptr<kernels::Backend> cpu_, gpu_;
  std::unique_ptr<LlamaModel> cpu_model_, gpu_model_;
};

// "Once upon a time" as stories260K's tokenizer encodes it (BOS first).
const std::vector<int32_t> kOnceUponATime = {1, 403, 407, 261, 378};

TEST_F(StoriesCudaTest, GreedyFromPromptMatchesCpu) {
  ExpectSameTokens(kOnceUponATime, 64, 0);
}

TEST_F(StoriesCudaTest, GreedyFromBosMatchesCpu) {
  ExpectSameTokens({1}, 255, 0);
}

TEST_F(StoriesCudaTest, ChunkedPrefillOnCudaMatchesCpu) {
  // A 40-token prompt (the CPU's own continuation of the prompt above) in
  // chunks of 7: the flash kernel reads earlier chunks through the blocks.
  const Generation seed = Generate(*cpu_model_, kOnceUponATime, 35, 0);
  std::vector<int32_t> prompt = kOnceUponATime;
  prompt.insert(prompt.end(), seed.tokens.begin(), seed.tokens.end());
  ExpectSameTokens(prompt, 48, 7);
}

// ---- Random-weight Llama: logits within bf16 tolerance of the CPU ----

// GQA (8 query heads, 2 KV heads of 64) with llama3 RoPE scaling.
constexpr char kRandomLlamaConfig[] = R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "hidden_size": 512, "intermediate_size": 1408, "num_hidden_layers": 3,
  "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 64,
  "vocab_size": 2048, "max_position_embeddings": 131072,
  "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
  "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
                   "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192},
  "hidden_act": "silu", "tie_word_embeddings": false,
  "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16"})";

// bf16 activations and KV cache against f32 ones on the same bf16 weights:
// the relative L2 error of each step's logits, and per row the max error
// relative to the row's RMS.
constexpr double kRelL2Tol = 3e-2;
constexpr double kRowMaxTol = 1.5e-1;

// Row-wise comparison of `rows` rows of `vocab` logits; returns how many rows
// picked a different argmax although the CPU's top-2 margin exceeded 10% of
// the row's RMS (a real disagreement, not a near tie).
int ExpectLogitsClose(const std::vector<float>& gpu,
                      const std::vector<float>& cpu, int vocab,
                      const std::string& what) {
  EXPECT_EQ(gpu.size(), cpu.size()) << what;
  if (gpu.size() != cpu.size()) return 0;
  double err2 = 0, ref2 = 0;
  int argmax_mismatches = 0;
  const size_t rows = cpu.size() / vocab;
  for (size_t r = 0; r < rows; ++r) {
    absl::Span<const float> g(gpu.data() + r * vocab, vocab);
    absl::Span<const float> c(cpu.data() + r * vocab, vocab);
    double row2 = 0, row_max_err = 0;
    for (int i = 0; i < vocab; ++i) {
      EXPECT_TRUE(std::isfinite(g[i])) << what << " row " << r << " col " << i;
      const double d = static_cast<double>(g[i]) - c[i];
      err2 += d * d;
      ref2 += static_cast<double>(c[i]) * c[i];
      row2 += static_cast<double>(c[i]) * c[i];
      row_max_err = std::max(row_max_err, std::abs(d));
    }
    const double rms = std::sqrt(row2 / vocab);
    EXPECT_LE(row_max_err, kRowMaxTol * rms) << what << " row " << r;
    const auto ga = std::max_element(g.begin(), g.end()) - g.begin();
    const auto ca = std::max_element(c.begin(), c.end()) - c.begin();
    if (ga != ca && TopTwoMargin(c) > 0.1 * rms) ++argmax_mismatches;
  }
  EXPECT_LE(std::sqrt(err2 / std::max(ref2, 1e-30)), kRelL2Tol) << what;
  return argmax_mismatches;
}

// One sequence of the mixed schedule: its blocks start at first_block.
struct Seq {
  std::vector<int32_t> tokens;  // Everything fed so far, in order.
  int first_block = 0;
  int done = 0;  // Tokens already in the KV cache.
};

// Appends `count` new tokens of `s` (already in s.tokens) to the batch, with
// logits for every row.
void AddRows(Seq& s, int count, int block_size, int max_blocks,
             ForwardBatch& b) {
  for (int i = 0; i < count; ++i) {
    const int pos = s.done + i;
    b.logits_indices.push_back(b.num_tokens());
    b.token_ids.push_back(s.tokens[pos]);
    b.positions.push_back(pos);
    b.slot_mapping.push_back((s.first_block + pos / block_size) * block_size +
                             pos % block_size);
  }
  s.done += count;
  b.query_start_loc.push_back(b.num_tokens());
  b.seq_lens.push_back(s.done);
  for (int j = 0; j < max_blocks; ++j)
    b.block_tables.push_back(s.first_block + j);
}

// The mixed schedule below, with the CUDA model's decode steps (3
// sequences: bucket 4, context buckets 512 and 768) replayed from CUDA
// graphs or run eagerly. At 768 the decode attention splits the context
// (split-K and its reduce kernel, inside the graph).
class RandomLlamaCudaTest : public ::testing::TestWithParam<bool> {};

TEST_P(RandomLlamaCudaTest, LogitsMatchCpuOnMixedSchedule) {
  const bool graphs = GetParam();
  std::unique_ptr<kernels::Backend> gpu = CudaOrSkip();
  SKIP_WITHOUT_CUDA(gpu);
  auto config = ParseModelConfig(kRandomLlamaConfig, "");
  ASSERT_TRUE(config.ok()) << config.status();
  std::unique_ptr<kernels::Backend> cpu = kernels::CreateCpuBackend(0);
  auto cpu_model =
      LlamaModel::LoadDummy(*config, kernels::DType::kBF16, 5, *cpu);
  ASSERT_TRUE(cpu_model.ok()) << cpu_model.status();
  auto gpu_model =
      LlamaModel::LoadDummy(*config, kernels::DType::kBF16, 5, *gpu);
  ASSERT_TRUE(gpu_model.ok()) << gpu_model.status();

  constexpr int kBlock = 16, kMaxBlocks = 48, kVocab = 2048;
  DecodeGraphOptions graph_options;
  graph_options.enabled = graphs;
  graph_options.max_batch_size = 8;
  graph_options.max_context = kMaxBlocks * kBlock;
  graph_options.block_size = kBlock;
  ASSERT_TRUE((*gpu_model)->ConfigureDecodeGraphs(graph_options).ok());
  auto cpu_cache = KvCache::Create(
      *cpu, (*cpu_model)->MakeKvCacheShape(3 * kMaxBlocks, kBlock));
  auto gpu_cache = KvCache::Create(
      *gpu, (*gpu_model)->MakeKvCacheShape(3 * kMaxBlocks, kBlock));
  ASSERT_TRUE(cpu_cache.ok() && gpu_cache.ok());

  // Sequence A: a 500-token prompt at once (its context crosses 512 after
  // 12 decode steps); B: 230 tokens in chunks of 97, 97, 36 (later chunks
  // read earlier ones through the block table); C: joins late with 20
  // tokens. Then all decode (the CPU's greedy token).
  std::vector<Seq> seqs(3);
  const int lengths[3] = {500, 230, 20};
  for (int s = 0; s < 3; ++s) {
    seqs[s].first_block = s * kMaxBlocks;
    for (int i = 0; i < lengths[s]; ++i) {
      seqs[s].tokens.push_back(3 + (i * 131 + s * 977) % (kVocab - 3));
    }
  }
  // Per step: how many rows of each sequence (0 = not in the step).
  const std::vector<std::vector<int>> prefill_steps = {
      {500, 97, 0}, {0, 97, 20}, {0, 36, 0}};
  int mismatches = 0, step = 0;
  auto run_step = [&](const std::vector<int>& rows) {
    ForwardBatch b;
    b.query_start_loc = {0};
    b.max_blocks_per_seq = kMaxBlocks;
    for (int s = 0; s < 3; ++s) {
      if (rows[s] > 0) AddRows(seqs[s], rows[s], kBlock, kMaxBlocks, b);
    }
    std::vector<float> cpu_logits, gpu_logits;
    ASSERT_TRUE((*cpu_model)->Forward(b, *cpu_cache, cpu_logits, nullptr).ok());
    ASSERT_TRUE((*gpu_model)->Forward(b, *gpu_cache, gpu_logits, nullptr).ok());
    mismatches += ExpectLogitsClose(gpu_logits, cpu_logits, kVocab,
                                    absl::StrCat("step ", step++));
    // Each sequence's next token: the CPU's argmax at its last row.
    int row = 0;
    for (int s = 0; s < 3; ++s) {
      if (rows[s] == 0) continue;
      row += rows[s];
      if (seqs[s].done < static_cast<int>(seqs[s].tokens.size())) continue;
      const float* last =
          cpu_logits.data() + static_cast<size_t>(row - 1) * kVocab;
      seqs[s].tokens.push_back(
          static_cast<int32_t>(std::max_element(last, last + kVocab) - last));
    }
  };
  for (const auto& rows : prefill_steps) {
    run_step(rows);
    if (HasFatalFailure()) return;
  }
  for (int d = 0; d < 40 && !HasFatalFailure(); ++d) run_step({1, 1, 1});
  EXPECT_EQ(mismatches, 0)
      << "rows whose argmax differs though the CPU's top-2 margin is clear";
  // Every decode step took the graph path: one graph per context bucket.
  EXPECT_EQ((*gpu_model)->num_padded_decode_steps(), graphs ? 40 : 0);
  EXPECT_EQ((*gpu_model)->num_decode_graphs(), graphs ? 2 : 0);
}

INSTANTIATE_TEST_SUITE_P(Graphs, RandomLlamaCudaTest, ::testing::Bool(),
                         [](const auto& info) {
                           return info.param ? "CudaGraphs" : "Eager";
                         });

}  // namespace
}  // namespace infernum::models
