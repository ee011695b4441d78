// Causal flash attention for prefill / mixed batches with bf16 WMMA tensor
// cores; see attention_kernels.h. Per block: kRows = 64 rows, each a
// (query token, query head of the block's KV head) pair, and K/V tiles of
// kKeys = 32 positions read through the block table. Each of the 4 warps owns
// 16 rows: S = Q K^T (WMMA, f32) -> online softmax in f32 (two lanes per
// row) -> P (bf16) -> O += P V (WMMA, f32 accumulator kept in shared memory).
#include <mma.h>

#include "kernels/cuda/attention_device.h"

namespace infernum::kernels::cuda {
namespace {

namespace wmma = nvcuda::wmma;

constexpr int kRows = 64;
constexpr int kKeys = 32;
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;

// Shared-memory layout (leading dims padded against bank conflicts; every
// fragment pointer stays 32-byte aligned because fragments start on rows
// that are multiples of 16 and columns that are multiples of 16).
struct Layout {
  int ldq, lds, ldp, ldo;  // Q/K/V (bf16), S (f32), P (bf16), O (f32).
  int q_off, k_off, v_off, s_off, p_off, o_off, bytes;
};

__host__ __device__ inline int Align128(int x) { return (x + 127) / 128 * 128; }

__host__ __device__ inline Layout MakeLayout(int hd) {
  Layout l;
  l.ldq = hd + 8;
  l.lds = kKeys + 4;
  l.ldp = kKeys + 8;
  l.ldo = hd + 4;
  l.q_off = 0;
  l.k_off = Align128(l.q_off + kRows * l.ldq * 2);
  l.v_off = Align128(l.k_off + kKeys * l.ldq * 2);
  l.s_off = Align128(l.v_off + kKeys * l.ldq * 2);
  l.p_off = Align128(l.s_off + kRows * l.lds * 4);
  l.o_off = Align128(l.p_off + kRows * l.ldp * 2);
  l.bytes = Align128(l.o_off + kRows * l.ldo * 4);
  return l;
}

// What one block computes.
struct Tile {
  int seq, kvh, group;
  int64_t first_row;  // Global row of the tile's first token.
  int tokens;         // Query tokens in the tile (<= kRows / group).
  int first_pos;      // Position of the tile's first token.
  int kv_end;         // Keys [0, kv_end) are visible to some row.
};

// Loads the Q rows (zeros for padding rows) and zeroes O.
__device__ void LoadQ(const AttentionGeometry& g, const Tile& t,
                      const Layout& l, bf16* q_s, float* o_s) {
  const int chunks = g.head_dim / 8;
  for (int i = threadIdx.x; i < kRows * chunks; i += kThreads) {
    const int r = i / chunks, c = i % chunks;
    const int tok = r / t.group, h = r % t.group;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (tok < t.tokens) {
      const int64_t head =
          (t.first_row + tok) * g.num_heads + t.kvh * t.group + h;
      v = *reinterpret_cast<const uint4*>(static_cast<const bf16*>(g.q) +
                                          head * g.head_dim + c * 8);
    }
    *reinterpret_cast<uint4*>(q_s + r * l.ldq + c * 8) = v;
  }
  for (int i = threadIdx.x; i < kRows * l.ldo; i += kThreads) o_s[i] = 0.0f;
}

// Loads K and V for positions [kv0, kv0 + kKeys); positions >= kv_end are
// zero (their probabilities are 0, and 0 * garbage could be NaN).
__device__ void LoadKv(const AttentionGeometry& g, const Tile& t,
                       const Layout& l, const int32_t* table, int kv0,
                       bf16* k_s, bf16* v_s) {
  const int chunks = g.head_dim / 8;
  for (int i = threadIdx.x; i < kKeys * chunks; i += kThreads) {
    const int j = i / chunks, c = i % chunks;
    const int pos = kv0 + j;
    uint4 kv = make_uint4(0, 0, 0, 0), vv = make_uint4(0, 0, 0, 0);
    if (pos < t.kv_end) {
      kv = LoadKvChunk(g, g.k_cache, table, pos, t.kvh, c);
      vv = LoadKvChunk(g, g.v_cache, table, pos, t.kvh, c);
    }
    *reinterpret_cast<uint4*>(k_s + j * l.ldq + c * 8) = kv;
    *reinterpret_cast<uint4*>(v_s + j * l.ldq + c * 8) = vv;
  }
}

// S[warp rows] = Q[warp rows] K^T.
__device__ void ScoreTile(int hd, const Layout& l, const bf16* q_s,
                          const bf16* k_s, float* s_s) {
  const int warp = threadIdx.x / 32;
  for (int nt = 0; nt < kKeys / 16; ++nt) {
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::fill_fragment(acc, 0.0f);
    for (int kk = 0; kk < hd / 16; ++kk) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
      wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> b;
      wmma::load_matrix_sync(a, q_s + warp * 16 * l.ldq + kk * 16, l.ldq);
      wmma::load_matrix_sync(b, k_s + nt * 16 * l.ldq + kk * 16, l.ldq);
      wmma::mma_sync(acc, a, b, acc);
    }
    wmma::store_matrix_sync(s_s + warp * 16 * l.lds + nt * 16, acc, l.lds,
                            wmma::mem_row_major);
  }
}

// O[warp rows] += P[warp rows] V.
__device__ void AccumulateTile(int hd, const Layout& l, const bf16* p_s,
                               const bf16* v_s, float* o_s) {
  const int warp = threadIdx.x / 32;
  for (int nt = 0; nt < hd / 16; ++nt) {
    float* o_ptr = o_s + warp * 16 * l.ldo + nt * 16;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::load_matrix_sync(acc, o_ptr, l.ldo, wmma::mem_row_major);
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
      wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> b;
      wmma::load_matrix_sync(a, p_s + warp * 16 * l.ldp + kk * 16, l.ldp);
      wmma::load_matrix_sync(b, v_s + kk * 16 * l.ldq + nt * 16, l.ldq);
      wmma::mma_sync(acc, a, b, acc);
    }
    wmma::store_matrix_sync(o_ptr, acc, l.ldo, wmma::mem_row_major);
  }
}

