// CudaBackendImpl::Sample: stages the per-row params and penalty lists
// through pinned memory, runs the sampling kernel, and returns host results.
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "kernels/cuda/cuda_backend_impl.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/sampling_kernels.h"
#include "kernels/op_checks.h"

namespace infernum::kernels::cuda {
namespace {

// Fixed-point mass headroom: vocab x 2^40 (one token's largest weight) must
// stay below 2^64.
constexpr int64_t kMaxVocab = (int64_t{1} << 24) - 1;

size_t Align16(size_t x) { return (x + 15) / 16 * 16; }

// Byte offsets of every section of the staging / device IO buffers.
struct IoLayout {
  size_t params, tokens_in, counts_in, inputs_end;
  size_t tokens, status, logprobs, top_tokens, top_logprobs, end;
};

IoLayout MakeIoLayout(int64_t rows, size_t num_penalties) {
  IoLayout l{};
  l.params = 0;
  l.tokens_in = Align16(rows * sizeof(GpuSamplingRow));
  l.counts_in = l.tokens_in + Align16(num_penalties * sizeof(int32_t));
  l.inputs_end = l.counts_in + Align16(num_penalties * sizeof(int32_t));
  l.tokens = l.inputs_end;
  l.status = l.tokens + Align16(rows * sizeof(int32_t));
  l.logprobs = l.status + Align16(rows * sizeof(int32_t));
  l.top_tokens = l.logprobs + Align16(rows * sizeof(float));
  l.top_logprobs =
      l.top_tokens + Align16(rows * kMaxGpuTopLogprobs * sizeof(int32_t));
  l.end = l.top_logprobs + Align16(rows * kMaxGpuTopLogprobs * sizeof(float));
  return l;
}

absl::Status CheckSampleInputs(const GpuSamplingInputs& in,
                               bool* any_penalties) {
  constexpr std::string_view kOp = "Sample";
  RETURN_IF_ERROR(CheckTensor(kOp, "logits", in.logits, 2, {DType::kF32}));
  const int64_t rows = in.logits.dim(0), vocab = in.logits.dim(1);
  if (static_cast<int64_t>(in.rows.size()) != rows) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Sample: ", in.rows.size(), " row params for ", rows, " logit rows"));
  }
  if (rows > 0 && (vocab == 0 || vocab > kMaxVocab)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Sample: vocab ", vocab, " not in [1, 2^24 - 1]"));
  }
  if (in.penalty_tokens.size() != in.penalty_counts.size()) {
    return absl::InvalidArgumentError(
        "Sample: penalty_tokens and penalty_counts differ in size");
  }
  *any_penalties = false;
  for (int64_t i = 0; i < rows; ++i) {
    const GpuSamplingRow& r = in.rows[i];
    if (r.penalty_begin < 0 || r.penalty_begin > r.penalty_end ||
        static_cast<size_t>(r.penalty_end) > in.penalty_tokens.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Sample: row ", i, " has penalty range [", r.penalty_begin, ", ",
          r.penalty_end, ") outside the penalty arrays"));
    }
    if (r.num_logprobs > kMaxGpuTopLogprobs) {
      return absl::InvalidArgumentError(
          absl::StrCat("Sample: row ", i, " asks for ", r.num_logprobs,
                       " logprobs (max ", kMaxGpuTopLogprobs, ")"));
    }
    const bool penalized = r.repetition_penalty != 1.0f ||
                           r.presence_penalty != 0.0f ||
                           r.frequency_penalty != 0.0f;
    *any_penalties =
        *any_penalties || (penalized && r.penalty_end > r.penalty_begin);
  }
  return absl::OkStatus();
}

template <typename T>
void CopyOut(const char* base, size_t offset, size_t count,
             std::vector<T>& out) {
  out.resize(count);
  if (count > 0) std::memcpy(out.data(), base + offset, count * sizeof(T));
}

// Copies the row params and penalty lists into the staging buffer.
void StageInputs(const GpuSamplingInputs& in, const IoLayout& l,
                 char* staging) {
  std::memcpy(staging + l.params, in.rows.data(),
              in.rows.size() * sizeof(GpuSamplingRow));
  const size_t num_penalties = in.penalty_tokens.size();
  if (num_penalties > 0) {
    std::memcpy(staging + l.tokens_in, in.penalty_tokens.data(),
                num_penalties * sizeof(int32_t));
    std::memcpy(staging + l.counts_in, in.penalty_counts.data(),
                num_penalties * sizeof(int32_t));
  }
}

