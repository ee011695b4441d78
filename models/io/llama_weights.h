// The Hugging Face Llama tensor layout (also Mistral and Qwen3), and a check
// that a checkpoint holds every tensor of it with the right shape.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "models/io/model_config.h"
#include "models/io/safetensors.h"

namespace infernum::models {

struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
};

// Every tensor a Llama-layout checkpoint for `config` must hold, with its
// shape (HF nn.Linear weights are [out_features, in_features]):
//   model.embed_tokens.weight [V, h]; model.norm.weight [h];
//   per layer i, prefix model.layers.i.:
//     input_layernorm.weight [h], post_attention_layernorm.weight [h],
//     self_attn.q_proj.weight [nh*hd, h], self_attn.{k,v}_proj.weight
//     [nkv*hd, h], self_attn.o_proj.weight [h, nh*hd],
//     (qk_norm only) self_attn.{q,k}_norm.weight [hd],
//     mlp.{gate,up}_proj.weight [I, h], mlp.down_proj.weight [h, I];
//   lm_head.weight [V, h] unless tie_word_embeddings.
std::vector<ExpectedTensor> ExpectedLlamaTensors(const ModelConfig& config);

// Checks that `weights` holds every ExpectedLlamaTensors() entry with exactly
// that shape and an F32/BF16/F16 dtype. With tie_word_embeddings an
// lm_head.weight may still be present (it is then ignored) but, if present,
// must have shape [V, h]. Extra tensors are allowed. InvalidArgument listing
// each problem (tensor name, expected and actual shape) otherwise.
absl::Status ValidateLlamaWeights(const ModelConfig& config,
                                  const WeightSource& weights);

}  // namespace infernum::models
