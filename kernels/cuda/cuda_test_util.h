// Test support for the gpu-tagged CUDA tests: a fixture holding the CUDA
// backend under test (the test is skipped when it is Unavailable) and the CPU
// backend as the exact f32 reference, with upload/download helpers and a
// normalized-error comparison.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_backend.h"

namespace infernum::kernels::cuda_testing {

class CudaVsCpuTest : public ::testing::Test {
 protected:
  void SetUp() override;

  CudaBackend& gpu() { return *gpu_; }
  Backend& cpu() { return *cpu_; }
  Stream* gs() { return gpu_->default_stream(); }
  Stream* cs() { return cpu_->default_stream(); }

  // A GPU tensor holding `values` rounded to `dtype`, and the CPU (f32) twin
  // holding the same rounded values.
  Tensor Gpu(const std::vector<float>& values, DType dtype,
             std::initializer_list<int64_t> dims);
  Tensor Cpu(const std::vector<float>& values,
             std::initializer_list<int64_t> dims);
  Tensor GpuI32(const std::vector<int32_t>& values,
                std::initializer_list<int64_t> dims);
  Tensor CpuI32(const std::vector<int32_t>& values,
                std::initializer_list<int64_t> dims);
  // NaN-filled (all bits set) tensors, to catch unwritten elements.
  Tensor GpuPoisoned(DType dtype, std::initializer_list<int64_t> dims);
  Tensor CpuPoisoned(std::initializer_list<int64_t> dims);
  // GPU tensor contents as f32 / i32 (synchronizes the GPU stream).
  std::vector<float> Down(const Tensor& t);
  std::vector<int32_t> DownI32(const Tensor& t);
  // CPU (f32) tensor contents.
  std::vector<float> CpuDown(const Tensor& t);

  // Uniform in [lo, hi), rounded to `dtype`.
  std::vector<float> Random(int64_t count, float lo = -1.0f, float hi = 1.0f,
                            DType dtype = DType::kBF16);

  std::mt19937 rng_{20240611};

 private:
  Tensor Place(Backend& b, std::vector<DeviceBuffer>& keep, const void* data,
               DType dtype, std::initializer_list<int64_t> dims);

  std::unique_ptr<Backend> gpu_owner_;
  CudaBackend* gpu_ = nullptr;
  std::unique_ptr<Backend> cpu_;
  std::vector<DeviceBuffer> gpu_buffers_, cpu_buffers_;
};

// Expects got ~ want: every element written (not NaN unless want is NaN) and
// max |got - want| <= tol * (rms(want) + 1e-6) + tol * |want|.
void ExpectNear(const std::vector<float>& got, const std::vector<float>& want,
                double tol, const std::string& what);

}  // namespace infernum::kernels::cuda_testing
