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
};

// Owns everything a model replica needs. Members are declared so that the
// model is destroyed before the backend that holds its buffers.
struct LoadedModel {
  std::unique_ptr<kernels::Backend> backend;
  models::ModelConfig config;
  std::unique_ptr<models::LlamaModel> model;
  std::unique_ptr<models::Tokenizer> tokenizer;  // Null when not available.
  std::string model_id;  // Directory or config path, for display.
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

}  // namespace infernum::worker
