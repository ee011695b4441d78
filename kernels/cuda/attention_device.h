// Internal device helpers shared by the attention kernels (.cu files only).
#pragma once

#include "kernels/cuda/attention_kernels.h"
#include "kernels/cuda/device_util.h"

namespace infernum::kernels::cuda {

using bf16 = __nv_bfloat16;

// 16 bytes (8 bf16) of the K or V vector of context position t of KV head
// kvh, starting at element 8 * chunk. `table` is the sequence's block-table
// row; the block id is clamped into range so bad tables never fault.
__device__ __forceinline__ uint4 LoadKvChunk(const AttentionGeometry& g,
                                             const void* cache,
                                             const int32_t* table, int t,
                                             int kvh, int chunk) {
  int block = table[t / g.block_size];
  block = min(max(block, 0), g.num_blocks - 1);
  const int64_t token =
      static_cast<int64_t>(block) * g.block_size + t % g.block_size;
  const bf16* src = static_cast<const bf16*>(cache) +
                    (token * g.num_kv_heads + kvh) * g.head_dim + chunk * 8;
  return *reinterpret_cast<const uint4*>(src);
}

__device__ __forceinline__ void UnpackBf16x8(const uint4& raw,
                                             float (&out)[8]) {
  Pack16<bf16> pk;
  pk.raw = raw;
#pragma unroll
  for (int i = 0; i < 8; ++i) out[i] = __bfloat162float(pk.v[i]);
}

// The sequence that owns query row `row` and how many context positions the
// row attends to (its position + 1, capped by the block table). valid is
// false for rows no sequence owns and for empty contexts.
struct RowContext {
  int seq;
  int context;
  bool valid;
};

__device__ __forceinline__ RowContext LocateRow(const AttentionGeometry& g,
                                                int64_t row) {
  RowContext rc{0, 0, false};
  const int32_t* qsl = g.query_start_loc;
  if (g.num_seqs <= 0 || row >= qsl[g.num_seqs]) return rc;
  int lo = 0, hi = g.num_seqs - 1;  // Largest s with qsl[s] <= row.
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (qsl[mid] <= row) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  const int64_t q_len = qsl[lo + 1] - qsl[lo];
  int64_t context =
      static_cast<int64_t>(g.seq_lens[lo]) - q_len + (row - qsl[lo]) + 1;
  const int64_t cap = static_cast<int64_t>(g.max_blocks) * g.block_size;
  if (context > cap) context = cap;
  rc.seq = lo;
  rc.context = static_cast<int>(context > 0 ? context : 0);
  rc.valid = context > 0 && row >= qsl[lo];
  return rc;
}

}  // namespace infernum::kernels::cuda
