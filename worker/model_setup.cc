#include "worker/model_setup.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "common/status.h"
#include "kernels/cuda/cuda_backend.h"
#include "models/io/safetensors.h"
#include "models/kv_cache.h"

namespace infernum::worker {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<models::ModelConfig> LoadConfig(const ModelSetupOptions& o) {
  if (!o.config_path.empty()) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(o.config_path));
    auto config = models::ParseModelConfig(text, "");
    if (!config.ok()) return Annotate(config.status(), o.config_path);
    return config;
  }
  return models::LoadModelConfig(o.model_dir);
}

std::string GiB(int64_t bytes) {
  return absl::StrFormat("%.2f GiB", static_cast<double>(bytes) / (1 << 30));
}

// A step of `num_tokens` prompt tokens split into sequences of at most
// `max_len` tokens, each on its own consecutive blocks, with logits for the
// last `num_logits` rows. Sets *num_blocks to the blocks it uses.
models::ForwardBatch ProfileBatch(int num_tokens, int max_len, int num_logits,
                                  int block_size, int vocab, int* num_blocks) {
  models::ForwardBatch b;
  const int seq_cap = std::min(num_tokens, max_len);
  b.max_blocks_per_seq = (seq_cap + block_size - 1) / block_size;
  b.query_start_loc = {0};
  int next_block = 0;
  for (int done = 0; done < num_tokens;) {
    const int len = std::min(seq_cap, num_tokens - done);
    const int first_slot = next_block * block_size;
    for (int i = 0; i < len; ++i) {
      b.token_ids.push_back(
          static_cast<int32_t>(int64_t{done + i} * 7919 % vocab));
      b.positions.push_back(i);
      b.slot_mapping.push_back(first_slot + i);
    }
    for (int j = 0; j < b.max_blocks_per_seq; ++j) {
      const bool used = j * block_size < len;
      b.block_tables.push_back(used ? next_block + j : 0);
    }
    next_block += (len + block_size - 1) / block_size;
    done += len;
    b.query_start_loc.push_back(done);
    b.seq_lens.push_back(len);
  }
  for (int r = num_tokens - num_logits; r < num_tokens; ++r) {
    b.logits_indices.push_back(r);
  }
  *num_blocks = next_block;
  return b;
}

// Runs ProfileBatch through the model on a scratch cache that is freed on
// return (and, on CUDA, handed back to the driver).
absl::Status RunProfileStep(LoadedModel& loaded, const DeviceMemoryOptions& o,
                            int max_len) {
  const int tokens = o.max_num_batched_tokens;
  const int logits = std::min(o.max_num_seqs, tokens);
  int num_blocks = 0;
  const models::ForwardBatch batch =
      ProfileBatch(tokens, max_len, logits, o.block_size,
                   loaded.config.vocab_size, &num_blocks);
  {
    ASSIGN_OR_RETURN(models::KvCache cache,
                     models::KvCache::Create(*loaded.backend,
                                             loaded.model->MakeKvCacheShape(
                                                 num_blocks, o.block_size)));
    std::vector<float> out;
    RETURN_IF_ERROR(loaded.model->Forward(batch, cache, out, nullptr));
  }
  if (kernels::CudaBackend* cuda = kernels::AsCudaBackend(loaded.backend.get());
      cuda != nullptr) {
    RETURN_IF_ERROR(cuda->ReleaseCachedMemory());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<kernels::DType> ParseWeightDType(const std::string& name) {
  if (name == "f32" || name == "float32") return kernels::DType::kF32;
  if (name == "bf16" || name == "bfloat16") return kernels::DType::kBF16;
  if (name == "f16" || name == "float16") return kernels::DType::kF16;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown dtype '", name, "' (expected f32, bf16 or f16)"));
}

absl::StatusOr<LoadedModel> SetupModel(const ModelSetupOptions& o) {
  namespace fs = std::filesystem;
  const bool dummy = o.load_format == "dummy";
  if (o.load_format != "auto" && !dummy) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown --load-format '", o.load_format,
                     "' (expected auto or dummy)"));
  }
  if (o.model_dir.empty() == o.config_path.empty()) {
    return absl::InvalidArgumentError(
        "give exactly one of --model DIR or --config FILE");
  }
  if (!o.config_path.empty() && !dummy) {
    return absl::InvalidArgumentError(
        "--config needs --load-format dummy (it has no weights)");
  }
  std::error_code ec;
  if (!o.model_dir.empty() && !fs::is_directory(o.model_dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat("model directory not found: ", o.model_dir));
  }
  auto kv_dtype = models::ParseKvCacheDType(o.kv_cache_dtype);
  if (!kv_dtype.ok()) return Annotate(kv_dtype.status(), "--kv-cache-dtype");
  LoadedModel out;
  out.model_id = o.model_dir.empty() ? o.config_path : o.model_dir;
  ASSIGN_OR_RETURN(out.config, LoadConfig(o));
  ASSIGN_OR_RETURN(out.backend, kernels::CreateBackend(o.backend));
  // Checked before the (slow) weight load; set on the model after it.
  RETURN_IF_ERROR(
      models::ResolveKvCacheDType(*out.backend, *kv_dtype).status());
  out.cuda_graphs =
      o.cuda_graphs && out.backend->device_type() == kernels::DeviceType::kCuda;
  if (dummy) {
    ASSIGN_OR_RETURN(kernels::DType dtype, ParseWeightDType(o.dummy_dtype));
    ASSIGN_OR_RETURN(out.model,
                     models::LlamaModel::LoadDummy(out.config, dtype,
                                                   o.dummy_seed, *out.backend));
  } else {
    ASSIGN_OR_RETURN(auto source, models::WeightSource::Open(o.model_dir));
    ASSIGN_OR_RETURN(
        out.model, models::LlamaModel::Load(out.config, *source, *out.backend));
  }
  RETURN_IF_ERROR(out.model->SetKvCacheDType(*kv_dtype));
  const bool has_tokenizer =
      !o.model_dir.empty() &&
      fs::exists(fs::path(o.model_dir) / "tokenizer.json", ec);
  if (has_tokenizer) {
    ASSIGN_OR_RETURN(out.tokenizer,
                     models::Tokenizer::FromDirectory(o.model_dir));
  } else if (o.need_tokenizer) {
    return absl::NotFoundError(
        absl::StrCat("no tokenizer.json in ", out.model_id));
  }
  return out;
}

