#include "kernels/cuda/device_util.h"
#include "kernels/cuda/norm_rope_kernels.h"

namespace infernum::kernels::cuda {
namespace {

// One block per row (grid-stride over rows). The second pass re-reads the
// row (L1/L2 hits) instead of caching it in shared memory, so any hidden size
// works.
template <typename TA, typename TW>
__global__ void RmsNormKernel(RmsNormLaunch p) {
  __shared__ float scratch[32];
  const TA* x = static_cast<const TA*>(p.x);
  TA* residual = static_cast<TA*>(p.residual);
  const TW* weight = static_cast<const TW*>(p.weight);
  TA* out = static_cast<TA*>(p.out);
  const int64_t h = p.hidden;
  for (int64_t row = blockIdx.x; row < p.rows; row += gridDim.x) {
    const TA* xr = x + row * h;
    TA* rr = residual != nullptr ? residual + row * h : nullptr;
    float sum_sq = 0.0f;
    for (int64_t j = threadIdx.x; j < h; j += blockDim.x) {
      float v = ToF(xr[j]);
      if (rr != nullptr) {
        const TA sum = FromF<TA>(ToF(rr[j]) + v);
        rr[j] = sum;
        v = ToF(sum);
      }
      sum_sq += v * v;
    }
    const float total = BlockSum(sum_sq, scratch);
    const float inv_rms = 1.0f / sqrtf(total / static_cast<float>(h) + p.eps);
    TA* orow = out + row * h;
    for (int64_t j = threadIdx.x; j < h; j += blockDim.x) {
      const float v = rr != nullptr ? ToF(rr[j]) : ToF(xr[j]);
      orow[j] = FromF<TA>(v * inv_rms * ToF(weight[j]));
    }
  }
}

// One block per token: cos/sin of the token's angles go to shared memory,
// then every (head, j) pair is rotated.
template <typename T>
__global__ void RopeKernel(RopeLaunch p) {
  extern __shared__ float cos_sin[];  // [half] cos, then [half] sin.
  const int half = p.head_dim / 2;
  const int hd = p.head_dim;
  T* q = static_cast<T*>(p.q);
  T* k = static_cast<T*>(p.k);
  const int total_heads = p.num_heads + p.num_kv_heads;
  for (int64_t i = blockIdx.x; i < p.n; i += gridDim.x) {
    const float pos = static_cast<float>(p.positions[i]);
    __syncthreads();  // Previous token done with cos_sin.
    for (int j = threadIdx.x; j < half; j += blockDim.x) {
      float s, c;
      sincosf(pos * p.inv_freq[j], &s, &c);
      cos_sin[j] = c;
      cos_sin[half + j] = s;
    }
    __syncthreads();
    int64_t slot = -1;
    if (p.k_cache != nullptr) {
      slot = p.slot_mapping[i];
      if (slot >= p.num_slots) slot = -1;
    }
    const int64_t kv_row = static_cast<int64_t>(p.num_kv_heads) * hd;
    for (int idx = threadIdx.x; idx < total_heads * half; idx += blockDim.x) {
      const int h = idx / half, j = idx % half;
      const bool is_q = h < p.num_heads;
      T* x = is_q ? q + (i * p.num_heads + h) * hd
                  : k + i * kv_row + (h - p.num_heads) * hd;
      const float a = ToF(x[j]), b = ToF(x[j + half]);
      const float c = cos_sin[j], s = cos_sin[half + j];
      const T lo = FromF<T>(a * c - b * s);
      const T hi = FromF<T>(b * c + a * s);
      x[j] = lo;
      x[j + half] = hi;
      if (!is_q && slot >= 0) {
        T* dst =
            static_cast<T*>(p.k_cache) + slot * kv_row + (h - p.num_heads) * hd;
        dst[j] = lo;
        dst[j + half] = hi;
      }
    }
    if (slot >= 0) {
      const T* v = static_cast<const T*>(p.v) + i * kv_row;
      T* dst = static_cast<T*>(p.v_cache) + slot * kv_row;
      for (int64_t e = threadIdx.x; e < kv_row; e += blockDim.x) dst[e] = v[e];
    }
  }
}

// One block per token; copies one row of `Word`s into each cache.
template <typename Word>
__global__ void WriteKvCacheKernel(WriteKvCacheLaunch p) {
  const int64_t words = p.row_bytes / sizeof(Word);
  for (int64_t i = blockIdx.x; i < p.n; i += gridDim.x) {
    const int64_t slot = p.slot_mapping[i];
    if (slot < 0 || slot >= p.num_slots) continue;
    const Word* k = static_cast<const Word*>(p.k) + i * words;
    const Word* v = static_cast<const Word*>(p.v) + i * words;
    Word* kc = static_cast<Word*>(p.k_cache) + slot * words;
    Word* vc = static_cast<Word*>(p.v_cache) + slot * words;
    for (int64_t w = threadIdx.x; w < words; w += blockDim.x) {
      kc[w] = k[w];
      vc[w] = v[w];
    }
  }
}

int NormThreads(int64_t hidden) {
  if (hidden >= 4096) return 1024;
  if (hidden >= 1024) return 512;
  return 128;
}

bool AllAligned(int64_t row_bytes, int align, const void* a, const void* b,
                const void* c, const void* d) {
  const auto ok = [&](const void* p) {
    return reinterpret_cast<uintptr_t>(p) % align == 0;
  };
  return row_bytes % align == 0 && ok(a) && ok(b) && ok(c) && ok(d);
}

}  // namespace

cudaError_t LaunchRmsNorm(const RmsNormLaunch& p, cudaStream_t stream) {
  if (p.rows == 0 || p.hidden == 0) return cudaSuccess;
  const int threads = NormThreads(p.hidden);
  const unsigned grid = GridFor(p.rows, 1, 1 << 16);
  INFERNUM_DISPATCH_ACT(
      p.act_type, TA, INFERNUM_DISPATCH_FLOAT(p.weight_type, TW, {
        RmsNormKernel<TA, TW><<<grid, threads, 0, stream>>>(p);
      }));
  return cudaGetLastError();
}

cudaError_t LaunchRope(const RopeLaunch& p, cudaStream_t stream) {
  if (p.n == 0 || p.head_dim == 0) return cudaSuccess;
  const unsigned grid = GridFor(p.n, 1, 1 << 16);
  const size_t smem = sizeof(float) * p.head_dim;
  INFERNUM_DISPATCH_ACT(p.act_type, T,
                        { RopeKernel<T><<<grid, 256, smem, stream>>>(p); });
  return cudaGetLastError();
}

cudaError_t LaunchWriteKvCache(const WriteKvCacheLaunch& p,
                               cudaStream_t stream) {
  if (p.n == 0 || p.row_bytes == 0) return cudaSuccess;
  const unsigned grid = GridFor(p.n, 1, 1 << 16);
  if (AllAligned(p.row_bytes, 16, p.k, p.v, p.k_cache, p.v_cache)) {
    WriteKvCacheKernel<uint4><<<grid, 128, 0, stream>>>(p);
  } else if (AllAligned(p.row_bytes, 4, p.k, p.v, p.k_cache, p.v_cache)) {
    WriteKvCacheKernel<uint32_t><<<grid, 128, 0, stream>>>(p);
  } else if (AllAligned(p.row_bytes, 2, p.k, p.v, p.k_cache, p.v_cache)) {
    WriteKvCacheKernel<uint16_t><<<grid, 128, 0, stream>>>(p);
  } else {
    return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace infernum::kernels::cuda
