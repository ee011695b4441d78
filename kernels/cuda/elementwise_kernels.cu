#include "kernels/cuda/device_util.h"
#include "kernels/cuda/elementwise_kernels.h"

namespace infernum::kernels::cuda {
namespace {

constexpr int kThreads = 256;

template <typename Tin, typename Tout>
__global__ void EmbeddingKernel(EmbeddingLaunch p) {
  const Tin* table = static_cast<const Tin*>(p.table);
  Tout* out = static_cast<Tout*>(p.out);
  for (int64_t i = blockIdx.x; i < p.n; i += gridDim.x) {
    const int32_t id = p.ids[i];
    const bool valid = id >= 0 && id < p.rows;
    const Tin* src = table + (valid ? static_cast<int64_t>(id) : 0) * p.hidden;
    Tout* dst = out + i * p.hidden;
    for (int64_t j = threadIdx.x; j < p.hidden; j += blockDim.x) {
      dst[j] = FromF<Tout>(valid ? ToF(src[j]) : 0.0f);
    }
  }
}

__device__ __forceinline__ float Silu(float g) { return g / (1.0f + expf(-g)); }

// One thread per element (kVec == 1) or per 16-byte pack (rows and pointers
// pack-aligned).
template <typename T, int kVec>
__global__ void SiluMulKernel(SiluMulLaunch p) {
  const T* x = static_cast<const T*>(p.x);
  T* out = static_cast<T*>(p.out);
  const int64_t packs_per_row = p.d / kVec;
  const int64_t total = p.n * packs_per_row;
  for (int64_t idx =
           blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
       idx < total; idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = idx / packs_per_row;
    const int64_t j = (idx % packs_per_row) * kVec;
    const T* gate = x + i * 2 * p.d + j;
    const T* up = gate + p.d;
    T* dst = out + i * p.d + j;
    if constexpr (kVec == 1) {
      dst[0] = FromF<T>(Silu(ToF(gate[0])) * ToF(up[0]));
    } else {
      float g[kVec], u[kVec], o[kVec];
      LoadPack<T>(gate, g);
      LoadPack<T>(up, u);
#pragma unroll
      for (int e = 0; e < kVec; ++e) o[e] = Silu(g[e]) * u[e];
      StorePack<T>(dst, o);
    }
  }
}

template <typename T, int kVec>
__global__ void AddKernel(AddLaunch p) {
  const T* a = static_cast<const T*>(p.a);
  const T* b = static_cast<const T*>(p.b);
  T* out = static_cast<T*>(p.out);
  const int64_t total = p.numel / kVec;
  for (int64_t idx =
           blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
       idx < total; idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if constexpr (kVec == 1) {
      out[idx] = FromF<T>(ToF(a[idx]) + ToF(b[idx]));
    } else {
      float va[kVec], vb[kVec];
      LoadPack<T>(a + idx * kVec, va);
      LoadPack<T>(b + idx * kVec, vb);
#pragma unroll
      for (int e = 0; e < kVec; ++e) va[e] += vb[e];
      StorePack<T>(out + idx * kVec, va);
    }
  }
}

template <typename Tin, typename Tout>
__global__ void CastKernel(CastLaunch p) {
  const Tin* x = static_cast<const Tin*>(p.x);
  Tout* out = static_cast<Tout*>(p.out);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
       i < p.numel; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = FromF<Tout>(ToF(x[i]));
  }
}

template <typename Word>
__global__ void CopyWordsKernel(const Word* x, Word* out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
       i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = x[i];
  }
}

template <typename Word>
__global__ void ZeroTailRowsKernel(ZeroTailRowsLaunch p) {
  const int64_t first = *p.first_unowned_row;
  Word* out = static_cast<Word*>(p.out);
  for (int64_t r = blockIdx.x; r < p.num_rows; r += gridDim.x) {
    if (r < first) continue;
    for (int64_t j = threadIdx.x; j < p.row_elems; j += blockDim.x)
      out[r * p.row_elems + j] = 0;
  }
}

