// Not gpu-tagged: on a machine without a usable GPU (no driver or no
// device), CreateBackend({.name = "cuda"}) must return Unavailable, never
// crash; where a GPU is present it must return a working bf16 CUDA backend.
#include <gtest/gtest.h>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_backend.h"

namespace infernum::kernels {
namespace {

TEST(CudaFactoryTest, UnavailableWithoutDeviceOrWorkingBackend) {
  auto backend = CreateBackend({.name = "cuda"});
  if (!backend.ok()) {
    EXPECT_EQ(backend.status().code(), absl::StatusCode::kUnavailable)
        << backend.status();
    EXPECT_FALSE(backend.status().message().empty());
    return;
  }
  EXPECT_EQ((*backend)->device_type(), DeviceType::kCuda);
  EXPECT_EQ((*backend)->activation_dtype(), DType::kBF16);
  EXPECT_NE((*backend)->name().find("cuda"), std::string::npos);
  EXPECT_NE(AsCudaBackend(backend->get()), nullptr);
  auto buf = (*backend)->Allocate(64);
  EXPECT_TRUE(buf.ok()) << buf.status();
}

TEST(CudaFactoryTest, BadDeviceIndexIsUnavailable) {
  auto backend = CreateBackend({.name = "cuda", .device_index = 4096});
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kUnavailable)
      << backend.status();
}

TEST(CudaFactoryTest, CpuBackendIsNotCuda) {
  auto cpu = CreateBackend({.name = "cpu", .num_threads = 1});
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ(AsCudaBackend(cpu->get()), nullptr);
}

}  // namespace
}  // namespace infernum::kernels
