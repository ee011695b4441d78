// Parameter structs for every Backend op. One struct per op; each field says
// its shape and dtype. "act" is the backend's activation dtype
// (Backend::activation_dtype(): f32 on CPU, bf16 on CUDA). Index tensors are
// i32. Shapes use: n = number of tokens in the step, h = hidden size,
// nh = query heads, nkv = key/value heads, hd = head dim, V = vocab.
//
// Unless stated, outputs must not alias inputs. Ops are enqueued on the given
// stream; the CPU backend runs them synchronously.
#pragma once

#include <cstdint>

#include "kernels/tensor.h"

namespace infernum::kernels {

// out[i, :] = table[ids[i], :] converted to out.dtype. Also used to gather
// rows of activations (e.g. the last token of each sequence).
struct EmbeddingParams {
  Tensor table;  // [rows, h], f32/bf16/f16.
  Tensor ids;    // [n] i32, each in [0, rows).
  Tensor out;    // [n, h] act.
};

// If residual is defined: residual += x (in place), then
// out = residual / rms(residual) * weight. Otherwise out = x / rms(x) * weight.
// rms(v) = sqrt(mean(v^2) + eps), computed in f32. out may alias x.
struct RmsNormParams {
  Tensor x;         // [n, h] act.
  Tensor residual;  // Optional [n, h] act, updated in place.
  Tensor weight;    // [h] f32/bf16/f16.
  Tensor out;       // [n, h] act.
  float eps = 1e-5f;
};

// Rotary embedding in the rotate_half (GPT-NeoX / HF Llama) layout, in place:
// for each head and j < hd/2, (x[j], x[j + hd/2]) is rotated by the angle
// positions[i] * inv_freq[j], with the angle, cos and sin computed in f32.
struct RopeParams {
  Tensor q;          // [n, nh, hd] act, in place.
  Tensor k;          // [n, nkv, hd] act, in place.
  Tensor positions;  // [n] i32.
  Tensor inv_freq;   // [hd/2] f32, from ComputeRopeInvFreq (rope.h).
};

// out = x @ w^T (+ out when accumulate). f32 accumulation.
struct MatmulParams {
  Tensor x;    // [m, k] act.
  Tensor w;    // [n, k] f32/bf16/f16 (HF Linear layout, row-major).
  Tensor out;  // [m, n] act.
  bool accumulate = false;
};

// One matmul whose output columns go to separate contiguous tensors:
// outs[i] = x @ (rows [r_i, r_i + n_i) of w)^T, r_i = n_0 + ... + n_(i-1),
// for i < num_outs, and n_0 + ... + n_(num_outs - 1) = w.dim(0). The same
// result as one Matmul per row block of w (bit for bit on the CPU), with x
// prepared once and all columns in one parallel loop: q, k and v from a
// fused qkv weight.
struct SplitMatmulParams {
  static constexpr int kMaxOuts = 4;
  Tensor x;               // [m, k] act.
  Tensor w;               // [n, k] f32/bf16/f16.
  Tensor outs[kMaxOuts];  // outs[i]: [m, n_i] act, i < num_outs.
  int num_outs = 0;       // 1..kMaxOuts.
};

// out = silu(x[:, :d]) * x[:, d:], d = out.dim(1).
struct SiluMulParams {
  Tensor x;    // [n, 2d] act: gate then up.
  Tensor out;  // [n, d] act.
};

// out = a + b, elementwise. out may alias a or b.
struct AddParams {
  Tensor a;    // [n, h] act.
  Tensor b;    // [n, h] act.
  Tensor out;  // [n, h] act.
};

// Scatters this step's keys and values into the paged KV cache:
// cache[slot / block_size, slot % block_size, :, :] = k[i] for slot =
// slot_mapping[i]; slot < 0 skips the token.
struct WriteKvCacheParams {
  Tensor k;             // [n, nkv, hd] act.
  Tensor v;             // [n, nkv, hd] act.
  Tensor k_cache;       // [num_blocks, block_size, nkv, hd] (cache dtype).
  Tensor v_cache;       // [num_blocks, block_size, nkv, hd] (cache dtype).
  Tensor slot_mapping;  // [n] i32.
};

// Causal attention over the paged KV cache for a variable-length batch of
// sequences (prefill chunks and decodes mixed). Sequence s owns query rows
// [query_start_loc[s], query_start_loc[s+1]) and has seq_lens[s] tokens of
// context in the cache, this step's tokens included (write them first with
// WriteKvCache). Query row r of s sits at position
// seq_lens[s] - query_len(s) + r and attends to cache positions [0, that].
// Logical position p of s lives in block block_tables[s, p / block_size] at
// offset p % block_size. Query head qh reads KV head qh / (nh / nkv).
// Softmax in f32 with scale applied to q.k. A sequence with seq_lens[s] == 0
// is padding (CUDA-graph buckets): its rows attend to nothing and their
// output is zero.
struct PagedAttentionParams {
  Tensor q;                // [n, nh, hd] act.
  Tensor k_cache;          // [num_blocks, block_size, nkv, hd].
  Tensor v_cache;          // [num_blocks, block_size, nkv, hd].
  Tensor block_tables;     // [num_seqs, max_blocks_per_seq] i32.
  Tensor query_start_loc;  // [num_seqs + 1] i32, query_start_loc[0] == 0.
  Tensor seq_lens;         // [num_seqs] i32.
  Tensor out;              // [n, nh, hd] act.
  float scale = 1.0f;      // Usually 1/sqrt(hd).
  int num_seqs = 0;        // Host copy of seq_lens.dim(0).
  int max_query_len = 0;   // Host-side bound, for launch sizing.
  int max_seq_len = 0;     // Host-side bound, for launch sizing.
};

// out[i] = argmax_j x[i, j] (the lowest index on ties).
struct ArgmaxParams {
  Tensor x;    // [n, V] f32.
  Tensor out;  // [n] i32.
};

// out[i, :] = softmax(x[i, :]) in f32. out may alias x.
struct SoftmaxParams {
  Tensor x;    // [n, V] f32.
  Tensor out;  // [n, V] f32.
};

// out = x converted to out.dtype (same shape).
struct CastParams {
  Tensor x;
  Tensor out;
};

}  // namespace infernum::kernels
