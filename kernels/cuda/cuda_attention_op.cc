// CudaBackendImpl::PagedAttention: validation, kernel choice and the
// split-K plan (see attention_kernels.h for the kernels).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "kernels/cuda/attention_kernels.h"
#include "kernels/cuda/cuda_backend_impl.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/elementwise_kernels.h"
#include "kernels/op_checks.h"

namespace infernum::kernels::cuda {
namespace {

constexpr auto kBF16 = DType::kBF16;
constexpr auto kI32 = DType::kI32;
constexpr int kSplitGranule = 256;  // Split sizes are multiples of this.

absl::Status CheckAttention(const PagedAttentionParams& p) {
  constexpr std::string_view kOp = "PagedAttention";
  RETURN_IF_ERROR(CheckTensor(kOp, "q", p.q, 3, {kBF16}));
  RETURN_IF_ERROR(CheckTensor(kOp, "k_cache", p.k_cache, 4, {kBF16}));
  RETURN_IF_ERROR(CheckTensor(kOp, "v_cache", p.v_cache, 4, {kBF16}));
  RETURN_IF_ERROR(
      CheckSameShape(kOp, "k_cache", p.k_cache, "v_cache", p.v_cache));
  RETURN_IF_ERROR(CheckTensor(kOp, "block_tables", p.block_tables, 2, {kI32}));
  RETURN_IF_ERROR(
      CheckTensor(kOp, "query_start_loc", p.query_start_loc, 1, {kI32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "seq_lens", p.seq_lens, 1, {kI32}));
  RETURN_IF_ERROR(CheckTensor(kOp, "out", p.out, 3, {kBF16}));
  RETURN_IF_ERROR(CheckSameShape(kOp, "q", p.q, "out", p.out));
  RETURN_IF_ERROR(CheckNoAlias(kOp, "q", p.q, "out", p.out));
  if (p.num_seqs < 0)
    return absl::InvalidArgumentError("PagedAttention: num_seqs < 0");
  RETURN_IF_ERROR(CheckDim(kOp, "seq_lens", p.seq_lens, 0, p.num_seqs));
  RETURN_IF_ERROR(
      CheckDim(kOp, "query_start_loc", p.query_start_loc, 0, p.num_seqs + 1));
  RETURN_IF_ERROR(CheckDim(kOp, "block_tables", p.block_tables, 0, p.num_seqs));
  RETURN_IF_ERROR(CheckDim(kOp, "k_cache", p.k_cache, 3, p.q.dim(2)));
  const int64_t nh = p.q.dim(1), nkv = p.k_cache.dim(2), hd = p.q.dim(2);
  if (nkv == 0 || nh % nkv != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("PagedAttention: ", nh,
                     " query heads are not a multiple of ", nkv, " kv heads"));
  }
  if (p.k_cache.dim(1) == 0)
    return absl::InvalidArgumentError("PagedAttention: block_size 0");
  if (hd % 8 != 0 || hd > 256) {
    return absl::UnimplementedError(absl::StrCat(
        "PagedAttention on cuda needs head_dim % 8 == 0 and <= 256, got ", hd));
  }
  for (const auto& [name, t] :
       {std::pair<const char*, const Tensor*>{"q", &p.q},
        {"k_cache", &p.k_cache},
        {"v_cache", &p.v_cache},
        {"out", &p.out}}) {
    RETURN_IF_ERROR(CheckAligned(kOp, name, *t, 16));
  }
  if (p.q.dim(0) > 0x7fffffff || p.num_seqs > 65535 || nh > 65535 ||
      p.k_cache.dim(0) > 0x7fffffff || p.block_tables.dim(1) > 0x7fffffff) {
    return absl::UnimplementedError(
        "PagedAttention on cuda: dimensions too large");
  }
  return absl::OkStatus();
}

AttentionGeometry MakeGeometry(const PagedAttentionParams& p) {
  AttentionGeometry g{};
  g.q = p.q.data;
  g.k_cache = p.k_cache.data;
  g.v_cache = p.v_cache.data;
  g.out = p.out.data;
  g.block_tables = p.block_tables.as<int32_t>();
  g.query_start_loc = p.query_start_loc.as<int32_t>();
  g.seq_lens = p.seq_lens.as<int32_t>();
  g.num_rows = p.q.dim(0);
  g.num_seqs = p.num_seqs;
  g.num_heads = static_cast<int>(p.q.dim(1));
  g.num_kv_heads = static_cast<int>(p.k_cache.dim(2));
  g.head_dim = static_cast<int>(p.q.dim(2));
  g.block_size = static_cast<int>(p.k_cache.dim(1));
  g.max_blocks = static_cast<int>(std::max<int64_t>(p.block_tables.dim(1), 1));
  g.num_blocks = static_cast<int>(p.k_cache.dim(0));
  g.scale = p.scale;
  return g;
}

// Split-K plan: enough blocks to fill the GPU twice over, splits of whole
// granules, and a single split when the rows alone fill it. Sets
// l.num_splits and l.split_size.
void PlanSplits(int64_t max_ctx, int num_sms, RowAttentionLaunch& l) {
  const AttentionGeometry& g = l.g;
  const int group = g.num_heads / g.num_kv_heads;
  const int64_t base_blocks = g.num_rows * g.num_kv_heads * ((group + 7) / 8);
  int64_t splits = 1;
  if (base_blocks < 2 * num_sms && max_ctx > 2 * kSplitGranule) {
    splits = std::min<int64_t>((2 * num_sms + base_blocks - 1) / base_blocks,
                               (max_ctx + kSplitGranule - 1) / kSplitGranule);
  }
  int64_t split_size = (max_ctx + splits - 1) / splits;
  split_size =
      std::max<int64_t>(kSplitGranule, (split_size + kSplitGranule - 1) /
                                           kSplitGranule * kSplitGranule);
  splits = std::max<int64_t>(1, (max_ctx + split_size - 1) / split_size);
  // The last split runs to the end of the context, so capping is exact.
  l.num_splits = static_cast<int>(std::min<int64_t>(splits, 65535));
  l.split_size = static_cast<int>(std::min<int64_t>(split_size, 0x7fffffff));
}

}  // namespace

absl::Status CudaBackendImpl::PagedAttention(const PagedAttentionParams& p,
                                             Stream* stream) {
  RETURN_IF_ERROR(CheckAttention(p));
  const int64_t n = p.q.dim(0);
  if (n == 0 || p.q.nbytes() == 0) return absl::OkStatus();  // No heads too.
  const AttentionGeometry g = MakeGeometry(p);
  const cudaStream_t s = native(stream);
  const int64_t row_elems = static_cast<int64_t>(g.num_heads) * g.head_dim;
  if (g.num_blocks == 0 || p.block_tables.dim(1) == 0 || p.num_seqs == 0) {
    // No context anywhere: every row is zero (query_start_loc[0] is 0).
    return CudaStatus(
        LaunchZeroTailRows({p.out.data, 2, n, row_elems, g.query_start_loc}, s),
        "PagedAttention");
  }
  // Host bounds (0 = unknown: fall back to what the shapes allow).
  const int64_t table_span = static_cast<int64_t>(g.max_blocks) * g.block_size;
  const int max_q = static_cast<int>(
      p.max_query_len > 0 ? std::min<int64_t>(p.max_query_len, n) : n);
  const int64_t max_ctx = p.max_seq_len > 0
                              ? std::min<int64_t>(p.max_seq_len, table_span)
                              : table_span;
  AttentionKernel kernel = attention_kernel_;
  if (kernel == AttentionKernel::kAuto) {
    kernel =
        max_q <= 1 ? AttentionKernel::kRowParallel : AttentionKernel::kFlash;
  }
  // Flash needs its shared-memory layout to fit the device (hd 256 takes
  // 145 KiB: A100/H100 yes, sm_86/89 no); otherwise the row kernel.
  if (kernel == AttentionKernel::kFlash &&
      FlashAttentionSupported(g.head_dim, g.num_heads / g.num_kv_heads) &&
      FlashAttentionSharedBytes(g.head_dim) <= max_shared_optin_) {
    RETURN_IF_ERROR(CudaStatus(LaunchFlashAttention({g, max_q}, s),
                               "PagedAttention (flash)"));
    return CudaStatus(
        LaunchZeroTailRows(
            {p.out.data, 2, n, row_elems, g.query_start_loc + p.num_seqs}, s),
        "PagedAttention (zero tail)");
  }
  RowAttentionLaunch l{};
  l.g = g;
  PlanSplits(max_ctx, num_sms_, l);
  const int64_t floats =
      RowAttentionScratchFloats(n, g.num_heads, l.num_splits, g.head_dim);
  if (floats > 0) {
    ASSIGN_OR_RETURN(void* scratch, Scratch(ScratchSlot::kAttention, s,
                                            floats * sizeof(float)));
    l.partial_out = static_cast<float*>(scratch);
    l.partial_ml = l.partial_out + n * g.num_heads * l.num_splits * g.head_dim;
  }
  return CudaStatus(LaunchRowAttention(l, s), "PagedAttention (split-K)");
}

}  // namespace infernum::kernels::cuda
