#include "kernels/cuda/cublas_gemm.h"

#include <cublasLt.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace infernum::kernels::cuda {
namespace {

constexpr size_t kMaxPlans = 8192;  // Distinct shapes before the cache resets.

absl::Status LtStatus(cublasStatus_t s, std::string_view what) {
  if (s == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  const std::string msg =
      absl::StrCat("cuBLASLt ", std::string(what), ": ", cublasGetStatusName(s),
                   " (", cublasGetStatusString(s), ")");
  if (s == CUBLAS_STATUS_ALLOC_FAILED) return absl::ResourceExhaustedError(msg);
  if (s == CUBLAS_STATUS_NOT_SUPPORTED) return absl::UnimplementedError(msg);
  return absl::InternalError(msg);
}

#define RETURN_IF_LT_ERROR(expr, what)          \
  do {                                          \
    const cublasStatus_t _infernum_lt = (expr); \
    if (_infernum_lt != CUBLAS_STATUS_SUCCESS)  \
      return LtStatus(_infernum_lt, (what));    \
  } while (0)

// Largest power of two (<= 256) dividing the address.
int AlignmentOf(const void* p) {
  const uintptr_t v = reinterpret_cast<uintptr_t>(p);
  int a = 16;  // cuBLASLt gains nothing from more; fewer cache keys.
  while (a > 1 && v % a != 0) a /= 2;
  return a;
}

}  // namespace

struct LtPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool has_algo = false;
  ~LtPlan() {
    if (c != nullptr) cublasLtMatrixLayoutDestroy(c);
    if (b != nullptr) cublasLtMatrixLayoutDestroy(b);
    if (a != nullptr) cublasLtMatrixLayoutDestroy(a);
    if (desc != nullptr) cublasLtMatmulDescDestroy(desc);
  }
};

CublasGemm::CublasGemm(void* handle, size_t workspace_bytes)
    : handle_(handle), workspace_bytes_(workspace_bytes) {}

// Asks the heuristic for the best algorithm under the workspace and the
// operands' actual alignments; leaves plan.has_algo false when none fits.
static void FindAlgo(cublasLtHandle_t handle, size_t workspace_bytes,
                     int align_a, int align_b, int align_c, LtPlan& plan) {
  cublasLtMatmulPreference_t pref = nullptr;
  if (cublasLtMatmulPreferenceCreate(&pref) != CUBLAS_STATUS_SUCCESS) return;
  const uint64_t ws = workspace_bytes;
  const uint32_t al_a = align_a, al_b = align_b, al_c = align_c;
  cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof(al_a));
  cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof(al_b));
  cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof(al_c));
  cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c, sizeof(al_c));
  cublasLtMatmulHeuristicResult_t result{};
  int returned = 0;
  const cublasStatus_t hs =
      cublasLtMatmulAlgoGetHeuristic(handle, plan.desc, plan.a, plan.b, plan.c,
                                     plan.c, pref, 1, &result, &returned);
  cublasLtMatmulPreferenceDestroy(pref);
  plan.has_algo = hs == CUBLAS_STATUS_SUCCESS && returned > 0;
  if (plan.has_algo) plan.algo = result.algo;
}

absl::StatusOr<std::unique_ptr<CublasGemm>> CublasGemm::Create(
    size_t workspace_bytes) {
  cublasLtHandle_t handle = nullptr;
  RETURN_IF_LT_ERROR(cublasLtCreate(&handle), "create");
  return std::unique_ptr<CublasGemm>(new CublasGemm(handle, workspace_bytes));
}

CublasGemm::~CublasGemm() {
  plans_.clear();
  if (handle_ != nullptr)
    cublasLtDestroy(static_cast<cublasLtHandle_t>(handle_));
}

absl::StatusOr<std::shared_ptr<const CublasGemm::Plan>> CublasGemm::GetPlan(
    const CublasGemmArgs& a) {
  const int align_x = AlignmentOf(a.x), align_w = AlignmentOf(a.w),
            align_o = AlignmentOf(a.out);
  const Key key{a.m,     a.n,     a.k,    static_cast<int>(a.out_type),
                align_x, align_w, align_o};
  std::lock_guard<std::mutex> lock(mu_);
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second;
  if (plans_.size() >= kMaxPlans) plans_.clear();
  auto plan = std::make_shared<Plan>();
  const cudaDataType_t out_type =
      a.out_type == ElemType::kF32 ? CUDA_R_32F : CUDA_R_16BF;
  RETURN_IF_LT_ERROR(
      cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F),
      "matmul desc");
  const cublasOperation_t op_t = CUBLAS_OP_T, op_n = CUBLAS_OP_N;
  RETURN_IF_LT_ERROR(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA,
                                     &op_t, sizeof(op_t)),
      "transa");
  RETURN_IF_LT_ERROR(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB,
                                     &op_n, sizeof(op_n)),
      "transb");
  // Column-major views: W is k x n (ld k), x is k x m (ld k), out^T is n x m.
  RETURN_IF_LT_ERROR(
      cublasLtMatrixLayoutCreate(&plan->a, CUDA_R_16BF, a.k, a.n, a.k),
      "layout A");
  RETURN_IF_LT_ERROR(
      cublasLtMatrixLayoutCreate(&plan->b, CUDA_R_16BF, a.k, a.m, a.k),
      "layout B");
  RETURN_IF_LT_ERROR(
      cublasLtMatrixLayoutCreate(&plan->c, out_type, a.n, a.m, a.n),
      "layout C");
  FindAlgo(static_cast<cublasLtHandle_t>(handle_), workspace_bytes_, align_w,
           align_x, align_o, *plan);
  plans_.emplace(key, plan);
  return std::shared_ptr<const Plan>(std::move(plan));
}

absl::Status CublasGemm::Run(const CublasGemmArgs& a, void* workspace,
                             cudaStream_t stream) {
  if (a.m == 0 || a.n == 0) return absl::OkStatus();
  if (a.k == 0) return absl::UnimplementedError("cuBLASLt: k == 0");
  auto plan = GetPlan(a);
  if (!plan.ok()) return plan.status();
  if (!(*plan)->has_algo) {
    return absl::UnimplementedError(absl::StrCat(
        "cuBLASLt: no algorithm for m=", a.m, " n=", a.n, " k=", a.k));
  }
  const float alpha = 1.0f, beta = a.accumulate ? 1.0f : 0.0f;
  RETURN_IF_LT_ERROR(
      cublasLtMatmul(static_cast<cublasLtHandle_t>(handle_), (*plan)->desc,
                     &alpha, a.w, (*plan)->a, a.x, (*plan)->b, &beta, a.out,
                     (*plan)->c, a.out, (*plan)->c, &(*plan)->algo, workspace,
                     workspace_bytes_, stream),
      "matmul");
  return absl::OkStatus();
}

}  // namespace infernum::kernels::cuda
