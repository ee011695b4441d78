// ModelConfig: the architecture hyper-parameters of a Llama-family checkpoint,
// parsed from Hugging Face `config.json` (+ optional `generation_config.json`).
//
// Supported architectures: LlamaForCausalLM ("llama"), MistralForCausalLM
// ("mistral") and Qwen3ForCausalLM ("qwen3": Llama plus per-head q/k RMSNorm,
// see `qk_norm`). Anything else, and features Infernum does not implement
// (attention/MLP biases, non-SiLU activations, yarn/dynamic/longrope RoPE,
// Qwen3 sliding-window layers, f64 weights), are rejected with Unimplemented.
// Missing fields take the defaults of the transformers config class of that
// model type (LlamaConfig, MistralConfig, Qwen3Config).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/rope.h"

namespace infernum::models {

struct ModelConfig {
  std::string model_type;  // "llama" | "mistral" | "qwen3".
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;  // Divides num_attention_heads.
  int head_dim = 0;             // Even; not necessarily hidden / heads.
  int vocab_size = 0;
  int max_position_embeddings = 0;
  float rms_norm_eps = 0.0f;
  float rope_theta = 0.0f;
  kernels::RopeScaling rope_scaling;  // type "default" | "linear" | "llama3".
  bool tie_word_embeddings =
      false;                    // lm_head shares model.embed_tokens.weight.
  bool attention_bias = false;  // Always false (true is rejected).
  bool mlp_bias = false;        // Always false (true is rejected).
  // Qwen3: RMSNorm over each head's q and k (weights self_attn.q_norm.weight
  // and self_attn.k_norm.weight, [head_dim]) before RoPE.
  bool qk_norm = false;
  // Mistral: sliding-window attention span, when the config sets one. The
  // engine must honour it or limit contexts to this many tokens.
  std::optional<int> sliding_window;
  std::optional<int32_t> bos_token_id;
  // config.json eos (int or list) then generation_config.json eos, in that
  // order, deduplicated. Every id is in [0, vocab_size).
  std::vector<int32_t> eos_token_ids;
  std::string torch_dtype;  // "float32" | "bfloat16" | "float16".

  int q_size() const { return num_attention_heads * head_dim; }
  int kv_size() const { return num_key_value_heads * head_dim; }
};

// Parses and validates a config. `generation_config_json` may be empty (no
// such file). Errors: InvalidArgument for malformed JSON, wrong types or
// inconsistent values (the message names the file and the field);
// Unimplemented for unsupported architectures or features.
absl::StatusOr<ModelConfig> ParseModelConfig(
    std::string_view config_json, std::string_view generation_config_json);

// Reads `dir`/config.json (required; NotFound if missing) and
// `dir`/generation_config.json (optional) and parses them; messages name the
// files by path.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& dir);

}  // namespace infernum::models
