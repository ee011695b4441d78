// Settings of the infernum-worker process: a YAML file (--config FILE) whose
// keys are the snake_case names below, overridden by command-line flags of
// the same name in kebab-case (--max-num-seqs 64). See docs in the fields.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/args.h"

namespace infernum::worker {

struct WorkerConfig {
  std::string model;  // HF model directory (required unless dummy + config).
  std::string model_config;          // A config.json alone (load_format dummy).
  std::string load_format = "auto";  // auto | dummy
  std::string dummy_dtype = "bf16";  // f32 | bf16 | f16 (dummy weights)
  std::string served_model_name;  // Default: basename of `model` (or config).
  std::string backend = "cpu";    // cpu | cuda
  int threads = 0;                // CPU threads; 0 = all cores.
  // CPU matmuls with bf16 weights: "f32" (exact, default) or "bf16"
  // (activations rounded to bf16, llama.cpp-style; faster batched decode).
  std::string cpu_matmul_precision = "f32";
  // KV cache dtype: "auto" (the activation dtype: f32 on cpu, bf16 on cuda)
  // | "bf16" (cpu: half the KV memory and bandwidth per token) | "f32" |
  // "f16" (see models::ParseKvCacheDType; a dtype the backend does not
  // support fails at startup, naming the backend).
  std::string kv_cache_dtype = "auto";
  std::string listen = "0.0.0.0:50051";  // host:port; port 0 = pick a free one.
  std::string worker_id;                 // Default: <hostname>:<bound port>.
  // Prometheus GET /metrics over HTTP on host:port (port 0 = pick a free
  // one); "" (the default) serves no metrics.
  std::string metrics_listen;
  // KV cache size in bytes; 0 = automatic: on the CPU backend enough for
  // max_num_seqs full-length sequences, capped at kDefaultKvCacheCap; on
  // CUDA the device memory left after the weights and the activation
  // workspace, times gpu_memory_utilization (worker::PlanKvCacheOnDevice).
  int64_t kv_cache_memory = 0;
  // CUDA, kv_cache_memory 0: the fraction of the free device memory (after
  // weights and workspace) the KV cache takes; in (0, 1].
  double gpu_memory_utilization = 0.9;
  // CUDA: decode steps replay captured CUDA graphs (--no-cuda-graphs: eager).
  bool cuda_graphs = true;
  int block_size = 16;
  int max_num_seqs = 256;
  int max_num_batched_tokens = 2048;
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;
  int max_model_len = 0;  // 0 = the model's max_position_embeddings.
  // SIGTERM/SIGINT: time in-flight requests get to finish before they are
  // aborted and the process exits.
  double shutdown_grace_seconds = 30.0;
};

inline constexpr int64_t kDefaultKvCacheCap = int64_t{2} << 30;  // 2 GiB

// Parses "1073741824", "256MiB", "1GiB", "1.5GB", "512k" (case-insensitive;
// K/M/G/T = powers of 1000, KiB/MiB/GiB/TiB = powers of 1024, optional
// trailing "B"). InvalidArgument naming `what` for anything else, for
// negative values and for values that overflow int64.
absl::StatusOr<int64_t> ParseByteSize(const std::string& text,
                                      const std::string& what);

// The flags infernum-worker accepts (--config plus one per setting, --help).
const std::vector<cli::FlagSpec>& WorkerFlagSpecs();

// Builds the config: defaults, then the YAML file named by --config (if
// any), then the other flags. Validates ranges and combinations.
// InvalidArgument / NotFound with a one-line message naming the key or flag.
absl::StatusOr<WorkerConfig> LoadWorkerConfig(const cli::ParsedArgs& args);

// Same from a YAML text (no flags); for tests and embedding.
absl::StatusOr<WorkerConfig> WorkerConfigFromYaml(const std::string& yaml_text);

// Checks ranges and combinations; InvalidArgument naming the field.
absl::Status ValidateWorkerConfig(const WorkerConfig& config);

// served_model_name, or the basename of model / model_config.
std::string ServedModelName(const WorkerConfig& config);

}  // namespace infernum::worker
