// The Llama self-attention block over Backend ops: fused QKV projection,
// RoPE, KV-cache write, paged attention, output projection.
#pragma once

#include "absl/status/status.h"
#include "kernels/backend.h"

namespace infernum::models {

// Per-step device metadata shared by every layer (see forward_batch.h and
// PagedAttentionParams for the meaning of each array).
struct AttentionMetadata {
  kernels::Tensor positions;        // [n] i32.
  kernels::Tensor slot_mapping;     // [n] i32.
  kernels::Tensor block_tables;     // [num_seqs, max_blocks_per_seq] i32.
  kernels::Tensor query_start_loc;  // [num_seqs + 1] i32.
  kernels::Tensor seq_lens;         // [num_seqs] i32.
  int num_seqs = 0;
  int max_query_len = 0;
  int max_seq_len = 0;
};

struct AttentionDims {
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  float scale = 1.0f;  // Usually 1 / sqrt(head_dim).
};

struct AttentionArgs {
  kernels::Tensor x;           // [n, h] act: the normed hidden states.
  kernels::Tensor qkv_weight;  // [(nh + 2 nkv) * hd, h]: rows q, k, v.
  kernels::Tensor o_weight;    // [h, nh * hd].
  kernels::Tensor inv_freq;    // [hd / 2] f32.
  kernels::Tensor k_cache;     // [num_blocks, block_size, nkv, hd].
  kernels::Tensor v_cache;     // [num_blocks, block_size, nkv, hd].
  const AttentionMetadata* meta = nullptr;
  // Scratch, act dtype: qkv holds n * (nh + 2 nkv) * hd elements, attn
  // n * nh * hd. Overwritten.
  kernels::Tensor qkv_scratch;
  kernels::Tensor attn_scratch;
  kernels::Tensor out;  // [n, h] act; must not alias x.
};

// Runs the attention block for the n rows of `args.x`, writing this step's
// keys and values into the caches (at meta->slot_mapping) and the projected
// attention output to `args.out`.
absl::Status RunAttention(kernels::Backend& backend, const AttentionDims& dims,
                          const AttentionArgs& args, kernels::Stream* stream);

}  // namespace infernum::models
