#include "cli/model_flags.h"

#include "absl/strings/str_cat.h"

namespace infernum::cli {

const std::vector<FlagSpec>& ModelFlagSpecs() {
  static const auto* specs = new std::vector<FlagSpec>{
      {"model", FlagType::kString,
       "model directory (config.json, safetensors, tokenizer)"},
      {"config", FlagType::kString,
       "a config.json alone (with --load-format dummy)"},
      {"load-format", FlagType::kString, "auto | dummy (random weights)"},
      {"dtype", FlagType::kString,
       "dummy weight dtype: f32 | bf16 | f16 (default bf16)"},
      {"backend", FlagType::kString, "cpu | cuda (default cpu)"},
      {"threads", FlagType::kInt, "CPU threads (default: all cores)"},
      {"cpu-matmul-precision", FlagType::kString,
       "f32 (exact, default) | bf16 (bf16 activations for bf16 weights, "
       "AVX512-BF16 dot products)"},
      {"kv-cache-dtype", FlagType::kString,
       "KV cache dtype: auto (the activation dtype: f32 on cpu, bf16 on "
       "cuda; default) | bf16 (cpu: half the KV memory and bandwidth) | f32"},
      {"cuda-graphs", FlagType::kBool,
       "cuda: replay decode steps from CUDA graphs (default on; "
       "--no-cuda-graphs)"},
  };
  return *specs;
}

const std::vector<FlagSpec>& SamplingFlagSpecs() {
  static const auto* specs = new std::vector<FlagSpec>{
      {"temperature", FlagType::kFloat, "0 = greedy (default 1)"},
      {"top-k", FlagType::kInt, "keep the k most likely tokens (0 = off)"},
      {"top-p", FlagType::kFloat, "nucleus sampling mass in (0, 1]"},
      {"min-p", FlagType::kFloat, "drop tokens below min_p * p_max"},
      {"repetition-penalty", FlagType::kFloat,
       "HF repetition penalty (> 0, 1 = off)"},
      {"presence-penalty", FlagType::kFloat, "OpenAI presence penalty [-2, 2]"},
      {"frequency-penalty", FlagType::kFloat,
       "OpenAI frequency penalty [-2, 2]"},
      {"seed", FlagType::kInt, "sampling seed (same seed, same output)"},
      {"logprobs", FlagType::kInt,
       "print K top logprobs per token to stderr (JSON lines)"},
  };
  return *specs;
}

absl::StatusOr<worker::SamplingParams> SamplingParamsFromFlags(
    const ParsedArgs& a) {
  worker::SamplingParams p;
  p.temperature = static_cast<float>(a.GetFloat("temperature", 1.0));
  p.top_k = static_cast<int>(a.GetInt("top-k", 0));
  p.top_p = static_cast<float>(a.GetFloat("top-p", 1.0));
  p.min_p = static_cast<float>(a.GetFloat("min-p", 0.0));
  p.repetition_penalty =
      static_cast<float>(a.GetFloat("repetition-penalty", 1.0));
  p.presence_penalty = static_cast<float>(a.GetFloat("presence-penalty", 0.0));
  p.frequency_penalty =
      static_cast<float>(a.GetFloat("frequency-penalty", 0.0));
  if (a.Has("seed")) p.seed = static_cast<uint64_t>(a.GetInt("seed", 0));
  if (a.Has("logprobs")) {
    const int64_t k = a.GetInt("logprobs", 0);
    if (k < 0 || k > worker::kMaxNumLogprobs) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--logprobs must be in [0, ", worker::kMaxNumLogprobs, "]"));
    }
    p.num_logprobs = static_cast<int>(k);
  }
  absl::Status st = p.Validate();
  if (!st.ok()) return st;
  return p;
}

absl::StatusOr<worker::LoadedModel> LoadModelFromFlags(const ParsedArgs& a,
                                                       bool need_tokenizer) {
  worker::ModelSetupOptions o;
  o.model_dir = a.GetString("model", "");
  o.config_path = a.GetString("config", "");
  o.load_format = a.GetString("load-format", "auto");
  o.dummy_dtype = a.GetString("dtype", "bf16");
  o.backend.name = a.GetString("backend", "cpu");
  const int64_t threads = a.GetInt("threads", 0);
  if (threads < 0 || threads > 1024)
    return absl::InvalidArgumentError("--threads must be in [0, 1024]");
  o.backend.num_threads = static_cast<int>(threads);
  o.backend.cpu_matmul_precision = a.GetString("cpu-matmul-precision", "f32");
  o.cuda_graphs = a.GetBool("cuda-graphs", true);
  o.kv_cache_dtype = a.GetString("kv-cache-dtype", "auto");
  o.need_tokenizer = need_tokenizer;
  return worker::SetupModel(o);
}

}  // namespace infernum::cli
