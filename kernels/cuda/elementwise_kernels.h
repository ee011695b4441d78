// Internal: launchers for the elementwise CUDA kernels (Embedding gather,
// SiluMul, Add, Cast, zeroing of attention rows no sequence owns). Shapes are
// validated by the host code before these are called; see launch_common.h.
#pragma once

#include "kernels/cuda/launch_common.h"

namespace infernum::kernels::cuda {

// out[i, :] = table[ids[i], :] converted; rows with an id outside [0, rows)
// are written as zeros (the host cannot check device-resident ids).
struct EmbeddingLaunch {
  const void* table;  // [rows, hidden], f32/bf16/f16.
  ElemType table_type;
  int64_t rows, hidden;
  const int32_t* ids;  // [n].
  int64_t n;
  void* out;  // [n, hidden], f32/bf16/f16.
  ElemType out_type;
};
cudaError_t LaunchEmbedding(const EmbeddingLaunch& p, cudaStream_t stream);

// out[i, j] = silu(x[i, j]) * x[i, d + j]; x [n, 2d], out [n, d], same type.
struct SiluMulLaunch {
  const void* x;
  void* out;
  ElemType type;  // f32 or bf16.
  int64_t n, d;
};
cudaError_t LaunchSiluMul(const SiluMulLaunch& p, cudaStream_t stream);

// out = a + b over `numel` elements (f32 or bf16); out may alias a or b.
struct AddLaunch {
  const void* a;
  const void* b;
  void* out;
  ElemType type;
  int64_t numel;
};
cudaError_t LaunchAdd(const AddLaunch& p, cudaStream_t stream);

// out = x converted (f32/bf16/f16 both ways, round to nearest even), or a
// copy for i32 -> i32.
struct CastLaunch {
  const void* x;
  ElemType x_type;
  void* out;
  ElemType out_type;
  int64_t numel;
};
cudaError_t LaunchCast(const CastLaunch& p, cudaStream_t stream);

// Zeroes rows [*first_unowned_row, num_rows) of out ([num_rows, row_elems] of
// 2- or 4-byte elements). first_unowned_row is a device pointer (usually
// &query_start_loc[num_seqs]), so the launch needs no host sync.
struct ZeroTailRowsLaunch {
  void* out;
  int elem_size;  // 2 or 4.
  int64_t num_rows, row_elems;
  const int32_t* first_unowned_row;
};
cudaError_t LaunchZeroTailRows(const ZeroTailRowsLaunch& p,
                               cudaStream_t stream);

}  // namespace infernum::kernels::cuda
