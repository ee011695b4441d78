// Internal: launchers for RmsNorm (with the fused residual add), rotary
// embedding (optionally fused with the KV-cache write) and WriteKvCache.
#pragma once

#include "kernels/cuda/launch_common.h"

namespace infernum::kernels::cuda {

// Per row: if residual: residual = act(residual + x) in place, v = residual;
// else v = x. out = v / sqrt(mean(v^2) + eps) * weight, in f32, rounded to
// act. out may alias x.
struct RmsNormLaunch {
  const void* x;       // [rows, hidden] act.
  void* residual;      // [rows, hidden] act, or null.
  const void* weight;  // [hidden] f32/bf16/f16.
  ElemType weight_type;
  void* out;          // [rows, hidden] act.
  ElemType act_type;  // f32 or bf16.
  int64_t rows, hidden;
  float eps;
};
cudaError_t LaunchRmsNorm(const RmsNormLaunch& p, cudaStream_t stream);

// Rotates q and k in place (rotate_half layout, angle = pos * inv_freq[j] in
// f32). When k_cache is set, also writes the rotated k and the untouched v of
// token i into cache slot slot_mapping[i] (skipped when the slot is negative
// or >= num_slots), exactly as Rope followed by WriteKvCache would.
struct RopeLaunch {
  void* q;  // [n, num_heads, head_dim] act.
  void* k;  // [n, num_kv_heads, head_dim] act.
  ElemType act_type;
  const int32_t* positions;  // [n].
  const float* inv_freq;     // [head_dim / 2].
  int64_t n;
  int num_heads, num_kv_heads, head_dim;
  // Fused cache write (optional).
  const void* v;  // [n, num_kv_heads, head_dim] act.
  void* k_cache;  // [num_blocks, block_size, num_kv_heads, head_dim] act.
  void* v_cache;
  const int32_t* slot_mapping;  // [n].
  int64_t num_slots;
};
cudaError_t LaunchRope(const RopeLaunch& p, cudaStream_t stream);

// cache[slot_mapping[i]] = k[i] / v[i] (rows of row_bytes bytes); tokens whose
// slot is negative or >= num_slots are skipped.
struct WriteKvCacheLaunch {
  const void* k;
  const void* v;
  void* k_cache;
  void* v_cache;
  const int32_t* slot_mapping;
  int64_t n, num_slots, row_bytes;
};
cudaError_t LaunchWriteKvCache(const WriteKvCacheLaunch& p,
                               cudaStream_t stream);

}  // namespace infernum::kernels::cuda
