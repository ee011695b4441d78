// CudaBackendImpl ops: elementwise, norm, rope, KV-cache writes, softmax,
// argmax, cast and GEMM. Each validates shapes/dtypes on the host (same
// rules as the CPU backend, bf16 or f32 activations) and enqueues a kernel.
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "kernels/cuda/cuda_backend_impl.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/elementwise_kernels.h"
#include "kernels/cuda/gemm_kernels.h"
#include "kernels/cuda/norm_rope_kernels.h"
#include "kernels/cuda/softmax_kernels.h"
#include "kernels/op_checks.h"

namespace infernum::kernels::cuda {
namespace {

constexpr auto kF32 = DType::kF32;
constexpr auto kBF16 = DType::kBF16;
constexpr auto kF16 = DType::kF16;
constexpr auto kI32 = DType::kI32;

static_assert(static_cast<int>(ElemType::kF32) ==
              static_cast<int>(DType::kF32));
static_assert(static_cast<int>(ElemType::kBF16) ==
              static_cast<int>(DType::kBF16));
static_assert(static_cast<int>(ElemType::kF16) ==
              static_cast<int>(DType::kF16));
static_assert(static_cast<int>(ElemType::kI32) ==
              static_cast<int>(DType::kI32));

ElemType Elem(DType t) { return static_cast<ElemType>(static_cast<int>(t)); }

absl::Status Launched(cudaError_t err, std::string_view op) {
  return CudaStatus(err, op);
}

absl::Status CheckRope(std::string_view op, const Tensor& q, const Tensor& k,
                       const Tensor& positions, const Tensor& inv_freq) {
  RETURN_IF_ERROR(CheckTensor(op, "q", q, 3, {kBF16, kF32}));
  RETURN_IF_ERROR(CheckTensor(op, "k", k, 3, {q.dtype}));
  RETURN_IF_ERROR(CheckTensor(op, "positions", positions, 1, {kI32}));
  RETURN_IF_ERROR(CheckTensor(op, "inv_freq", inv_freq, 1, {kF32}));
  const int64_t n = q.dim(0), hd = q.dim(2);
  RETURN_IF_ERROR(CheckDim(op, "k", k, 0, n));
  RETURN_IF_ERROR(CheckDim(op, "k", k, 2, hd));
  RETURN_IF_ERROR(CheckDim(op, "positions", positions, 0, n));
  if (hd % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(op), ": head dim must be even"));
  }
  RETURN_IF_ERROR(CheckDim(op, "inv_freq", inv_freq, 0, hd / 2));
  return CheckNoAlias(op, "q", q, "k", k);
}

absl::Status CheckKvWrite(std::string_view op, const Tensor& k, const Tensor& v,
                          const Tensor& k_cache, const Tensor& v_cache,
                          const Tensor& slots) {
  RETURN_IF_ERROR(CheckTensor(op, "k", k, 3, {kBF16, kF32}));
  RETURN_IF_ERROR(CheckTensor(op, "v", v, 3, {k.dtype}));
  RETURN_IF_ERROR(CheckSameShape(op, "k", k, "v", v));
  RETURN_IF_ERROR(CheckTensor(op, "k_cache", k_cache, 4, {k.dtype}));
  RETURN_IF_ERROR(CheckTensor(op, "v_cache", v_cache, 4, {k.dtype}));
  RETURN_IF_ERROR(CheckSameShape(op, "k_cache", k_cache, "v_cache", v_cache));
  RETURN_IF_ERROR(CheckDim(op, "k_cache", k_cache, 2, k.dim(1)));
  RETURN_IF_ERROR(CheckDim(op, "k_cache", k_cache, 3, k.dim(2)));
  RETURN_IF_ERROR(CheckTensor(op, "slot_mapping", slots, 1, {kI32}));
  return CheckDim(op, "slot_mapping", slots, 0, k.dim(0));
}

}  // namespace