bool PackAligned(const void* p, int64_t elems_per_row_or_total, int vec) {
  return (reinterpret_cast<uintptr_t>(p) & 15) == 0 &&
         elems_per_row_or_total % vec == 0;
}

}  // namespace

cudaError_t LaunchEmbedding(const EmbeddingLaunch& p, cudaStream_t stream) {
  if (p.n == 0 || p.hidden == 0) return cudaSuccess;
  const unsigned grid = GridFor(p.n, 1, 1 << 16);
  INFERNUM_DISPATCH_FLOAT(
      p.table_type, Tin, INFERNUM_DISPATCH_FLOAT(p.out_type, Tout, {
        EmbeddingKernel<Tin, Tout><<<grid, kThreads, 0, stream>>>(p);
      }));
  return cudaGetLastError();
}

cudaError_t LaunchSiluMul(const SiluMulLaunch& p, cudaStream_t stream) {
  if (p.n == 0 || p.d == 0) return cudaSuccess;
  INFERNUM_DISPATCH_ACT(p.type, T, {
    constexpr int kVec = Pack16<T>::kN;
    if (PackAligned(p.x, p.d, kVec) && PackAligned(p.out, p.d, kVec)) {
      SiluMulKernel<T, kVec>
          <<<GridFor(p.n * p.d / kVec, kThreads), kThreads, 0, stream>>>(p);
    } else {
      SiluMulKernel<T, 1>
          <<<GridFor(p.n * p.d, kThreads), kThreads, 0, stream>>>(p);
    }
  });
  return cudaGetLastError();
}

cudaError_t LaunchAdd(const AddLaunch& p, cudaStream_t stream) {
  if (p.numel == 0) return cudaSuccess;
  INFERNUM_DISPATCH_ACT(p.type, T, {
    constexpr int kVec = Pack16<T>::kN;
    if (PackAligned(p.a, p.numel, kVec) && PackAligned(p.b, p.numel, kVec) &&
        PackAligned(p.out, p.numel, kVec)) {
      AddKernel<T, kVec>
          <<<GridFor(p.numel / kVec, kThreads), kThreads, 0, stream>>>(p);
    } else {
      AddKernel<T, 1><<<GridFor(p.numel, kThreads), kThreads, 0, stream>>>(p);
    }
  });
  return cudaGetLastError();
}

cudaError_t LaunchCast(const CastLaunch& p, cudaStream_t stream) {
  if (p.numel == 0) return cudaSuccess;
  const unsigned grid = GridFor(p.numel, kThreads);
  if (p.x_type == ElemType::kI32 || p.out_type == ElemType::kI32) {
    if (p.x_type != p.out_type) return cudaErrorInvalidValue;
    CopyWordsKernel<int32_t>
        <<<grid, kThreads, 0, stream>>>(static_cast<const int32_t*>(p.x),
                                        static_cast<int32_t*>(p.out), p.numel);
    return cudaGetLastError();
  }
  INFERNUM_DISPATCH_FLOAT(
      p.x_type, Tin, INFERNUM_DISPATCH_FLOAT(p.out_type, Tout, {
        CastKernel<Tin, Tout><<<grid, kThreads, 0, stream>>>(p);
      }));
  return cudaGetLastError();
}

cudaError_t LaunchZeroTailRows(const ZeroTailRowsLaunch& p,
                               cudaStream_t stream) {
  if (p.num_rows == 0 || p.row_elems == 0) return cudaSuccess;
  const unsigned grid = GridFor(p.num_rows, 1, 1 << 14);
  if (p.elem_size == 2) {
    ZeroTailRowsKernel<uint16_t><<<grid, kThreads, 0, stream>>>(p);
  } else if (p.elem_size == 4) {
    ZeroTailRowsKernel<uint32_t><<<grid, kThreads, 0, stream>>>(p);
  } else {
    return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace infernum::kernels::cuda