// Per-row softmax state, held by both lanes of the row.
struct RowState {
  float m, l;
  int pos;  // The row's query position (keys <= pos are visible).
};

// Online softmax over the tile for this lane's row (r = 16 * warp + lane / 2;
// the lane covers half of the kKeys columns): masks, rescales O, writes P.
__device__ void SoftmaxTile(int hd, const Layout& l, float scale, int kv0,
                            RowState& st, float* s_s, bf16* p_s, float* o_s) {
  const int lane = threadIdx.x & 31;
  const int r = (threadIdx.x / 32) * 16 + lane / 2;
  const int c0 = (lane & 1) * (kKeys / 2);
  float* s_row = s_s + r * l.lds;
  float mx = -INFINITY;
#pragma unroll
  for (int c = c0; c < c0 + kKeys / 2; ++c) {
    const float v = kv0 + c <= st.pos ? s_row[c] * scale : -INFINITY;
    s_row[c] = v;
    mx = fmaxf(mx, v);
  }
  mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
  const float m_new =
      fmaxf(st.m, mx);  // Finite: key 0 is visible to every row.
  const float alpha = expf(st.m - m_new);
  float sum = 0.0f;
#pragma unroll
  for (int c = c0; c < c0 + kKeys / 2; ++c) {
    const float v = s_row[c];
    const bf16 pb =
        __float2bfloat16_rn(v == -INFINITY ? 0.0f : expf(v - m_new));
    p_s[r * l.ldp + c] = pb;
    sum += __bfloat162float(pb);
  }
  sum += __shfl_xor_sync(0xffffffffu, sum, 1);
  st.l = st.l * alpha + sum;
  st.m = m_new;
  const int half = hd / 2;
  float* o_row = o_s + r * l.ldo + (lane & 1) * half;
  for (int c = 0; c < half; ++c) o_row[c] *= alpha;
}

__device__ bool MakeTile(const FlashAttentionLaunch& p, Tile& t) {
  const AttentionGeometry& g = p.g;
  t.seq = blockIdx.z;
  t.kvh = blockIdx.y;
  t.group = g.num_heads / g.num_kv_heads;
  const int tokens_per_tile = kRows / t.group;
  const int q_start = g.query_start_loc[t.seq];
  const int q_len = g.query_start_loc[t.seq + 1] - q_start;
  const int tok0 = blockIdx.x * tokens_per_tile;
  if (tok0 >= q_len) return false;
  const int64_t cap = static_cast<int64_t>(g.max_blocks) * g.block_size;
  const int context =
      static_cast<int>(min(static_cast<int64_t>(g.seq_lens[t.seq]), cap));
  t.first_row = q_start + tok0;
  t.tokens = min(tokens_per_tile, q_len - tok0);
  t.first_pos = context - q_len + tok0;
  t.kv_end = t.first_pos + t.tokens;
  return true;
}

