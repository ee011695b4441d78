// Internal: out = x @ w^T (+ out) through cuBLASLt, bf16 inputs, f32
// compute, bf16 or f32 output, with the heuristic's algorithm cached per
// (shape, output type, pointer alignment).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "absl/status/statusor.h"
#include "kernels/cuda/launch_common.h"

namespace infernum::kernels::cuda {

struct CublasGemmArgs {
  const void* x;  // [m, k] bf16, row-major.
  const void* w;  // [n, k] bf16, row-major (HF Linear layout).
  void* out;      // [m, n] bf16 or f32, row-major.
  ElemType out_type;
  int64_t m, n, k;
  bool accumulate;  // beta = 1.
};

struct LtPlan;  // Descriptors and algorithm of one shape (cublas_gemm.cc).

class CublasGemm {
 public:
  // Every Run passes a workspace of `workspace_bytes` (the caller keeps one
  // per stream: GEMMs running at once must not share one).
  static absl::StatusOr<std::unique_ptr<CublasGemm>> Create(
      size_t workspace_bytes);
  size_t workspace_bytes() const { return workspace_bytes_; }
  ~CublasGemm();
  CublasGemm(const CublasGemm&) = delete;
  CublasGemm& operator=(const CublasGemm&) = delete;

  // Enqueues the product on `stream`, using `workspace` (device memory of
  // workspace_bytes(), used by no other stream). Unimplemented when cuBLASLt
  // has no algorithm for the shape/alignment (the caller then uses the SIMT
  // GEMM). Thread-safe.
  // The row-major product is computed as the column-major
  // out^T[n, m] = op_T(W as k x n)[n, k] * (x as k x m)[k, m].
  absl::Status Run(const CublasGemmArgs& a, void* workspace,
                   cudaStream_t stream);

 private:
  using Plan = LtPlan;
  using Key = std::tuple<int64_t, int64_t, int64_t, int, int, int, int>;
  CublasGemm(void* handle, size_t workspace_bytes);
  // Shared: a full cache is cleared while other threads may still use a plan.
  absl::StatusOr<std::shared_ptr<const Plan>> GetPlan(const CublasGemmArgs& a);

  void* handle_;  // cublasLtHandle_t.
  size_t workspace_bytes_;
  std::mutex mu_;
  std::map<Key, std::shared_ptr<const Plan>> plans_;
};

}  // namespace infernum::kernels::cuda
