#include "models/llama/attention.h"

#include "common/status.h"
#include "kernels/cuda/cuda_backend.h"

namespace infernum::models {

using kernels::Tensor;

namespace {

// A contiguous [rows, cols] view `offset` elements into `base`.
Tensor At(const Tensor& base, int64_t offset, int64_t rows, int64_t cols) {
  char* p = static_cast<char*>(base.data) +
            offset * static_cast<int64_t>(kernels::DTypeSize(base.dtype));
  return Tensor(p, base.dtype, {rows, cols});
}

}  // namespace

absl::Status RunAttention(kernels::Backend& backend, const AttentionDims& dims,
                          const AttentionArgs& args, kernels::Stream* stream) {
  const int64_t n = args.x.dim(0);
  const int64_t hd = dims.head_dim;
  const int64_t q_size = dims.num_heads * hd, kv_size = dims.num_kv_heads * hd;
  // q, k and v as separate contiguous tensors, back to back in the scratch.
  Tensor q = At(args.qkv_scratch, 0, n, q_size);
  Tensor k = At(args.qkv_scratch, n * q_size, n, kv_size);
  Tensor v = At(args.qkv_scratch, n * (q_size + kv_size), n, kv_size);
  if (n == 1) {
    // One row: the fused [1, q + 2 kv] output already is q, k, v back to back.
    RETURN_IF_ERROR(
        backend.Matmul({args.x, args.qkv_weight,
                        At(args.qkv_scratch, 0, 1, q_size + 2 * kv_size)},
                       stream));
  } else {
    // One matmul of the fused weight, its output blocks written to q, k and
    // v as separate contiguous tensors.
    kernels::SplitMatmulParams split;
    split.x = args.x;
    split.w = args.qkv_weight;
    split.outs[0] = q;
    split.outs[1] = k;
    split.outs[2] = v;
    split.num_outs = 3;
    RETURN_IF_ERROR(backend.SplitMatmul(split, stream));
  }
  const Tensor q3 = q.Reshape({n, dims.num_heads, hd});
  const Tensor k3 = k.Reshape({n, dims.num_kv_heads, hd});
  const Tensor v3 = v.Reshape({n, dims.num_kv_heads, hd});
  const AttentionMetadata& m = *args.meta;
  if (kernels::CudaBackend* cuda = kernels::AsCudaBackend(&backend)) {
    // One kernel instead of two: rotate q and k, write k and v to the cache.
    RETURN_IF_ERROR(
        cuda->RopeWriteKvCache({q3, k3, v3, m.positions, args.inv_freq,
                                args.k_cache, args.v_cache, m.slot_mapping},
                               stream));
  } else {
    RETURN_IF_ERROR(backend.Rope({q3, k3, m.positions, args.inv_freq}, stream));
    RETURN_IF_ERROR(backend.WriteKvCache(
        {k3, v3, args.k_cache, args.v_cache, m.slot_mapping}, stream));
  }

  kernels::PagedAttentionParams pa;
  pa.q = q3;
  pa.k_cache = args.k_cache;
  pa.v_cache = args.v_cache;
  pa.block_tables = m.block_tables;
  pa.query_start_loc = m.query_start_loc;
  pa.seq_lens = m.seq_lens;
  pa.out = At(args.attn_scratch, 0, n, q_size).Reshape({n, dims.num_heads, hd});
  pa.scale = dims.scale;
  pa.num_seqs = m.num_seqs;
  pa.max_query_len = m.max_query_len;
  pa.max_seq_len = m.max_seq_len;
  RETURN_IF_ERROR(backend.PagedAttention(pa, stream));

  return backend.Matmul(
      {At(args.attn_scratch, 0, n, q_size), args.o_weight, args.out}, stream);
}

}  // namespace infernum::models