// Writes zeros for the tile's rows (a sequence with more query rows than
// context, which the CPU backend rejects as invalid).
__device__ void ZeroTile(const AttentionGeometry& g, const Tile& t) {
  for (int i = threadIdx.x; i < t.tokens * t.group * g.head_dim;
       i += kThreads) {
    const int r = i / g.head_dim, d = i % g.head_dim;
    const int64_t head = (t.first_row + r / t.group) * g.num_heads +
                         t.kvh * t.group + r % t.group;
    static_cast<bf16*>(g.out)[head * g.head_dim + d] =
        __float2bfloat16_rn(0.0f);
  }
}

__global__ void __launch_bounds__(kThreads)
    FlashAttentionKernel(FlashAttentionLaunch p) {
  extern __shared__ __align__(128) unsigned char smem[];
  const AttentionGeometry& g = p.g;
  Tile t;
  if (!MakeTile(p, t)) return;
  if (t.first_pos < 0) {
    ZeroTile(g, t);
    return;
  }
  const int hd = g.head_dim;
  const Layout l = MakeLayout(hd);
  bf16* q_s = reinterpret_cast<bf16*>(smem + l.q_off);
  bf16* k_s = reinterpret_cast<bf16*>(smem + l.k_off);
  bf16* v_s = reinterpret_cast<bf16*>(smem + l.v_off);
  float* s_s = reinterpret_cast<float*>(smem + l.s_off);
  bf16* p_s = reinterpret_cast<bf16*>(smem + l.p_off);
  float* o_s = reinterpret_cast<float*>(smem + l.o_off);
  LoadQ(g, t, l, q_s, o_s);
  const int r = (threadIdx.x / 32) * 16 + (threadIdx.x & 31) / 2;
  // Padding rows repeat the last token's position so their softmax stays
  // finite; they are never stored.
  RowState st{-INFINITY, 0.0f, t.first_pos + min(r / t.group, t.tokens - 1)};
  const int32_t* table =
      g.block_tables + static_cast<int64_t>(t.seq) * g.max_blocks;
  for (int kv0 = 0; kv0 < t.kv_end; kv0 += kKeys) {
    __syncthreads();  // Q/O ready (first pass); K/V no longer read (later).
    LoadKv(g, t, l, table, kv0, k_s, v_s);
    __syncthreads();
    ScoreTile(hd, l, q_s, k_s, s_s);
    __syncwarp();
    SoftmaxTile(hd, l, g.scale, kv0, st, s_s, p_s, o_s);
    __syncwarp();
    AccumulateTile(hd, l, p_s, v_s, o_s);
  }
  __syncwarp();
  const int tok = r / t.group;
  if (tok < t.tokens) {
    const int64_t head =
        (t.first_row + tok) * g.num_heads + t.kvh * t.group + r % t.group;
    bf16* dst = static_cast<bf16*>(g.out) + head * hd;
    const float inv = 1.0f / st.l;
    const int half = hd / 2, c0 = (threadIdx.x & 1) * half;
    const float* o_row = o_s + r * l.ldo;
    for (int c = c0; c < c0 + half; ++c)
      dst[c] = __float2bfloat16_rn(o_row[c] * inv);
  }
}

}  // namespace

bool FlashAttentionSupported(int head_dim, int group) {
  return head_dim > 0 && head_dim % 16 == 0 && head_dim <= 256 && group >= 1 &&
         group <= kRows;
}

size_t FlashAttentionSharedBytes(int head_dim) {
  return MakeLayout(head_dim).bytes;
}

cudaError_t LaunchFlashAttention(const FlashAttentionLaunch& p,
                                 cudaStream_t stream) {
  const AttentionGeometry& g = p.g;
  if (g.num_seqs == 0 || p.max_query_len <= 0) return cudaSuccess;
  if (g.num_kv_heads <= 0 || g.num_heads % g.num_kv_heads != 0 ||
      !FlashAttentionSupported(g.head_dim, g.num_heads / g.num_kv_heads) ||
      g.num_blocks < 1 || g.block_size < 1 || g.max_blocks < 1 ||
      g.num_seqs > 65535 || g.num_kv_heads > 65535) {
    return cudaErrorInvalidValue;
  }
  const int tokens_per_tile = kRows / (g.num_heads / g.num_kv_heads);
  const int tiles = (p.max_query_len + tokens_per_tile - 1) / tokens_per_tile;
  const Layout l = MakeLayout(g.head_dim);
  cudaError_t err = cudaFuncSetAttribute(
      FlashAttentionKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
      l.bytes);
  if (err != cudaSuccess) return err;
  const dim3 grid(tiles, g.num_kv_heads, g.num_seqs);
  FlashAttentionKernel<<<grid, kThreads, l.bytes, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace infernum::kernels::cuda
