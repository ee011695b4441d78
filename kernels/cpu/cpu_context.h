// Internal to the CPU backend: the context every CPU op runs with, and the
// op entry points cpu_backend.cc dispatches to (one family per .cc file).
// Each op validates its params (InvalidArgument on a bad shape, dtype or
// index) before writing anything, then runs to completion.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "common/thread_pool.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/scratch.h"
#include "kernels/cpu/vec_kernels.h"
#include "kernels/ops.h"

namespace infernum::kernels::cpu {

struct CpuContext {
  ThreadPool* pool = nullptr;
  CpuIsa isa = CpuIsa::kScalar;
  const VecKernels* vec = nullptr;  // GetVecKernels(isa).
  ScratchPool* scratch = nullptr;
  // Whether vdpbf16ps may be used (the CPU has it and it is allowed).
  bool avx512_bf16 = false;
  CpuMatmulPrecision matmul_precision = CpuMatmulPrecision::kF32;
};

// Below this many element operations an op runs on the caller alone: waking
// the pool costs more than it saves.
inline constexpr int64_t kMinParallelWork = 1 << 15;
// The same for ParallelRows (norms, RoPE, SiLU, ...; roughly 5-10 us of work
// on one core). Parallel row ops share rows out dynamically on
// ThreadPool::RunOnAvailable, so a pool thread that has lost its core (an
// oversubscribed machine) never holds the op up: the caller does its rows.
inline constexpr int64_t kMinParallelRowWork = 1 << 17;
// Rows are handed out in chunks of about this much work.
inline constexpr int64_t kRowChunkWork = 1 << 15;

// Runs fn(thread, begin, end) over [0, items) in chunks of `grain` items
// handed out dynamically to the pool's threads (for uneven work such as
// attention rows); thread < pool->num_threads() identifies the caller's slot.
// Threads that are not running when the call starts may take no chunk.
void ParallelDynamic(const CpuContext& ctx, int64_t items, int64_t grain,
                     const std::function<void(int, int64_t, int64_t)>& fn);

// Runs fn(begin, end) over [0, rows), on the pool when rows * work_per_row is
// large enough to be worth it, else inline.
inline void ParallelRows(const CpuContext& ctx, int64_t rows,
                         int64_t work_per_row,
                         const std::function<void(int64_t, int64_t)>& fn) {
  if (rows <= 0) return;
  if (rows == 1 || rows * work_per_row < kMinParallelRowWork ||
      ctx.pool->num_threads() == 1) {
    fn(0, rows);
    return;
  }
  const int64_t grain =
      std::max<int64_t>(1, kRowChunkWork / std::max<int64_t>(1, work_per_row));
  ParallelDynamic(ctx, rows, grain,
                  [&](int, int64_t begin, int64_t end) { fn(begin, end); });
}

// elementwise.cc
absl::Status Embedding(const CpuContext& ctx, const EmbeddingParams& p);
absl::Status SiluMul(const CpuContext& ctx, const SiluMulParams& p);
absl::Status Add(const CpuContext& ctx, const AddParams& p);
absl::Status Cast(const CpuContext& ctx, const CastParams& p);
// norm_rope.cc
absl::Status RmsNorm(const CpuContext& ctx, const RmsNormParams& p);
absl::Status Rope(const CpuContext& ctx, const RopeParams& p);
// softmax.cc
absl::Status Softmax(const CpuContext& ctx, const SoftmaxParams& p);
absl::Status Argmax(const CpuContext& ctx, const ArgmaxParams& p);
// matmul.cc
absl::Status Matmul(const CpuContext& ctx, const MatmulParams& p);
absl::Status SplitMatmul(const CpuContext& ctx, const SplitMatmulParams& p);
// attention.cc
absl::Status WriteKvCache(const CpuContext& ctx, const WriteKvCacheParams& p);
absl::Status PagedAttention(const CpuContext& ctx,
                            const PagedAttentionParams& p);

}  // namespace infernum::kernels::cpu