// Points the kernel's inputs and outputs into the device IO buffer.
void BindIo(const IoLayout& l, char* io, SamplingLaunch& k) {
  k.params = reinterpret_cast<const GpuSamplingRow*>(io + l.params);
  k.penalty_tokens = reinterpret_cast<const int32_t*>(io + l.tokens_in);
  k.penalty_counts = reinterpret_cast<const int32_t*>(io + l.counts_in);
  k.tokens = reinterpret_cast<int32_t*>(io + l.tokens);
  k.status = reinterpret_cast<int32_t*>(io + l.status);
  k.logprobs = reinterpret_cast<float*>(io + l.logprobs);
  k.top_tokens = reinterpret_cast<int32_t*>(io + l.top_tokens);
  k.top_logprobs = reinterpret_cast<float*>(io + l.top_logprobs);
}

// Turns the downloaded outputs into the result (or the first row's error).
absl::StatusOr<GpuSamplingResult> ReadResults(const IoLayout& l, int64_t rows,
                                              const char* staging) {
  std::vector<int32_t> status;
  CopyOut(staging, l.status, rows, status);
  for (int64_t i = 0; i < rows; ++i) {
    if (status[i] == kGpuSampleBadLogits) {
      return absl::InvalidArgumentError(
          absl::StrCat("Sample: row ", i, " logits hold NaN or +inf"));
    }
    if (status[i] != kGpuSampleOk) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Sample: row ", i, " has every logit -inf: nothing to sample"));
    }
  }
  GpuSamplingResult result;
  CopyOut(staging, l.tokens, rows, result.tokens);
  CopyOut(staging, l.logprobs, rows, result.logprobs);
  CopyOut(staging, l.top_tokens, rows * kMaxGpuTopLogprobs, result.top_tokens);
  CopyOut(staging, l.top_logprobs, rows * kMaxGpuTopLogprobs,
          result.top_logprobs);
  return result;
}

}  // namespace

absl::StatusOr<GpuSamplingResult> CudaBackendImpl::Sample(
    const GpuSamplingInputs& in, Stream* stream) {
  RETURN_IF_ERROR(CheckNotCapturing("Sample"));
  bool any_penalties = false;
  RETURN_IF_ERROR(CheckSampleInputs(in, &any_penalties));
  const int64_t rows = in.logits.dim(0), vocab = in.logits.dim(1);
  if (rows == 0) return GpuSamplingResult();
  const IoLayout l = MakeIoLayout(rows, in.penalty_tokens.size());
  const cudaStream_t s = native(stream);
  ASSIGN_OR_RETURN(void* staging_ptr, PinnedStaging(l.end));
  ASSIGN_OR_RETURN(void* io_ptr, Scratch(ScratchSlot::kSamplingIo, s, l.end));
  char* staging = static_cast<char*>(staging_ptr);
  char* io = static_cast<char*>(io_ptr);
  StageInputs(in, l, staging);
  RETURN_IF_CUDA_ERROR(
      cudaMemcpyAsync(io, staging, l.inputs_end, cudaMemcpyHostToDevice, s),
      "Sample: upload");
  SamplingLaunch k{};
  k.logits = in.logits.as<float>();
  k.rows = rows;
  k.vocab = static_cast<int>(vocab);
  BindIo(l, io, k);
  if (any_penalties) {
    ASSIGN_OR_RETURN(
        void* work, Scratch(ScratchSlot::kSamplingWork, s,
                            static_cast<size_t>(rows * vocab) * sizeof(float)));
    k.work = static_cast<float*>(work);
  }
  RETURN_IF_CUDA_ERROR(LaunchSampling(k, s), "Sample: launch");
  RETURN_IF_CUDA_ERROR(
      cudaMemcpyAsync(staging + l.inputs_end, io + l.inputs_end,
                      l.end - l.inputs_end, cudaMemcpyDeviceToHost, s),
      "Sample: download");
  RETURN_IF_CUDA_ERROR(cudaStreamSynchronize(s), "Sample: sync");
  return ReadResults(l, rows, staging);
}

}  // namespace infernum::kernels::cuda
