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
  // `workspace` (device memory of workspace_bytes) must outlive this object.
  static absl::StatusOr<std::unique_ptr<CublasGemm>> Create(
      void* workspace, size_t workspace_bytes);
  ~CublasGemm();
  CublasGemm(const CublasGemm&) = delete;
  CublasGemm& operator=(const CublasGemm&) = delete;

  // Enqueues the product on `stream`. Unimplemented when cuBLASLt has no
  // algorithm for the shape/alignment (the caller then uses the SIMT GEMM).
  // The row-major product is computed as the column-major
  // out^T[n, m] = op_T(W as k x n)[n, k] * (x as k x m)[k, m].
  absl::Status Run(const CublasGemmArgs& a, cudaStream_t stream);

 private:
  using Plan = LtPlan;
  using Key = std::tuple<int64_t, int64_t, int64_t, int, int, int, int>;
  CublasGemm(void* handle, void* workspace, size_t workspace_bytes);
  absl::StatusOr<const Plan*> GetPlan(const CublasGemmArgs& a);

  void* handle_;  // cublasLtHandle_t.
  void* workspace_;
  size_t workspace_bytes_;
  std::mutex mu_;
  std::map<Key, std::unique_ptr<Plan>> plans_;
};

}  // namespace infernum::kernels::cuda
