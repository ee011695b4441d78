#include "worker/engine/engine_test_util.h"

#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status.h"
#include "common/testing.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/io/model_config.h"
#include "models/io/safetensors.h"
#include "models/llama/simple_generate.h"
#include "worker/sampling/logprobs.h"

namespace infernum::worker::testing {

TestModel LoadStories(int num_threads) {
  TestModel t;
  t.backend = kernels::CreateCpuBackend(num_threads);
  const std::string dir =
      ::infernum::testing::SharedModelsDir() + "/stories260K";
  auto config = models::LoadModelConfig(dir);
  CHECK_OK(config.status());
  auto source = models::WeightSource::Open(dir);
  CHECK_OK(source.status());
  auto model = models::LlamaModel::Load(*config, **source, *t.backend);
  CHECK_OK(model.status());
  t.model = std::move(model).value();
  return t;
}

TestModel LoadDummy(int num_threads, uint64_t seed) {
  TestModel t;
  t.backend = kernels::CreateCpuBackend(num_threads);
  constexpr char kConfig[] = R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "hidden_size": 96, "intermediate_size": 200, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 24,
    "vocab_size": 1000, "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
    "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2,
    "torch_dtype": "bfloat16"})";
  auto config = models::ParseModelConfig(kConfig, "");
  CHECK_OK(config.status());
  auto model = models::LlamaModel::LoadDummy(*config, kernels::DType::kBF16,
                                             seed, *t.backend);
  CHECK_OK(model.status());
  t.model = std::move(model).value();
  return t;
}

std::vector<RefToken> GreedyReference(models::LlamaModel& model,
                                      const std::vector<int32_t>& prompt,
                                      int max_tokens,
                                      const std::vector<int32_t>& stop_ids) {
  const int block_size = 16;
  const int num_blocks =
      static_cast<int>((prompt.size() + max_tokens + block_size) / block_size);
  auto cache = models::KvCache::Create(
      model.backend(), model.MakeKvCacheShape(num_blocks, block_size));
  CHECK_OK(cache.status());
  std::vector<RefToken> out;
  models::SimpleGenerateOptions opts;
  opts.max_new_tokens = max_tokens;
  opts.stop_token_ids = stop_ids;
  const models::TokenPicker greedy = models::GreedyPicker();
  const models::TokenPicker pick =
      [&](absl::Span<const float> logits) -> absl::StatusOr<int32_t> {
    ASSIGN_OR_RETURN(const int32_t token, greedy(logits));
    out.push_back({token, ComputeRawLogprobs(logits, token, 0).chosen});
    return token;
  };
  auto generated = models::SimpleGenerate(model, *cache, prompt, opts, pick);
  CHECK_OK(generated.status());
  return out;
}

std::vector<std::vector<int32_t>> RandomPrompts(uint64_t seed, int count,
                                                int min_len, int max_len,
                                                int first_id, int vocab,
                                                int shared_prefix) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> len_dist(min_len, max_len);
  std::uniform_int_distribution<int32_t> id_dist(first_id, vocab - 1);
  std::vector<int32_t> prefix(shared_prefix);
  for (int32_t& id : prefix) id = id_dist(rng);
  std::vector<std::vector<int32_t>> prompts(count);
  for (int i = 0; i < count; ++i) {
    const int len = len_dist(rng);
    if (i % 2 == 0 && shared_prefix > 0) prompts[i] = prefix;
    while (static_cast<int>(prompts[i].size()) < len) {
      prompts[i].push_back(id_dist(rng));
    }
  }
  return prompts;
}

EngineRequest GreedyRequest(const std::string& id, std::vector<int32_t> prompt,
                            int max_tokens) {
  EngineRequest r;
  r.request_id = id;
  r.prompt_token_ids = std::move(prompt);
  r.sampling.temperature = 0.0f;
  r.sampling.num_logprobs = 0;
  r.max_tokens = max_tokens;
  r.ignore_eos = true;
  return r;
}

absl::Status RunToCompletion(Engine& engine, int max_steps) {
  for (int i = 0; i < max_steps && engine.HasUnfinishedRequests(); ++i) {
    RETURN_IF_ERROR(engine.Step());
  }
  if (engine.HasUnfinishedRequests()) {
    return absl::InternalError(
        absl::StrCat("requests still live after ", max_steps, " steps"));
  }
  return absl::OkStatus();
}

absl::Status CheckNoLeaks(const Engine& engine) {
  const BlockManager& bm = engine.scheduler().block_manager();
  RETURN_IF_ERROR(bm.CheckConsistency());
  const BlockManagerStats s = bm.stats();
  if (s.num_used_blocks != 0 ||
      s.num_free_blocks + s.num_evictable_blocks != s.num_blocks) {
    return absl::InternalError(
        absl::StrCat("KV blocks leaked: used ", s.num_used_blocks, ", free ",
                     s.num_free_blocks, ", evictable ", s.num_evictable_blocks,
                     " of ", s.num_blocks));
  }
  if (engine.scheduler().HasUnfinishedRequests() ||
      engine.runner().num_registered_requests() != 0) {
    return absl::InternalError("scheduler or runner still holds requests");
  }
  return absl::OkStatus();
}

std::vector<Variant> InvarianceVariants() {
  EngineConfig base;
  base.block_size = 16;
  base.num_blocks = 1024;
  base.max_num_seqs = 64;
  base.max_num_batched_tokens = 256;
  std::vector<Variant> v;
  v.push_back({"batched_chunked_prefix", base});
  EngineConfig c = base;
  c.max_num_seqs = 1;  // one request at a time, through the engine
  v.push_back({"one_at_a_time", c});
  c = base;
  c.enable_chunked_prefill = false;
  c.max_num_batched_tokens = 4096;
  v.push_back({"no_chunked_prefill", c, false, /*expect_prefix_hits=*/false});
  c = base;
  c.enable_prefix_caching = false;
  v.push_back({"no_prefix_caching", c, false, false});
  c = base;
  c.block_size = 8;
  c.max_num_batched_tokens = 13;  // odd chunks, many steps
  v.push_back({"tiny_budget_block8", c});
  c = base;
  // One request needs at most ceil((120 + 24) / 16) = 9 blocks; 32 of them
  // at once need far more than 20.
  c.num_blocks = 20;
  v.push_back({"preemption", c, true});
  c.enable_prefix_caching = false;
  c.enable_chunked_prefill = false;
  c.max_num_batched_tokens = 512;
  v.push_back({"preemption_no_prefix_no_chunk", c, true, false});
  return v;
}

}  // namespace infernum::worker::testing
