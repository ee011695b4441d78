#include "kernels/backend_test_util.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/dtype.h"

namespace infernum::kernels::testing {

std::vector<BackendCase> AllBackendCases() {
  auto factory = [](std::string name, int threads) {
    return [=]() { return CreateBackend({name, threads}); };
  };
  auto cpu_isa = [](int threads, CpuIsa isa) {
    return [=]() -> absl::StatusOr<std::unique_ptr<Backend>> {
      return CreateCpuBackend(threads, isa);
    };
  };
  return {
      {"cpu_1thread", factory("cpu", 1)},
      {"cpu_2threads", factory("cpu", 2)},
      {"cpu_avx2_2threads", cpu_isa(2, CpuIsa::kAvx2)},
      {"cpu_scalar_2threads", cpu_isa(2, CpuIsa::kScalar)},
      // Skips (Unavailable) on machines without a CUDA device, such as CI.
      {"cuda", factory("cuda", 0)},
  };
}

void PrintTo(const BackendCase& c, std::ostream* os) { *os << c.label; }

std::string BackendCaseName(const ::testing::TestParamInfo<BackendCase>& info) {
  return info.param.label;
}

void BackendOpsTest::SetUp() {
  auto backend = GetParam().make();
  if (absl::IsUnavailable(backend.status())) {
    GTEST_SKIP() << GetParam().label << ": " << backend.status();
  }
  ASSERT_TRUE(backend.ok()) << backend.status();
  backend_ = std::move(*backend);
}

double BackendOpsTest::Tol(double f32_tol) const {
  return act() == DType::kF32 ? f32_tol : std::max(f32_tol, 2e-2);
}

std::vector<float> RoundTo(const std::vector<float>& values, DType dtype) {
  std::vector<float> out(values);
  for (float& v : out) {
    if (dtype == DType::kBF16) v = Bf16ToF32(F32ToBf16(v));
    if (dtype == DType::kF16) v = F16ToF32(F32ToF16(v));
  }
  return out;
}

Tensor BackendOpsTest::Upload(const std::vector<float>& values, DType dtype,
                              std::initializer_list<int64_t> dims) {
  Tensor t = Poisoned(dtype, dims);
  EXPECT_EQ(static_cast<size_t>(t.numel()), values.size());
  std::vector<uint16_t> half(values.size());
  const void* src = values.data();
  if (dtype != DType::kF32) {
    for (size_t i = 0; i < values.size(); ++i) {
      half[i] =
          dtype == DType::kBF16 ? F32ToBf16(values[i]) : F32ToF16(values[i]);
    }
    src = half.data();
  }
  EXPECT_TRUE(backend_->CopyToDevice(t.data, src, t.nbytes(), stream()).ok());
  return t;
}

Tensor BackendOpsTest::UploadI32(const std::vector<int32_t>& values,
                                 std::initializer_list<int64_t> dims) {
  Tensor t = Poisoned(DType::kI32, dims);
  EXPECT_EQ(static_cast<size_t>(t.numel()), values.size());
  EXPECT_TRUE(
      backend_->CopyToDevice(t.data, values.data(), t.nbytes(), stream()).ok());
  return t;
}

Tensor BackendOpsTest::Poisoned(DType dtype,
                                std::initializer_list<int64_t> dims) {
  Tensor shape(nullptr, dtype, dims);
  auto buffer = backend_->Allocate(std::max<size_t>(shape.nbytes(), 1));
  EXPECT_TRUE(buffer.ok()) << buffer.status();
  Tensor t(buffer->data(), dtype, dims);
  EXPECT_TRUE(backend_->Memset(t.data, 0xff, t.nbytes(), stream()).ok());
  buffers_.push_back(std::move(*buffer));
  return t;
}

std::vector<float> BackendOpsTest::Download(const Tensor& t) {
  std::vector<char> raw(t.nbytes());
  EXPECT_TRUE(
      backend_->CopyToHost(raw.data(), t.data, raw.size(), stream()).ok());
  EXPECT_TRUE(backend_->Synchronize(stream()).ok());
  std::vector<float> out(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) {
    uint16_t h;
    switch (t.dtype) {
      case DType::kF32:
        std::memcpy(&out[i], raw.data() + 4 * i, 4);
        break;
      case DType::kBF16:
        std::memcpy(&h, raw.data() + 2 * i, 2);
        out[i] = Bf16ToF32(h);
        break;
      case DType::kF16:
        std::memcpy(&h, raw.data() + 2 * i, 2);
        out[i] = F16ToF32(h);
        break;
      case DType::kI32:
        ADD_FAILURE() << "use DownloadI32";
        break;
    }
  }
  return out;
}

std::vector<int32_t> BackendOpsTest::DownloadI32(const Tensor& t) {
  EXPECT_EQ(t.dtype, DType::kI32);
  std::vector<int32_t> out(t.numel());
  EXPECT_TRUE(
      backend_->CopyToHost(out.data(), t.data, t.nbytes(), stream()).ok());
  EXPECT_TRUE(backend_->Synchronize(stream()).ok());
  return out;
}

std::vector<float> BackendOpsTest::Random(int64_t count, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> out(count);
  for (float& v : out) v = dist(rng_);
  return out;
}

namespace {

void ExpectWithin(const std::vector<float>& got,
                  const std::vector<double>& want,
                  const std::function<double(size_t)>& allowed,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int failures = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const bool written = !std::isnan(got[i]) || std::isnan(want[i]);
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (written && (err <= allowed(i) || got[i] == want[i])) continue;
    if (++failures <= 5) {
      ADD_FAILURE() << what << ": element " << i << " got " << got[i]
                    << " want " << want[i]
                    << (written ? "" : " (never written)") << " allowed error "
                    << allowed(i);
    }
  }
  EXPECT_EQ(failures, 0) << what << ": " << failures << " of " << got.size()
                         << " mismatched";
}

}  // namespace

void ExpectClose(const std::vector<float>& got, const std::vector<double>& want,
                 double rtol, const std::string& what) {
  double sum_sq = 0;
  for (double w : want) sum_sq += w * w;
  const double atol =
      rtol * std::sqrt(sum_sq / std::max<size_t>(want.size(), 1));
  ExpectWithin(
      got, want, [&](size_t i) { return atol + rtol * std::fabs(want[i]); },
      what);
}

void ExpectCloseScaled(const std::vector<float>& got,
                       const std::vector<double>& want,
                       const std::vector<double>& scale, double rtol,
                       const std::string& what) {
  ASSERT_EQ(scale.size(), want.size()) << what;
  ExpectWithin(
      got, want, [&](size_t i) { return rtol * scale[i]; }, what);
}

}  // namespace infernum::kernels::testing
