// FLOP and byte accounting of `infernum bench`: what one batch-1 decode
// step must read (the bandwidth roofline) and what one prefill pass must
// compute (against the GEMM peak). Pure functions of the model's config and
// its loaded weights.
#pragma once

#include <cstdint>

#include "kernels/dtype.h"
#include "models/io/model_config.h"
#include "models/llama/llama_weights.h"

namespace infernum::cli {

// Weight bytes one decode step reads: every layer weight (norms, fused
// q/k/v, o, fused gate/up, down), the final norm, the whole lm_head, and one
// row of the embedding table. An untied embedding table is read one row per
// token, so it is not counted whole (LlamaWeights::total_bytes includes it);
// a tied one is the lm_head and counted once as such. Uses each tensor's own
// dtype.
double DecodeWeightBytesPerStep(const models::LlamaWeights& weights);

// KV cache bytes per token of context: K and V, every layer, in `kv_dtype`
// (2 * layers * kv_heads * head_dim * sizeof).
int64_t KvBytesPerContextToken(const models::ModelConfig& config,
                               kernels::DType kv_dtype);

// The mean context of decode_len decode steps after a prompt_len-token
// prefill: step i (0-based) attends to prompt_len + i + 1 cached tokens.
double MeanDecodeContext(int prompt_len, int decode_len);

// Bytes per decoded token at batch 1: weight_bytes + kv_bytes_per_token *
// mean_context. The roofline is bandwidth / this.
struct DecodeTraffic {
  double weight_bytes = 0;
  double kv_bytes_per_token = 0;
  double mean_context = 0;
  double Total() const {
    return weight_bytes + kv_bytes_per_token * mean_context;
  }
};

// FLOPs of one prefill pass of num_tokens tokens into an empty cache, with
// logits for num_logit_rows rows (multiply-add = 2 FLOPs):
//   matmuls: 2 * num_tokens * layers * (h * (q + 2 kv) + q * h + h * 2 I +
//            I * h), plus 2 * num_logit_rows * h * V for the lm_head;
//   causal attention: QK^T and PV, each 2 * head_dim FLOPs per (query head,
//            query, key) pair, where query i attends to keys 0..i:
//            4 * heads * head_dim * layers * n (n + 1) / 2.
// Norms, RoPE and activations are not counted.
double PrefillFlops(const models::ModelConfig& config, int64_t num_tokens,
                    int64_t num_logit_rows);

}  // namespace infernum::cli
