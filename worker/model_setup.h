// Loading a served model: backend, config, weights and tokenizer, as the CLI,
// the benchmarks and the gRPC worker all do it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "models/io/model_config.h"
#include "models/llama/llama_model.h"
#include "models/tokenizer/tokenizer.h"

namespace infernum::worker {

struct ModelSetupOptions {
  std::string
      model_dir;  // HF-layout directory (config.json, weights, tokenizer).
  std::string config_path;  // A config.json alone (needs load_format "dummy").
  std::string load_format = "auto";  // "auto" (safetensors) | "dummy" (random).
  std::string dummy_dtype =
      "bf16";  // Weight dtype for dummy: f32 | bf16 | f16.
  uint64_t dummy_seed = 0;
  kernels::BackendOptions backend;
  bool need_tokenizer = true;  // Error if the directory has no tokenizer.json.
  // CUDA: decode steps may replay captured CUDA graphs (--no-cuda-graphs
  // turns this off). Copied to LoadedModel::cuda_graphs for the model runner;
  // ignored on other backends.
  bool cuda_graphs = true;
  // KV cache dtype (--kv-cache-dtype): "auto" (the activation dtype: f32 on
  // cpu, bf16 on cuda) | "f32" | "bf16" | "f16" (models::ParseKvCacheDType).
  // Set on the model, so every MakeKvCacheShape caller gets it. A dtype the
  // backend cannot attend over is an InvalidArgument from SetupModel.
  std::string kv_cache_dtype = "auto";
};

// Owns everything a model replica needs. Members are declared so that the
// model is destroyed before the backend that holds its buffers.
struct LoadedModel {
  std::unique_ptr<kernels::Backend> backend;
  models::ModelConfig config;
  std::unique_ptr<models::LlamaModel> model;
  std::unique_ptr<models::Tokenizer> tokenizer;  // Null when not available.
  std::string model_id;  // Directory or config path, for display.
  // Whether the runner should capture decode steps as CUDA graphs: true only
  // on the CUDA backend with ModelSetupOptions::cuda_graphs.
  bool cuda_graphs = false;
};

// Errors: NotFound for a missing directory or file, InvalidArgument for
// malformed files or bad option combinations, Unimplemented for unsupported
// architectures; every message names the offending path or field.
absl::StatusOr<LoadedModel> SetupModel(const ModelSetupOptions& options);

// Token ids that end generation by default: the config's eos ids, the
// tokenizer's eos, and BOS (a model that emits BOS has started a new document;
// TinyStories models such as stories260K end every story that way, as
// llama2.c's run.c does).
std::vector<int32_t> DefaultStopTokenIds(const LoadedModel& loaded);

// Parses "f32" | "bf16" | "f16" (also "float32", "bfloat16", "float16").
absl::StatusOr<kernels::DType> ParseWeightDType(const std::string& name);

// ---- KV cache memory planning on a GPU (vLLM-style) ----

inline constexpr double kDefaultGpuMemoryUtilization = 0.9;
// Device memory kept out of the KV cache on top of the measured workspace:
// CUDA graph memory pools, decode split-K partials at long contexts, the
// on-GPU sampler and cuBLAS heuristics that grow after the profile step.
inline constexpr int64_t kGpuMemoryReserveBytes = int64_t{512} << 20;

struct KvCachePlanInputs {
  int64_t free_bytes = 0;  // Device memory free once the weights are loaded.
  // Held back for activations and scratch (measured workspace + reserve).
  int64_t workspace_bytes = 0;
  double gpu_memory_utilization = kDefaultGpuMemoryUtilization;  // (0, 1]
  int64_t bytes_per_block = 0;  // KV bytes of one block, all layers; > 0
  int block_size = 16;          // Tokens per block; > 0
  int max_model_len = 0;        // Tokens of the longest sequence; > 0
};

struct KvCachePlan {
  // (free_bytes - workspace_bytes) * gpu_memory_utilization.
  int64_t usable_bytes = 0;
  int64_t num_blocks = 0;      // usable_bytes / bytes_per_block
  int64_t kv_cache_bytes = 0;  // num_blocks * bytes_per_block
  int64_t min_blocks = 0;      // What one max_model_len sequence needs.
};

// The KV cache size for the inputs: as many whole blocks as fit in
// usable_bytes. InvalidArgument for inputs out of range; ResourceExhausted
// when the blocks do not hold one max_model_len sequence (the message gives
// every figure and what to change).
absl::StatusOr<KvCachePlan> PlanKvCache(const KvCachePlanInputs& inputs);

struct DeviceMemoryOptions {
  double gpu_memory_utilization = kDefaultGpuMemoryUtilization;
  int block_size = 16;
  int max_model_len = 0;  // 0 = the model's max_position_embeddings.
  int max_num_batched_tokens = 2048;  // The largest step (workspace size).
  int max_num_seqs = 256;             // The most logits rows of a step.
};

// Sizes the KV cache from the device's free memory. Runs one profile
// forward pass of max_num_batched_tokens tokens (logits for
// min(max_num_seqs, tokens) rows) through loaded.model on a scratch KV
// cache, so that the model's activation workspace and the backend's scratch
// reach their largest size and stay allocated; frees the scratch cache
// (returning cached blocks to the driver on CUDA), then calls PlanKvCache
// with free_bytes = FreeMemory() before the pass and workspace_bytes = what
// the pass kept + kGpuMemoryReserveBytes. Call once, after SetupModel and
// before the engine allocates its cache; mutates only the model's
// workspace. Errors: those of PlanKvCache, or of the profile pass
// (ResourceExhausted when the step itself does not fit).
absl::StatusOr<KvCachePlan> PlanKvCacheOnDevice(
    LoadedModel& loaded, const DeviceMemoryOptions& options);

}  // namespace infernum::worker