std::vector<int32_t> DefaultStopTokenIds(const LoadedModel& loaded) {
  std::vector<int32_t> ids = loaded.config.eos_token_ids;
  if (loaded.tokenizer && loaded.tokenizer->eos_token_id()) {
    ids.push_back(*loaded.tokenizer->eos_token_id());
  }
  std::optional<int32_t> bos = loaded.config.bos_token_id;
  if (!bos && loaded.tokenizer) bos = loaded.tokenizer->bos_token_id();
  if (bos) ids.push_back(*bos);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

absl::StatusOr<KvCachePlan> PlanKvCache(const KvCachePlanInputs& in) {
  if (!(in.gpu_memory_utilization > 0) || in.gpu_memory_utilization > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("gpu_memory_utilization must be in (0, 1], got ",
                     in.gpu_memory_utilization));
  }
  if (in.bytes_per_block <= 0 || in.block_size <= 0 || in.max_model_len <= 0 ||
      in.free_bytes < 0 || in.workspace_bytes < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KV cache plan: bad inputs (bytes_per_block ", in.bytes_per_block,
        ", block_size ", in.block_size, ", max_model_len ", in.max_model_len,
        ", free ", in.free_bytes, ", workspace ", in.workspace_bytes, ")"));
  }
  KvCachePlan plan;
  const int64_t left = std::max<int64_t>(0, in.free_bytes - in.workspace_bytes);
  plan.usable_bytes = static_cast<int64_t>(static_cast<double>(left) *
                                           in.gpu_memory_utilization);
  plan.num_blocks = plan.usable_bytes / in.bytes_per_block;
  plan.kv_cache_bytes = plan.num_blocks * in.bytes_per_block;
  plan.min_blocks =
      (int64_t{in.max_model_len} + in.block_size - 1) / in.block_size;
  if (plan.num_blocks < plan.min_blocks) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "not enough device memory for the KV cache: ", GiB(in.free_bytes),
        " free after the weights, minus ", GiB(in.workspace_bytes),
        " for activations, times gpu_memory_utilization ",
        in.gpu_memory_utilization, " leaves ", GiB(plan.usable_bytes), " = ",
        plan.num_blocks * in.block_size, " tokens, but one max_model_len (",
        in.max_model_len, "-token) sequence needs ",
        GiB(plan.min_blocks * in.bytes_per_block),
        "; lower --max-model-len, lower --max-num-batched-tokens, raise "
        "--gpu-memory-utilization, or use a GPU with more memory"));
  }
  return plan;
}

absl::StatusOr<KvCachePlan> PlanKvCacheOnDevice(LoadedModel& loaded,
                                                const DeviceMemoryOptions& o) {
  if (o.block_size <= 0 || o.max_num_batched_tokens <= 0 ||
      o.max_num_seqs <= 0 || o.max_model_len < 0 ||
      !(o.gpu_memory_utilization > 0) || o.gpu_memory_utilization > 1) {
    return absl::InvalidArgumentError(
        "KV cache plan: block_size, max_num_batched_tokens and max_num_seqs "
        "must be positive, max_model_len >= 0, gpu_memory_utilization in "
        "(0, 1]");
  }
  const int max_len = o.max_model_len > 0
                          ? o.max_model_len
                          : loaded.config.max_position_embeddings;
  ASSIGN_OR_RETURN(const size_t free_before, loaded.backend->FreeMemory());
  absl::Status profiled = RunProfileStep(loaded, o, max_len);
  if (!profiled.ok()) {
    return Annotate(profiled,
                    absl::StrCat("profile step of ", o.max_num_batched_tokens,
                                 " tokens (lower --max-num-batched-tokens)"));
  }
  ASSIGN_OR_RETURN(const size_t free_after, loaded.backend->FreeMemory());
  const int64_t kept = std::max<int64_t>(
      0, static_cast<int64_t>(free_before) - static_cast<int64_t>(free_after));
  KvCachePlanInputs in;
  in.free_bytes = static_cast<int64_t>(free_before);
  in.workspace_bytes = kept + kGpuMemoryReserveBytes;
  in.gpu_memory_utilization = o.gpu_memory_utilization;
  in.bytes_per_block = static_cast<int64_t>(
      loaded.model->MakeKvCacheShape(1, o.block_size).BytesPerBlock());
  in.block_size = o.block_size;
  in.max_model_len = max_len;
  ASSIGN_OR_RETURN(KvCachePlan plan, PlanKvCache(in));
  LOG(INFO) << "KV cache plan: " << GiB(in.free_bytes)
            << " free after weights, workspace " << GiB(kept) << " + reserve "
            << GiB(kGpuMemoryReserveBytes) << ", utilization "
            << o.gpu_memory_utilization << " -> " << plan.num_blocks
            << " blocks (" << GiB(plan.kv_cache_bytes) << ", "
            << plan.num_blocks * o.block_size << " tokens)";
  return plan;
}

}  // namespace infernum::worker
