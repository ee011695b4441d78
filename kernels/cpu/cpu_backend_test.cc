// CPU-specific behaviour not covered by the cross-backend op tests
// (//kernels:backend_ops_test): naming, the factory, allocation and the
// zeroing of attention rows no sequence owns.
#include "kernels/cpu/cpu_backend.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace infernum::kernels {
namespace {

TEST(CpuBackendTest, NameIsaAndDTypes) {
  auto backend = CreateCpuBackend(2);
  EXPECT_EQ(backend->device_type(), DeviceType::kCpu);
  EXPECT_EQ(backend->activation_dtype(), DType::kF32);
  EXPECT_NE(backend->name().find(CpuIsaName(DetectCpuIsa())), std::string::npos)
      << backend->name();
  EXPECT_NE(backend->name().find("2 threads"), std::string::npos);
  EXPECT_NE(CreateCpuBackend(1, CpuIsa::kScalar)->name().find("scalar"),
            std::string::npos);
}

TEST(CpuBackendTest, Factory) {
  auto cpu = CreateBackend({"cpu", 1});
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ((*cpu)->device_type(), DeviceType::kCpu);
  EXPECT_EQ(CreateBackend({"cuda"}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(CreateBackend({"tpu"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateBackend({"cpu", -1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  BackendOptions bf16{"cpu", 1};
  bf16.cpu_matmul_precision = "bf16";
  auto cpu_bf16 = CreateBackend(bf16);
  ASSERT_TRUE(cpu_bf16.ok());
  EXPECT_NE((*cpu_bf16)->name().find("bf16 matmul"), std::string::npos);
  bf16.cpu_matmul_precision = "fp8";
  EXPECT_EQ(CreateBackend(bf16).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CpuBackendTest, AllocationsAreAlignedAndOutliveTheBackend) {
  DeviceBuffer big, zero;
  {
    auto backend = CreateCpuBackend(1);
    auto b = backend->Allocate(3 << 20);
    ASSERT_TRUE(b.ok());
    big = std::move(*b);
    auto z = backend->Allocate(0);
    ASSERT_TRUE(z.ok());
    zero = std::move(*z);
  }
  EXPECT_EQ(reinterpret_cast<uintptr_t>(big.data()) % 64, 0u);
  static_cast<char*>(big.data())[(3 << 20) - 1] = 1;  // Writable to the end.
  EXPECT_EQ(zero.size(), 0u);
}

TEST(CpuBackendTest, AttentionZeroesRowsNoSequenceOwns) {
  auto backend = CreateCpuBackend(1);
  const int64_t hd = 4;
  std::vector<float> q(3 * hd, 1.0f), cache(2 * hd, 0.5f), out(3 * hd, NAN);
  std::vector<int32_t> tables = {0, 1}, qsl = {0, 1}, lens = {2};
  PagedAttentionParams p;
  p.q = Tensor(q.data(), DType::kF32, {3, 1, hd});
  p.k_cache = p.v_cache = Tensor(cache.data(), DType::kF32, {2, 1, 1, hd});
  p.block_tables = Tensor(tables.data(), DType::kI32, {1, 2});
  p.query_start_loc = Tensor(qsl.data(), DType::kI32, {2});
  p.seq_lens = Tensor(lens.data(), DType::kI32, {1});
  p.out = Tensor(out.data(), DType::kF32, {3, 1, hd});
  p.num_seqs = 1;
  ASSERT_TRUE(backend->PagedAttention(p, backend->default_stream()).ok());
  for (int i = 0; i < hd; ++i) EXPECT_FLOAT_EQ(out[i], 0.5f);
  for (int i = hd; i < 3 * hd; ++i) EXPECT_EQ(out[i], 0.0f);
}

}  // namespace
}  // namespace infernum::kernels
