// Test support for the backend op tests (backend_*_test.cc): the list of
// backends every op test runs on, a fixture that moves host data to and from
// the backend under test, and tolerance-checked comparison against double
// precision references computed in the tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"

namespace infernum::kernels::testing {

// One backend configuration under test. make() returns Unavailable when the
// device is absent (the test is then skipped).
struct BackendCase {
  std::string label;  // Valid gtest name: "cpu_2threads".
  std::function<absl::StatusOr<std::unique_ptr<Backend>>()> make;
};

// Every backend configuration built into this binary: the CPU backend with 1
// and 2 threads, and with 2 threads restricted to AVX2 and to scalar code
// (on CPUs that lack an ISA the restriction is a no-op). Add CUDA here.
std::vector<BackendCase> AllBackendCases();
void PrintTo(const BackendCase& c, std::ostream* os);  // Prints the label.
std::string BackendCaseName(const ::testing::TestParamInfo<BackendCase>& info);

class BackendOpsTest : public ::testing::TestWithParam<BackendCase> {
 public:
  void SetUp() override;

  // Helpers, public so free helper functions in the tests can use them.
  Backend& backend() { return *backend_; }
  Stream* stream() { return backend_->default_stream(); }
  DType act() const { return backend_->activation_dtype(); }
  // Tolerance for a path that is `f32_tol` accurate with f32 activations;
  // looser when the backend computes in bf16.
  double Tol(double f32_tol) const;

  // A device tensor holding `values` rounded to `dtype` (f32/bf16/f16).
  Tensor Upload(const std::vector<float>& values, DType dtype,
                std::initializer_list<int64_t> dims);
  Tensor UploadI32(const std::vector<int32_t>& values,
                   std::initializer_list<int64_t> dims);
  // A device tensor filled with NaN (all bits set; -1 for i32), to detect
  // elements an op failed to write.
  Tensor Poisoned(DType dtype, std::initializer_list<int64_t> dims);
  // Copies a tensor back to the host as f32 (or i32).
  std::vector<float> Download(const Tensor& t);
  std::vector<int32_t> DownloadI32(const Tensor& t);

  std::mt19937 rng_{1234};
  // Uniform values in [lo, hi).
  std::vector<float> Random(int64_t count, float lo = -1.0f, float hi = 1.0f);

 private:
  std::unique_ptr<Backend> backend_;
  std::vector<DeviceBuffer> buffers_;
};

// `values` as the device would hold them in `dtype` (round trip through it).
std::vector<float> RoundTo(const std::vector<float>& values, DType dtype);

// Expects every element of got to be finite-or-equal (written) and within
// atol + rtol * |want| of want, where atol = rtol * rms(want). Reports the
// first few mismatches with `what`.
void ExpectClose(const std::vector<float>& got, const std::vector<double>& want,
                 double rtol, const std::string& what);

// As ExpectClose, but element i may be off by rtol * scale[i]; for sums,
// scale is the sum of the magnitudes of the terms (the condition of the sum).
void ExpectCloseScaled(const std::vector<float>& got,
                       const std::vector<double>& want,
                       const std::vector<double>& scale, double rtol,
                       const std::string& what);

}  // namespace infernum::kernels::testing
