// Row-parallel split-K paged attention (the decode kernel); see
// attention_kernels.h.
#include "kernels/cuda/attention_device.h"

namespace infernum::kernels::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kMaxGroup = 8;  // Query heads per block.
constexpr int kChunk = 256;   // Context positions scored per pass.
constexpr int kUnroll = 4;    // K/V loads in flight per thread.

struct BlockPlan {
  RowContext rc;
  int kvh, head0, gcount, begin, end;
};

__device__ __forceinline__ BlockPlan PlanBlock(const RowAttentionLaunch& p) {
  const AttentionGeometry& g = p.g;
  BlockPlan b;
  const int group = g.num_heads / g.num_kv_heads;
  const int chunks = (group + kMaxGroup - 1) / kMaxGroup;
  b.kvh = blockIdx.y / chunks;
  b.head0 = b.kvh * group + (blockIdx.y % chunks) * kMaxGroup;
  b.gcount = min(kMaxGroup, (b.kvh + 1) * group - b.head0);
  b.rc = LocateRow(g, blockIdx.x);
  const int split = blockIdx.z;
  b.begin = split * p.split_size;
  b.end = !b.rc.valid ? 0
          : split == p.num_splits - 1
              ? b.rc.context
              : min(b.rc.context, b.begin + p.split_size);
  return b;
}

// Scores q.k for positions [c0, c1) into logits[g][t - c0]. kTpt threads
// share one position (8 elements each), so their partial dots are summed
// with xor shuffles; loops are block-uniform so the shuffles are safe.
template <int kTpt>
__device__ __forceinline__ void ScoreChunk(const AttentionGeometry& g,
                                           const BlockPlan& b,
                                           const int32_t* table,
                                           const float* q_s, float* logits,
                                           int c0, int c1) {
  constexpr int kGroups = kThreads / kTpt;
  const int tg = threadIdx.x / kTpt, seg = threadIdx.x % kTpt;
  const bool has_seg = seg * 8 < g.head_dim;
  for (int base = c0; base < c1; base += kGroups * kUnroll) {
    uint4 raw[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int t = base + u * kGroups + tg;
      raw[u] = (t < c1 && has_seg)
                   ? LoadKvChunk(g, g.k_cache, table, t, b.kvh, seg)
                   : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int t = base + u * kGroups + tg;
      float kf[8];
      UnpackBf16x8(raw[u], kf);
#pragma unroll
      for (int h = 0; h < kMaxGroup; ++h) {
        if (h >= b.gcount) break;  // Block-uniform: shuffles stay safe.
        float d = 0.0f;
        if (has_seg) {
          const float* qh = q_s + h * g.head_dim + seg * 8;
#pragma unroll
          for (int e = 0; e < 8; ++e) d += qh[e] * kf[e];
        }
#pragma unroll
        for (int o = kTpt / 2; o > 0; o >>= 1)
          d += __shfl_xor_sync(0xffffffffu, d, o);
        if (seg == 0 && t < c1) logits[h * kChunk + (t - c0)] = d;
      }
    }
  }
}

// acc[h][e] += p[h][t] * v[t][8 * seg + e] over positions [c0, c1).
template <int kTpt>
__device__ __forceinline__ void AccumulateChunk(
    const AttentionGeometry& g, const BlockPlan& b, const int32_t* table,
    const float* probs, int c0, int c1, float (&acc)[kMaxGroup][8]) {
  constexpr int kGroups = kThreads / kTpt;
  const int tg = threadIdx.x / kTpt, seg = threadIdx.x % kTpt;
  if (seg * 8 >= g.head_dim) return;  // No shuffles below.
  for (int base = c0; base < c1; base += kGroups * kUnroll) {
    uint4 raw[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int t = base + u * kGroups + tg;
      raw[u] = t < c1 ? LoadKvChunk(g, g.v_cache, table, t, b.kvh, seg)
                      : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int t = base + u * kGroups + tg;
      if (t >= c1) continue;
      float vf[8];
      UnpackBf16x8(raw[u], vf);
#pragma unroll
      for (int h = 0; h < kMaxGroup; ++h) {
        if (h >= b.gcount) continue;
        const float pr = probs[h * kChunk + (t - c0)];
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[h][e] += pr * vf[e];
      }
    }
  }
}

// Online-softmax update for the chunk: warp w owns heads w, w + 4, ...;
// turns logits into exp(logit - new max) and records the rescale factor.
__device__ __forceinline__ void SoftmaxChunk(const BlockPlan& b, float* logits,
                                             int len, float* m_s, float* l_s,
                                             float* alpha_s) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  for (int h = warp; h < b.gcount; h += kThreads / 32) {
    float* lg = logits + h * kChunk;
    float mx = -INFINITY;
    for (int i = lane; i < len; i += 32) mx = fmaxf(mx, lg[i]);
    mx = WarpMax(mx);
    const float m_old = m_s[h];
    const float m_new = fmaxf(m_old, mx);
    float sum = 0.0f;
    for (int i = lane; i < len; i += 32) {
      const float e = expf(lg[i] - m_new);
      lg[i] = e;
      sum += e;
    }
    sum = WarpSum(sum);
    if (lane == 0) {
      const float alpha = expf(m_old - m_new);
      alpha_s[h] = alpha;
      l_s[h] = l_s[h] * alpha + sum;
      m_s[h] = m_new;
    }
  }
}

