#include "kernels/cuda/cuda_test_util.h"

#include <cmath>
#include <cstring>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/dtype.h"

namespace infernum::kernels::cuda_testing {

void CudaVsCpuTest::SetUp() {
  auto backend = CreateCudaBackend({.name = "cuda"});
  if (absl::IsUnavailable(backend.status())) {
    GTEST_SKIP() << "no CUDA device: " << backend.status();
  }
  ASSERT_TRUE(backend.ok()) << backend.status();
  gpu_owner_ = std::move(*backend);
  gpu_ = AsCudaBackend(gpu_owner_.get());
  ASSERT_NE(gpu_, nullptr);
  cpu_ = CreateCpuBackend(2);
}

Tensor CudaVsCpuTest::Place(Backend& b, std::vector<DeviceBuffer>& keep,
                            const void* data, DType dtype,
                            std::initializer_list<int64_t> dims) {
  const Tensor shape(nullptr, dtype, dims);
  auto buf = b.Allocate(std::max<size_t>(shape.nbytes(), 1));
  EXPECT_TRUE(buf.ok()) << buf.status();
  if (!buf.ok()) return Tensor();
  Tensor t(buf->data(), dtype, dims);
  if (data == nullptr) {
    EXPECT_TRUE(b.Memset(t.data, 0xff, t.nbytes(), b.default_stream()).ok());
  } else {
    EXPECT_TRUE(
        b.CopyToDevice(t.data, data, t.nbytes(), b.default_stream()).ok());
    EXPECT_TRUE(b.Synchronize(b.default_stream()).ok());
  }
  keep.push_back(std::move(*buf));
  return t;
}

Tensor CudaVsCpuTest::Gpu(const std::vector<float>& values, DType dtype,
                          std::initializer_list<int64_t> dims) {
  std::vector<uint16_t> half(values.size());
  const void* src = values.data();
  if (dtype == DType::kBF16 || dtype == DType::kF16) {
    for (size_t i = 0; i < values.size(); ++i) {
      half[i] =
          dtype == DType::kBF16 ? F32ToBf16(values[i]) : F32ToF16(values[i]);
    }
    src = half.data();
  }
  Tensor t = Place(*gpu_, gpu_buffers_, src, dtype, dims);
  EXPECT_EQ(static_cast<size_t>(t.numel()), values.size());
  return t;
}

Tensor CudaVsCpuTest::Cpu(const std::vector<float>& values,
                          std::initializer_list<int64_t> dims) {
  return Place(*cpu_, cpu_buffers_, values.data(), DType::kF32, dims);
}

Tensor CudaVsCpuTest::GpuI32(const std::vector<int32_t>& values,
                             std::initializer_list<int64_t> dims) {
  return Place(*gpu_, gpu_buffers_, values.data(), DType::kI32, dims);
}

Tensor CudaVsCpuTest::CpuI32(const std::vector<int32_t>& values,
                             std::initializer_list<int64_t> dims) {
  return Place(*cpu_, cpu_buffers_, values.data(), DType::kI32, dims);
}

Tensor CudaVsCpuTest::GpuPoisoned(DType dtype,
                                  std::initializer_list<int64_t> dims) {
  return Place(*gpu_, gpu_buffers_, nullptr, dtype, dims);
}

Tensor CudaVsCpuTest::CpuPoisoned(std::initializer_list<int64_t> dims) {
  return Place(*cpu_, cpu_buffers_, nullptr, DType::kF32, dims);
}

std::vector<float> CudaVsCpuTest::Down(const Tensor& t) {
  Backend& b = *gpu_;
  std::vector<char> raw(t.nbytes());
  EXPECT_TRUE(
      b.CopyToHost(raw.data(), t.data, raw.size(), b.default_stream()).ok());
  EXPECT_TRUE(b.Synchronize(b.default_stream()).ok());
  std::vector<float> out(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) {
    uint16_t h;
    switch (t.dtype) {
      case DType::kF32:
        std::memcpy(&out[i], raw.data() + 4 * i, 4);
        break;
      case DType::kBF16:
      case DType::kF16:
        std::memcpy(&h, raw.data() + 2 * i, 2);
        out[i] = t.dtype == DType::kBF16 ? Bf16ToF32(h) : F16ToF32(h);
        break;
      case DType::kI32:
        ADD_FAILURE() << "use DownI32";
        break;
    }
  }
  return out;
}

std::vector<float> CudaVsCpuTest::CpuDown(const Tensor& t) {
  EXPECT_EQ(t.dtype, DType::kF32);
  const float* p = t.as<float>();  // CPU backend memory is host memory.
  return std::vector<float>(p, p + t.numel());
}

std::vector<int32_t> CudaVsCpuTest::DownI32(const Tensor& t) {
  std::vector<int32_t> out(t.numel());
  EXPECT_TRUE(gpu_->CopyToHost(out.data(), t.data, t.nbytes(), gs()).ok());
  EXPECT_TRUE(gpu_->Synchronize(gs()).ok());
  return out;
}

std::vector<float> CudaVsCpuTest::Random(int64_t count, float lo, float hi,
                                         DType dtype) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> out(count);
  for (float& v : out) {
    v = dist(rng_);
    if (dtype == DType::kBF16) v = Bf16ToF32(F32ToBf16(v));
    if (dtype == DType::kF16) v = F16ToF32(F32ToF16(v));
  }
  return out;
}

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want,
                double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double sum_sq = 0;
  for (float w : want) sum_sq += static_cast<double>(w) * w;
  const double rms = std::sqrt(sum_sq / std::max<size_t>(want.size(), 1));
  int failures = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const bool written = !std::isnan(got[i]) || std::isnan(want[i]);
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    const double allowed = tol * (rms + 1e-6) + tol * std::fabs(want[i]);
    if (written && (err <= allowed || got[i] == want[i])) continue;
    worst = std::max(worst, err / (rms + 1e-6));
    if (++failures <= 5) {
      ADD_FAILURE() << what << ": element " << i << " got " << got[i]
                    << " want " << want[i]
                    << (written ? "" : " (never written)");
    }
  }
  EXPECT_EQ(failures, 0) << what << ": " << failures << " of " << got.size()
                         << " mismatched; worst normalized error " << worst;
}

}  // namespace infernum::kernels::cuda_testing
