// Internal: launchers for paged attention over a bf16 KV cache
// ([num_blocks, block_size, num_kv_heads, head_dim]); the op contract is
// PagedAttentionParams in kernels/ops.h. Both kernels read K/V through the
// block tables, so chunked prefill and prefix-cache hits work, and both are
// robust to bad device-resident indices: block ids are clamped into
// [0, num_blocks), contexts to max_blocks * block_size, and rows whose
// context is empty or that no sequence owns are written as zeros.
#pragma once

#include "kernels/cuda/launch_common.h"

namespace infernum::kernels::cuda {

struct AttentionGeometry {
  const void* q;        // [num_rows, num_heads, head_dim] bf16.
  const void* k_cache;  // bf16, 16-byte aligned.
  const void* v_cache;
  void* out;                       // [num_rows, num_heads, head_dim] bf16.
  const int32_t* block_tables;     // [num_seqs, max_blocks].
  const int32_t* query_start_loc;  // [num_seqs + 1].
  const int32_t* seq_lens;         // [num_seqs].
  int64_t num_rows;
  int num_seqs, num_heads, num_kv_heads, head_dim, block_size, max_blocks,
      num_blocks;
  float scale;
};

// Row-parallel split-K ("flash decoding") attention: one thread block per
// (query row, KV head, group of <= 8 query heads of that KV head, split), so
// each K/V vector is loaded once (16-byte loads) for up to 8 query heads.
// Correct for any batch (each row finds its sequence by binary search in
// query_start_loc) but re-reads K/V per query row, so it is the decode
// kernel; prefill uses LaunchFlashAttention. Writes every row of out.
// head_dim % 8 == 0 and <= 256. With num_splits > 1, split s covers context
// positions [s * split_size, (s + 1) * split_size) (the last split runs to the
// end of the context, so a context longer than num_splits * split_size is
// still exact) and a second kernel combines the splits through the scratch.
struct RowAttentionLaunch {
  AttentionGeometry g;
  int num_splits, split_size;
  float* partial_out;  // [num_rows, num_heads, num_splits, head_dim].
  float* partial_ml;   // [num_rows, num_heads, num_splits, 2].
};
// Floats of scratch (partial_out + partial_ml) a launch needs; 0 for 1 split.
int64_t RowAttentionScratchFloats(int64_t num_rows, int num_heads,
                                  int num_splits, int head_dim);
cudaError_t LaunchRowAttention(const RowAttentionLaunch& p,
                               cudaStream_t stream);

// Causal flash attention (prefill and mixed batches) with bf16 tensor cores
// (WMMA 16x16x16, f32 accumulation, online softmax in f32): one block per
// (tile of query tokens, KV head, sequence), whose 64 rows are the
// (token, query head) pairs of the KV head's group, so K/V tiles are loaded
// once per group. Rows no sequence owns are NOT written (zero them with
// LaunchZeroTailRows). Needs head_dim % 16 == 0, head_dim <= 256,
// num_heads / num_kv_heads <= 64, and an sm_80+ GPU.
struct FlashAttentionLaunch {
  AttentionGeometry g;
  int max_query_len;  // Upper bound on any query_len (launch sizing).
};
bool FlashAttentionSupported(int head_dim, int group);
// Dynamic shared memory one block needs at `head_dim` (the launcher opts in
// above 48 KiB; the device's per-block opt-in limit must hold it).
size_t FlashAttentionSharedBytes(int head_dim);
cudaError_t LaunchFlashAttention(const FlashAttentionLaunch& p,
                                 cudaStream_t stream);

}  // namespace infernum::kernels::cuda
