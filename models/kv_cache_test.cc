#include "models/kv_cache.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/cpu_backend.h"

namespace infernum::models {
namespace {

using kernels::DType;
using kernels::Stream;

// Reports itself as a bf16 CUDA device (what ResolveKvCacheDType reads) and
// forwards the rest to a CPU backend: the CUDA rules without a GPU.
class CudaLookalike : public kernels::Backend {
 public:
  kernels::DeviceType device_type() const override {
    return kernels::DeviceType::kCuda;
  }
  std::string name() const override { return "cuda lookalike"; }
  DType activation_dtype() const override { return DType::kBF16; }
  absl::StatusOr<kernels::DeviceBuffer> Allocate(size_t bytes) override {
    return cpu_->Allocate(bytes);
  }
  Stream* default_stream() override { return cpu_->default_stream(); }
  absl::StatusOr<std::unique_ptr<Stream>> CreateStream() override {
    return cpu_->CreateStream();
  }
  absl::Status Synchronize(Stream* s) override { return cpu_->Synchronize(s); }
  absl::StatusOr<size_t> FreeMemory() override { return cpu_->FreeMemory(); }
  absl::Status CopyToDevice(void* d, const void* s, size_t n,
                            Stream* st) override {
    return cpu_->CopyToDevice(d, s, n, st);
  }
  absl::Status CopyToHost(void* d, const void* s, size_t n,
                          Stream* st) override {
    return cpu_->CopyToHost(d, s, n, st);
  }
  absl::Status CopyOnDevice(void* d, const void* s, size_t n,
                            Stream* st) override {
    return cpu_->CopyOnDevice(d, s, n, st);
  }
  absl::Status Memset(void* d, int v, size_t n, Stream* st) override {
    return cpu_->Memset(d, v, n, st);
  }
#define INFERNUM_FORWARD_OP(Op, Params)                           \
  absl::Status Op(const kernels::Params& p, Stream* s) override { \
    return cpu_->Op(p, s);                                        \
  }
  INFERNUM_FORWARD_OP(Embedding, EmbeddingParams)
  INFERNUM_FORWARD_OP(RmsNorm, RmsNormParams)
  INFERNUM_FORWARD_OP(Rope, RopeParams)
  INFERNUM_FORWARD_OP(Matmul, MatmulParams)
  INFERNUM_FORWARD_OP(SiluMul, SiluMulParams)
  INFERNUM_FORWARD_OP(Add, AddParams)
  INFERNUM_FORWARD_OP(WriteKvCache, WriteKvCacheParams)
  INFERNUM_FORWARD_OP(PagedAttention, PagedAttentionParams)
  INFERNUM_FORWARD_OP(Argmax, ArgmaxParams)
  INFERNUM_FORWARD_OP(Softmax, SoftmaxParams)
  INFERNUM_FORWARD_OP(Cast, CastParams)
#undef INFERNUM_FORWARD_OP

