// On-GPU sampling: penalties -> temperature -> top-k -> top-p -> min-p ->
// Philox draw, plus raw-logit logprobs, one block per row. Probability
// masses are summed in 2^-40 fixed point so the result is a deterministic
// function of (logits, params) regardless of thread timing.
#include "kernels/cuda/argmax_device.h"
#include "kernels/cuda/philox_device.h"
#include "kernels/cuda/sampling_kernels.h"
#include "kernels/cuda/select_device.h"

namespace infernum::kernels::cuda {
namespace {

constexpr int kThreads = 1024;

struct SampleShared {
  SelectShared select;
  ArgmaxPair arg[32];
  float f32[32];
  int i32[32];
  double f64[32];
  int32_t token;
  int32_t top_count;
  float top_value[kMaxGpuTopLogprobs];
  int32_t top_id[kMaxGpuTopLogprobs];
};

__device__ __forceinline__ float ClampFinite(float v) {
  return fminf(fmaxf(v, -3.402823466e38f), 3.402823466e38f);
}

// Copies the row into `work` and applies the penalties of its list.
__device__ void ApplyPenalties(const SamplingLaunch& p,
                               const GpuSamplingRow& prm, const float* raw,
                               float* work) {
  for (int j = threadIdx.x; j < p.vocab; j += blockDim.x) work[j] = raw[j];
  __syncthreads();
  const float r = prm.repetition_penalty;
  const bool additive =
      prm.frequency_penalty != 0.0f || prm.presence_penalty != 0.0f;
  for (int i = prm.penalty_begin + threadIdx.x; i < prm.penalty_end;
       i += blockDim.x) {
    const int32_t id = p.penalty_tokens[i];
    if (id < 0 || id >= p.vocab) continue;
    float v = work[id];
    if (v == -INFINITY) continue;
    if (r != 1.0f && r > 0.0f) v = ClampFinite(v > 0.0f ? v / r : v * r);
    const int32_t count = p.penalty_counts[i];
    if (additive && count > 0) {
      // __fmul_rn: no FMA contraction, so the rounding equals the CPU's.
      v -= __fmul_rn(prm.frequency_penalty, static_cast<float>(count));
      v -= prm.presence_penalty;
      v = ClampFinite(v);
    }
    work[id] = v;
  }
  __syncthreads();
}

// Inverse-CDF draw over the survivors (inside `cut`, and weight >= min_p),
// in id order, with fixed-point weights.
__device__ int32_t Draw(const float* x, int vocab, const Cut& cut, float max,
                        float temperature, float min_p, double uniform,
                        int32_t fallback, SampleShared& sh) {
  const int span = (vocab + blockDim.x - 1) / blockDim.x;
  const int lo = min(vocab, static_cast<int>(threadIdx.x) * span),
            hi = min(vocab, lo + span);
  const auto weight = [&](int j) -> u64 {
    const float v = x[j] + 0.0f;
    if (v == -INFINITY || !Inside(cut, DescKey(v), j)) return 0;
    if (min_p > 0.0f && expf((v - max) / temperature) < min_p) return 0;
    return FixedWeight(v, max, temperature);
  };
  u64 local = 0;
  for (int j = lo; j < hi; ++j) local += weight(j);
  if (threadIdx.x == 0) sh.token = fallback;
  u64 total;
  const u64 before = BlockExclusiveSum(local, sh.select.scratch, &total);
  if (total > 0) {
    u64 target = __double2ull_rd(uniform * static_cast<double>(total));
    if (target >= total) target = total - 1;
    if (before <= target && target < before + local) {
      u64 cum = before;
      for (int j = lo; j < hi; ++j) {
        cum += weight(j);
        if (cum > target) {
          sh.token = j;
          break;
        }
      }
    }
  }
  __syncthreads();
  return sh.token;
}

// Non-greedy token: temperature, top-k, top-p, min-p, then the draw.
__device__ int32_t SampleRow(const float* x, int vocab, int finite,
                             const GpuSamplingRow& prm, const ArgmaxPair& best,
                             SampleShared& sh) {
  const float max = best.value, t = prm.temperature;
  Cut cut = NoCut();
  if (prm.top_k > 0 && prm.top_k < finite) {
    cut = SelectCut<false>(x, vocab, cut, max, t, static_cast<u64>(prm.top_k),
                           sh.select);
  }
  if (prm.top_p < 1.0f) {
    u64 local = 0;
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
      const float v = x[j] + 0.0f;
      if (v != -INFINITY && Inside(cut, DescKey(v), j))
        local += FixedWeight(v, max, t);
    }
    const u64 total = BlockSumT(local, sh.select.scratch);
    const double frac = static_cast<double>(prm.top_p) - 1e-6;
    u64 target =
        static_cast<u64>(ceil(fmax(frac, 0.0) * static_cast<double>(total)));
    target = target < 1 ? 1 : (target > total ? total : target);
    cut = SelectCut<true>(x, vocab, cut, max, t, target, sh.select);
  }
  const uint4 r = Philox4x32_10(make_uint4(prm.counter[0], prm.counter[1],
                                           prm.counter[2], prm.counter[3]),
                                make_uint2(prm.key[0], prm.key[1]));
  return Draw(x, vocab, cut, max, t, prm.min_p, UniformFromWords(r.x, r.y),
              best.index, sh);
}

// log_softmax of the raw logits at `token` and the row's top alternatives.
__device__ void Logprobs(const SamplingLaunch& p, const GpuSamplingRow& prm,
                         const float* raw, float raw_max, int finite,
                         int32_t token, SampleShared& sh) {
  const int64_t row = blockIdx.x;
  double s = 0.0;
  for (int j = threadIdx.x; j < p.vocab; j += blockDim.x)
    s += exp(static_cast<double>(raw[j] - raw_max));
  const double log_z = static_cast<double>(raw_max) + log(BlockSumT(s, sh.f64));
  if (threadIdx.x == 0)
    p.logprobs[row] = static_cast<float>(raw[token] - log_z);
  const int n = min(prm.num_logprobs, kMaxGpuTopLogprobs);
  int count = 0;
  if (n > 0) {
    const Cut cut = n < finite ? SelectCut<false>(raw, p.vocab, NoCut(), 0.0f,
                                                  1.0f, n, sh.select)
                               : NoCut();
    if (threadIdx.x == 0) sh.top_count = 0;
    __syncthreads();
    for (int j = threadIdx.x; j < p.vocab; j += blockDim.x) {
      const float v = raw[j] + 0.0f;
      if (v == -INFINITY || !Inside(cut, DescKey(v), j)) continue;
      const int slot = atomicAdd(&sh.top_count, 1);
      if (slot < kMaxGpuTopLogprobs) {
        sh.top_value[slot] = v;
        sh.top_id[slot] = j;
      }
    }
    __syncthreads();
    count = min(sh.top_count, n);
    if (threadIdx.x == 0) {  // Insertion sort: higher logit, then lower id.
      for (int a = 1; a < count; ++a) {
        const float v = sh.top_value[a];
        const int32_t id = sh.top_id[a];
        int b = a - 1;
        while (b >= 0 && (sh.top_value[b] < v ||
                          (sh.top_value[b] == v && sh.top_id[b] > id))) {
          sh.top_value[b + 1] = sh.top_value[b];
          sh.top_id[b + 1] = sh.top_id[b];
          --b;
        }
        sh.top_value[b + 1] = v;
        sh.top_id[b + 1] = id;
      }
    }
    __syncthreads();
  }
  for (int i = threadIdx.x; i < kMaxGpuTopLogprobs; i += blockDim.x) {
    const int64_t at = row * kMaxGpuTopLogprobs + i;
    p.top_tokens[at] = i < count ? sh.top_id[i] : -1;
    p.top_logprobs[at] =
        i < count ? static_cast<float>(sh.top_value[i] - log_z) : -INFINITY;
  }
}

__device__ void WriteFailure(const SamplingLaunch& p, int32_t status) {
  const int64_t row = blockIdx.x;
  if (threadIdx.x == 0) {
    p.status[row] = status;
    p.tokens[row] = -1;
    p.logprobs[row] = __int_as_float(0x7fffffff);
  }
  for (int i = threadIdx.x; i < kMaxGpuTopLogprobs; i += blockDim.x) {
    p.top_tokens[row * kMaxGpuTopLogprobs + i] = -1;
    p.top_logprobs[row * kMaxGpuTopLogprobs + i] = -INFINITY;
  }
}

__global__ void __launch_bounds__(kThreads) SamplingKernel(SamplingLaunch p) {
  __shared__ SampleShared sh;
  const int64_t row = blockIdx.x;
  const GpuSamplingRow prm = p.params[row];
  const float* raw = p.logits + row * p.vocab;
  int bad = 0, finite = 0;
  float raw_max = -INFINITY;
  for (int j = threadIdx.x; j < p.vocab; j += blockDim.x) {
    const float v = raw[j];
    if (isnan(v) || v == INFINITY) {
      bad = 1;
    } else if (v != -INFINITY) {
      ++finite;
      raw_max = fmaxf(raw_max, v);
    }
  }
  bad = __syncthreads_or(bad);
  finite = BlockSumT(finite, sh.i32);
  raw_max = BlockMax(raw_max, sh.f32);
  if (bad || finite == 0) {
    WriteFailure(p, bad ? kGpuSampleBadLogits : kGpuSampleAllMasked);
    return;
  }
  const bool penalties = prm.repetition_penalty != 1.0f ||
                         prm.presence_penalty != 0.0f ||
                         prm.frequency_penalty != 0.0f;
  const float* x = raw;
  if (penalties && p.work != nullptr && prm.penalty_end > prm.penalty_begin) {
    float* work = p.work + row * p.vocab;
    ApplyPenalties(p, prm, raw, work);
    x = work;
  }
  ArgmaxPair best = EmptyArgmax();
  for (int j = threadIdx.x; j < p.vocab; j += blockDim.x)
    ArgmaxTake(best, x[j], j);
  best = BlockArgmax(best, sh.arg);
  const bool greedy = !(prm.temperature >= 1e-5f) || prm.top_k == 1;
  const int32_t token =
      greedy ? best.index : SampleRow(x, p.vocab, finite, prm, best, sh);
  if (threadIdx.x == 0) {
    p.tokens[row] = token;
    p.status[row] = kGpuSampleOk;
  }
  if (prm.num_logprobs >= 0) {
    Logprobs(p, prm, raw, raw_max, finite, token, sh);
  } else {
    if (threadIdx.x == 0) p.logprobs[row] = __int_as_float(0x7fffffff);
    for (int i = threadIdx.x; i < kMaxGpuTopLogprobs; i += blockDim.x) {
      p.top_tokens[row * kMaxGpuTopLogprobs + i] = -1;
      p.top_logprobs[row * kMaxGpuTopLogprobs + i] = -INFINITY;
    }
  }
}

}  // namespace

cudaError_t LaunchSampling(const SamplingLaunch& p, cudaStream_t stream) {
  if (p.rows == 0) return cudaSuccess;
  if (p.vocab <= 0 || p.rows > 0x7fffffff) return cudaErrorInvalidValue;
  SamplingKernel<<<static_cast<unsigned>(p.rows), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace infernum::kernels::cuda