// Shared state of one block: q (pre-scaled), the f32 output accumulator and
// the per-head running max / sum / rescale factor.
struct RowShared {
  float* q;       // [kMaxGroup][hd].
  float* acc;     // [kMaxGroup][hd].
  float* logits;  // [kMaxGroup][kChunk].
  float* m;
  float* l;
  float* alpha;
};

__device__ __forceinline__ void InitBlock(const AttentionGeometry& g,
                                          const BlockPlan& b, int64_t head_base,
                                          const RowShared& sh) {
  const bf16* q = static_cast<const bf16*>(g.q) + head_base * g.head_dim;
  for (int i = threadIdx.x; i < b.gcount * g.head_dim; i += kThreads) {
    sh.q[i] = __bfloat162float(q[i]) * g.scale;
    sh.acc[i] = 0.0f;
  }
  if (threadIdx.x < kMaxGroup) {
    sh.m[threadIdx.x] = -INFINITY;
    sh.l[threadIdx.x] = 0.0f;
  }
  __syncthreads();
}

// Sums the threads' accumulators and writes the normalized output (one
// split) or the split's partial output and (max, sum) (several splits).
template <int kTpt>
__device__ __forceinline__ void FinishBlock(const RowAttentionLaunch& p,
                                            const BlockPlan& b,
                                            int64_t head_base,
                                            const RowShared& sh,
                                            float (&acc)[kMaxGroup][8]) {
  const int hd = p.g.head_dim;
  const int seg = threadIdx.x % kTpt;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  // Deterministic: sum a warp's position groups with xor shuffles (fixed
  // order), then add the warps' sums one warp at a time.
#pragma unroll
  for (int h = 0; h < kMaxGroup; ++h) {
    if (h >= b.gcount) break;  // Block-uniform.
#pragma unroll
    for (int e = 0; e < 8; ++e) {
#pragma unroll
      for (int o = kTpt; o < 32; o <<= 1)
        acc[h][e] += __shfl_xor_sync(0xffffffffu, acc[h][e], o);
    }
  }
  for (int w = 0; w < kThreads / 32; ++w) {
    if (warp == w && lane < kTpt && seg * 8 < hd) {
#pragma unroll
      for (int h = 0; h < kMaxGroup; ++h) {
        if (h >= b.gcount) break;
#pragma unroll
        for (int e = 0; e < 8; ++e) sh.acc[h * hd + seg * 8 + e] += acc[h][e];
      }
    }
    __syncthreads();
  }
  bf16* out = static_cast<bf16*>(p.g.out) + head_base * hd;
  for (int i = threadIdx.x; i < b.gcount * hd; i += kThreads) {
    const int h = i / hd;
    const float o = sh.acc[i] / sh.l[h];
    if (p.num_splits == 1) {
      out[i] = __float2bfloat16_rn(o);
    } else {
      const int64_t part = (head_base + h) * p.num_splits + blockIdx.z;
      p.partial_out[part * hd + i % hd] = o;
      if (i % hd == 0) {
        p.partial_ml[2 * part] = sh.m[h];
        p.partial_ml[2 * part + 1] = sh.l[h];
      }
    }
  }
}

template <int kTpt>
__global__ void __launch_bounds__(kThreads)
    RowAttentionKernel(RowAttentionLaunch p) {
  extern __shared__ float smem[];
  __shared__ float m_s[kMaxGroup], l_s[kMaxGroup], alpha_s[kMaxGroup];
  const AttentionGeometry& g = p.g;
  const int hd = g.head_dim;
  const RowShared sh{
      smem,   smem + kMaxGroup * hd, smem + 2 * kMaxGroup * hd, m_s, l_s,
      alpha_s};
  const BlockPlan b = PlanBlock(p);
  const int64_t head_base =
      static_cast<int64_t>(blockIdx.x) * g.num_heads + b.head0;
  if (b.begin >= b.end) {
    // Only an invalid row leaves split 0 empty; with several splits the
    // reduce kernel writes its zeros.
    if (blockIdx.z == 0 && p.num_splits == 1) {
      bf16* out = static_cast<bf16*>(g.out) + head_base * hd;
      for (int i = threadIdx.x; i < b.gcount * hd; i += kThreads)
        out[i] = __float2bfloat16_rn(0.0f);
    }
    return;
  }
  InitBlock(g, b, head_base, sh);
  const int32_t* table =
      g.block_tables + static_cast<int64_t>(b.rc.seq) * g.max_blocks;
  float acc[kMaxGroup][8] = {};
  for (int c0 = b.begin; c0 < b.end; c0 += kChunk) {
    const int c1 = min(b.end, c0 + kChunk);
    ScoreChunk<kTpt>(g, b, table, sh.q, sh.logits, c0, c1);
    __syncthreads();
    SoftmaxChunk(b, sh.logits, c1 - c0, sh.m, sh.l, sh.alpha);
    __syncthreads();
#pragma unroll
    for (int h = 0; h < kMaxGroup; ++h) {
      const float a = h < b.gcount ? sh.alpha[h] : 0.0f;
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[h][e] *= a;
    }
    AccumulateChunk<kTpt>(g, b, table, sh.logits, c0, c1, acc);
    __syncthreads();  // logits are rewritten by the next chunk.
  }
  FinishBlock<kTpt>(p, b, head_base, sh, acc);
}