 private:
  std::unique_ptr<kernels::Backend> cpu_ = kernels::CreateCpuBackend(1);
};

KvCacheShape Shape() {
  KvCacheShape s;
  s.num_layers = 3;
  s.num_blocks = 5;
  s.block_size = 4;
  s.num_kv_heads = 2;
  s.head_dim = 8;
  s.dtype = kernels::DType::kF32;
  return s;
}

TEST(KvCacheTest, ShapesAndZeroedMemory) {
  auto backend = kernels::CreateCpuBackend(1);
  auto cache = KvCache::Create(*backend, Shape());
  ASSERT_TRUE(cache.ok()) << cache.status();
  EXPECT_EQ(cache->num_blocks(), 5);
  EXPECT_EQ(cache->block_size(), 4);
  EXPECT_EQ(cache->num_slots(), 20);
  for (int l = 0; l < 3; ++l) {
    const kernels::Tensor k = cache->k(l), v = cache->v(l);
    EXPECT_EQ(k.DebugString(), "f32[5, 4, 2, 8]");
    EXPECT_NE(k.data, v.data);
    for (int64_t i = 0; i < k.numel(); ++i) {
      ASSERT_EQ(k.as<float>()[i], 0.0f);
      ASSERT_EQ(v.as<float>()[i], 0.0f);
    }
  }
  EXPECT_NE(cache->k(0).data, cache->k(1).data);
}

TEST(KvCacheTest, BlocksThatFit) {
  const KvCacheShape s = Shape();
  // Per block: 2 (K, V) * 3 layers * 4 tokens * 2 heads * 8 dims * 4 bytes.
  EXPECT_EQ(s.BytesPerBlock(), 2u * 3 * 4 * 2 * 8 * 4);
  EXPECT_EQ(KvCache::NumBlocksThatFit(10 * s.BytesPerBlock() + 7, s), 10);
  EXPECT_EQ(KvCache::NumBlocksThatFit(s.BytesPerBlock() - 1, s), 0);
}

TEST(KvCacheTest, Bf16BlocksAreHalfTheBytes) {
  KvCacheShape s = Shape();
  const size_t f32_bytes = s.BytesPerBlock();
  s.dtype = DType::kBF16;
  EXPECT_EQ(2 * s.BytesPerBlock(), f32_bytes);
  EXPECT_EQ(KvCache::NumBlocksThatFit(10 * f32_bytes, s), 20);
  auto backend = kernels::CreateCpuBackend(1);
  auto cache = KvCache::Create(*backend, s);
  ASSERT_TRUE(cache.ok()) << cache.status();
  EXPECT_EQ(cache->k(2).DebugString(), "bf16[5, 4, 2, 8]");
}

TEST(KvCacheDTypeTest, ParsesTheSettingNames) {
  EXPECT_EQ(*ParseKvCacheDType("auto"), std::nullopt);
  EXPECT_EQ(*ParseKvCacheDType("f32"), DType::kF32);
  EXPECT_EQ(*ParseKvCacheDType("float32"), DType::kF32);
  EXPECT_EQ(*ParseKvCacheDType("bf16"), DType::kBF16);
  EXPECT_EQ(*ParseKvCacheDType("bfloat16"), DType::kBF16);
  EXPECT_EQ(*ParseKvCacheDType("f16"), DType::kF16);
  EXPECT_EQ(*ParseKvCacheDType("half"), DType::kF16);
  for (const char* bad : {"", "AUTO", "fp8", "i32", "bf16 "}) {
    auto r = ParseKvCacheDType(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("expected auto, f32, bf16 or f16"),
              std::string::npos)
        << r.status();
  }
}

TEST(KvCacheDTypeTest, CpuTakesF32AndBf16) {
  auto cpu = kernels::CreateCpuBackend(1);
  EXPECT_EQ(*ResolveKvCacheDType(*cpu, std::nullopt), DType::kF32);
  EXPECT_EQ(*ResolveKvCacheDType(*cpu, DType::kF32), DType::kF32);
  EXPECT_EQ(*ResolveKvCacheDType(*cpu, DType::kBF16), DType::kBF16);
  auto f16 = ResolveKvCacheDType(*cpu, DType::kF16);
  ASSERT_FALSE(f16.ok());
  EXPECT_EQ(f16.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(f16.status().message().find("f16 is not supported on the cpu"),
            std::string::npos)
      << f16.status();
  EXPECT_FALSE(ResolveKvCacheDType(*cpu, DType::kI32).ok());
}

TEST(KvCacheDTypeTest, CudaTakesOnlyItsActivationDType) {
  CudaLookalike cuda;
  EXPECT_EQ(*ResolveKvCacheDType(cuda, std::nullopt), DType::kBF16);
  EXPECT_EQ(*ResolveKvCacheDType(cuda, DType::kBF16), DType::kBF16);
  for (DType d : {DType::kF32, DType::kF16}) {
    auto r = ResolveKvCacheDType(cuda, d);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find(absl::StrCat(
                  kernels::DTypeName(d), " is not supported on the cuda")),
              std::string::npos)
        << r.status();
    EXPECT_NE(r.status().message().find("bf16 only"), std::string::npos);
  }
}

TEST(KvCacheTest, RejectsBadShapes) {
  auto backend = kernels::CreateCpuBackend(1);
  KvCacheShape s = Shape();
  s.num_blocks = 0;
  EXPECT_EQ(KvCache::Create(*backend, s).status().code(),
            absl::StatusCode::kInvalidArgument);
  s = Shape();
  s.dtype = kernels::DType::kI32;
  EXPECT_EQ(KvCache::Create(*backend, s).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace infernum::models