absl::Status CudaBackendImpl::Embedding(const EmbeddingParams& p,
                                        Stream* stream) {
  constexpr std::string_view kOp = "Embedding";
  RETURN_IF_ERROR(CheckTensor(kOp, "table", p.table, 2, {kF32, kBF16, kF16}));
  RETURN_IF_ERROR(CheckTensor(kOp, "ids", p.ids, 1, {kI32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "out", p.out, 2, {kF32, kBF16, kF16}));
  RETURN_IF_ERROR(CheckDim(kOp, "out", p.out, 0, p.ids.dim(0)));
  RETURN_IF_ERROR(CheckDim(kOp, "out", p.out, 1, p.table.dim(1)));
  RETURN_IF_ERROR(CheckNoAlias(kOp, "table", p.table, "out", p.out));
  return Launched(
      LaunchEmbedding(
          {p.table.data, Elem(p.table.dtype), p.table.dim(0), p.table.dim(1),
           p.ids.as<int32_t>(), p.ids.dim(0), p.out.data, Elem(p.out.dtype)},
          native(stream)),
      kOp);
}

absl::Status CudaBackendImpl::RmsNorm(const RmsNormParams& p, Stream* stream) {
  constexpr std::string_view kOp = "RmsNorm";
  RETURN_IF_ERROR(CheckTensor(kOp, "x", p.x, 2, {kBF16, kF32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "weight", p.weight, 1, {kF32, kBF16, kF16}));
  RETURN_IF_ERROR(CheckTensor(kOp, "out", p.out, 2, {p.x.dtype}));
  RETURN_IF_ERROR(CheckSameShape(kOp, "x", p.x, "out", p.out));
  RETURN_IF_ERROR(CheckDim(kOp, "weight", p.weight, 0, p.x.dim(1)));
  if (p.residual.defined()) {
    RETURN_IF_ERROR(CheckTensor(kOp, "residual", p.residual, 2, {p.x.dtype}));
    RETURN_IF_ERROR(CheckSameShape(kOp, "x", p.x, "residual", p.residual));
    RETURN_IF_ERROR(CheckNoAlias(kOp, "x", p.x, "residual", p.residual));
    RETURN_IF_ERROR(CheckNoAlias(kOp, "residual", p.residual, "out", p.out));
  }
  if (!(p.eps >= 0.0f))
    return absl::InvalidArgumentError("RmsNorm: eps must be >= 0");
  return Launched(
      LaunchRmsNorm(
          {p.x.data, p.residual.data, p.weight.data, Elem(p.weight.dtype),
           p.out.data, Elem(p.x.dtype), p.x.dim(0), p.x.dim(1), p.eps},
          native(stream)),
      kOp);
}

absl::Status CudaBackendImpl::Rope(const RopeParams& p, Stream* stream) {
  RETURN_IF_ERROR(CheckRope("Rope", p.q, p.k, p.positions, p.inv_freq));
  RopeLaunch l{};
  l.q = p.q.data;
  l.k = p.k.data;
  l.act_type = Elem(p.q.dtype);
  l.positions = p.positions.as<int32_t>();
  l.inv_freq = p.inv_freq.as<float>();
  l.n = p.q.dim(0);
  l.num_heads = static_cast<int>(p.q.dim(1));
  l.num_kv_heads = static_cast<int>(p.k.dim(1));
  l.head_dim = static_cast<int>(p.q.dim(2));
  return Launched(LaunchRope(l, native(stream)), "Rope");
}

absl::Status CudaBackendImpl::RopeWriteKvCache(const RopeWriteKvCacheParams& p,
                                               Stream* stream) {
  constexpr std::string_view kOp = "RopeWriteKvCache";
  RETURN_IF_ERROR(CheckRope(kOp, p.q, p.k, p.positions, p.inv_freq));
  RETURN_IF_ERROR(
      CheckKvWrite(kOp, p.k, p.v, p.k_cache, p.v_cache, p.slot_mapping));
  RopeLaunch l{};
  l.q = p.q.data;
  l.k = p.k.data;
  l.act_type = Elem(p.q.dtype);
  l.positions = p.positions.as<int32_t>();
  l.inv_freq = p.inv_freq.as<float>();
  l.n = p.q.dim(0);
  l.num_heads = static_cast<int>(p.q.dim(1));
  l.num_kv_heads = static_cast<int>(p.k.dim(1));
  l.head_dim = static_cast<int>(p.q.dim(2));
  l.v = p.v.data;
  l.k_cache = p.k_cache.data;
  l.v_cache = p.v_cache.data;
  l.slot_mapping = p.slot_mapping.as<int32_t>();
  l.num_slots = p.k_cache.dim(0) * p.k_cache.dim(1);
  return Launched(LaunchRope(l, native(stream)), kOp);
}

absl::Status CudaBackendImpl::WriteKvCache(const WriteKvCacheParams& p,
                                           Stream* stream) {
  constexpr std::string_view kOp = "WriteKvCache";
  RETURN_IF_ERROR(
      CheckKvWrite(kOp, p.k, p.v, p.k_cache, p.v_cache, p.slot_mapping));
  const int64_t row_bytes =
      p.k.row_size() * static_cast<int64_t>(DTypeSize(p.k.dtype));
  return Launched(
      LaunchWriteKvCache({p.k.data, p.v.data, p.k_cache.data, p.v_cache.data,
                          p.slot_mapping.as<int32_t>(), p.k.dim(0),
                          p.k_cache.dim(0) * p.k_cache.dim(1), row_bytes},
                         native(stream)),
      kOp);
}

absl::Status CudaBackendImpl::SiluMul(const SiluMulParams& p, Stream* stream) {
  constexpr std::string_view kOp = "SiluMul";
  RETURN_IF_ERROR(CheckTensor(kOp, "x", p.x, 2, {kBF16, kF32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "out", p.out, 2, {p.x.dtype}));
  RETURN_IF_ERROR(CheckDim(kOp, "out", p.out, 0, p.x.dim(0)));
  RETURN_IF_ERROR(CheckDim(kOp, "x", p.x, 1, 2 * p.out.dim(1)));
  RETURN_IF_ERROR(CheckNoAlias(kOp, "x", p.x, "out", p.out));
  return Launched(LaunchSiluMul({p.x.data, p.out.data, Elem(p.x.dtype),
                                 p.x.dim(0), p.out.dim(1)},
                                native(stream)),
                  kOp);
}

absl::Status CudaBackendImpl::Add(const AddParams& p, Stream* stream) {
  constexpr std::string_view kOp = "Add";
  RETURN_IF_ERROR(CheckTensor(kOp, "a", p.a, 2, {kBF16, kF32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "b", p.b, 2, {p.a.dtype}));
  RETURN_IF_ERROR(CheckTensor(kOp, "out", p.out, 2, {p.a.dtype}));
  RETURN_IF_ERROR(CheckSameShape(kOp, "a", p.a, "b", p.b));
  RETURN_IF_ERROR(CheckSameShape(kOp, "a", p.a, "out", p.out));
  return Launched(
      LaunchAdd({p.a.data, p.b.data, p.out.data, Elem(p.a.dtype), p.a.numel()},
                native(stream)),
      kOp);
}

absl::Status CudaBackendImpl::Softmax(const SoftmaxParams& p, Stream* stream) {
  constexpr std::string_view kOp = "Softmax";
  RETURN_IF_ERROR(CheckTensor(kOp, "x", p.x, 2, {kF32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "out", p.out, 2, {kF32}));
  RETURN_IF_ERROR(CheckSameShape(kOp, "x", p.x, "out", p.out));
  return Launched(LaunchSoftmax({p.x.as<float>(), p.out.as<float>(), p.x.dim(0),
                                 p.x.dim(1)},
                                native(stream)),
                  kOp);
}

absl::Status CudaBackendImpl::Argmax(const ArgmaxParams& p, Stream* stream) {
  constexpr std::string_view kOp = "Argmax";
  RETURN_IF_ERROR(CheckTensor(kOp, "x", p.x, 2, {kF32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "out", p.out, 1, {kI32}));
  RETURN_IF_ERROR(CheckDim(kOp, "out", p.out, 0, p.x.dim(0)));
  if (p.x.dim(1) == 0)
    return absl::InvalidArgumentError("Argmax: x has no columns");
  return Launched(LaunchArgmax({p.x.as<float>(), p.out.as<int32_t>(),
                                p.x.dim(0), p.x.dim(1)},
                               native(stream)),
                  kOp);
}

absl::Status CudaBackendImpl::Cast(const CastParams& p, Stream* stream) {
  constexpr std::string_view kOp = "Cast";
  if (p.x.defined() && p.x.dtype == kI32) {
    RETURN_IF_ERROR(CheckTensor(kOp, "x", p.x, p.x.ndim, {kI32}));
    RETURN_IF_ERROR(CheckTensor(kOp, "out", p.out, p.x.ndim, {kI32}));
  } else {
    RETURN_IF_ERROR(CheckTensor(kOp, "x", p.x, p.x.ndim, {kF32, kBF16, kF16}));
    RETURN_IF_ERROR(
        CheckTensor(kOp, "out", p.out, p.x.ndim, {kF32, kBF16, kF16}));
  }
  RETURN_IF_ERROR(CheckSameShape(kOp, "x", p.x, "out", p.out));
  RETURN_IF_ERROR(CheckNoAlias(kOp, "x", p.x, "out", p.out));
  return Launched(LaunchCast({p.x.data, Elem(p.x.dtype), p.out.data,
                              Elem(p.out.dtype), p.x.numel()},
                             native(stream)),
                  kOp);
}

absl::Status CudaBackendImpl::Matmul(const MatmulParams& p, Stream* stream) {
  constexpr std::string_view kOp = "Matmul";
  RETURN_IF_ERROR(CheckTensor(kOp, "x", p.x, 2, {kBF16, kF32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "w", p.w, 2, {kF32, kBF16, kF16}));
  RETURN_IF_ERROR(CheckTensor(kOp, "out", p.out, 2, {kBF16, kF32}));
  const int64_t m = p.x.dim(0), k = p.x.dim(1), n = p.w.dim(0);
  RETURN_IF_ERROR(CheckDim(kOp, "w", p.w, 1, k));
  RETURN_IF_ERROR(CheckDim(kOp, "out", p.out, 0, m));
  RETURN_IF_ERROR(CheckDim(kOp, "out", p.out, 1, n));
  RETURN_IF_ERROR(CheckNoAlias(kOp, "x", p.x, "out", p.out));
  RETURN_IF_ERROR(CheckNoAlias(kOp, "w", p.w, "out", p.out));
  if (m == 0 || n == 0) return absl::OkStatus();
  const cudaStream_t s = native(stream);
  if (p.x.dtype == kBF16 && p.w.dtype == kBF16) {
    void* workspace = default_gemm_workspace_;
    if (s != native(default_stream())) {
      ASSIGN_OR_RETURN(workspace, Scratch(ScratchSlot::kGemmWorkspace, s,
                                          gemm_->workspace_bytes()));
    }
    const absl::Status st =
        gemm_->Run({p.x.data, p.w.data, p.out.data, Elem(p.out.dtype), m, n, k,
                    p.accumulate},
                   workspace, s);
    if (!absl::IsUnimplemented(st)) return st;
  }
  return Launched(
      LaunchFallbackGemm({p.x.data, Elem(p.x.dtype), p.w.data, Elem(p.w.dtype),
                          p.out.data, Elem(p.out.dtype), m, n, k, p.accumulate},
                         s),
      kOp);
}

}  // namespace infernum::kernels::cuda