// Combines the splits of one (row, head): weights l_s * exp(m_s - max).
__global__ void RowAttentionReduceKernel(RowAttentionLaunch p) {
  extern __shared__ float weights[];  // [num_splits]
  __shared__ float inv_total;
  const AttentionGeometry& g = p.g;
  const int64_t row = blockIdx.x;
  const int64_t head = (row * g.num_heads + blockIdx.y);
  bf16* out = static_cast<bf16*>(g.out) + head * g.head_dim;
  const RowContext rc = LocateRow(g, row);
  if (!rc.valid) {
    for (int d = threadIdx.x; d < g.head_dim; d += blockDim.x)
      out[d] = __float2bfloat16_rn(0.0f);
    return;
  }
  const int num_valid =
      min(p.num_splits, (rc.context + p.split_size - 1) / p.split_size);
  const int64_t base = head * p.num_splits;
  if (threadIdx.x == 0) {
    float m = -INFINITY;
    for (int s = 0; s < num_valid; ++s)
      m = fmaxf(m, p.partial_ml[2 * (base + s)]);
    float total = 0.0f;
    for (int s = 0; s < num_valid; ++s) {
      const float w = p.partial_ml[2 * (base + s) + 1] *
                      expf(p.partial_ml[2 * (base + s)] - m);
      weights[s] = w;
      total += w;
    }
    inv_total = 1.0f / total;
  }
  __syncthreads();
  for (int d = threadIdx.x; d < g.head_dim; d += blockDim.x) {
    float o = 0.0f;
    for (int s = 0; s < num_valid; ++s)
      o += weights[s] * p.partial_out[(base + s) * g.head_dim + d];
    out[d] = __float2bfloat16_rn(o * inv_total);
  }
}

template <int kTpt>
cudaError_t Launch(const RowAttentionLaunch& p, cudaStream_t stream) {
  const AttentionGeometry& g = p.g;
  const int group = g.num_heads / g.num_kv_heads;
  const int chunks = (group + kMaxGroup - 1) / kMaxGroup;
  const dim3 grid(static_cast<unsigned>(g.num_rows), g.num_kv_heads * chunks,
                  p.num_splits);
  const size_t smem =
      sizeof(float) * (2 * kMaxGroup * g.head_dim + kMaxGroup * kChunk);
  RowAttentionKernel<kTpt><<<grid, kThreads, smem, stream>>>(p);
  if (p.num_splits > 1) {
    const dim3 reduce_grid(static_cast<unsigned>(g.num_rows), g.num_heads);
    RowAttentionReduceKernel<<<reduce_grid, 128, sizeof(float) * p.num_splits,
                               stream>>>(p);
  }
  return cudaGetLastError();
}

}  // namespace

int64_t RowAttentionScratchFloats(int64_t num_rows, int num_heads,
                                  int num_splits, int head_dim) {
  if (num_splits <= 1) return 0;
  return num_rows * num_heads * num_splits * static_cast<int64_t>(head_dim + 2);
}

cudaError_t LaunchRowAttention(const RowAttentionLaunch& p,
                               cudaStream_t stream) {
  const AttentionGeometry& g = p.g;
  if (g.num_rows == 0) return cudaSuccess;
  if (g.head_dim % 8 != 0 || g.head_dim > 256 || g.num_kv_heads <= 0 ||
      g.num_heads % g.num_kv_heads != 0 || p.num_splits < 1 ||
      p.num_splits > 65535 || p.split_size < 1 || g.num_blocks < 1 ||
      g.block_size < 1 || g.max_blocks < 1) {
    return cudaErrorInvalidValue;
  }
  if (p.num_splits > 1 &&
      (p.partial_out == nullptr || p.partial_ml == nullptr)) {
    return cudaErrorInvalidValue;
  }
  const int chunks_8 = g.head_dim / 8;
  if (chunks_8 <= 1) return Launch<1>(p, stream);
  if (chunks_8 <= 2) return Launch<2>(p, stream);
  if (chunks_8 <= 4) return Launch<4>(p, stream);
  if (chunks_8 <= 8) return Launch<8>(p, stream);
  if (chunks_8 <= 16) return Launch<16>(p, stream);
  return Launch<32>(p, stream);
}

}  // namespace infernum::kernels::cuda
