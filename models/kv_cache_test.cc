#include "models/kv_cache.h"

#include <gtest/gtest.h>

#include "kernels/cpu/cpu_backend.h"

namespace infernum::models {
namespace {

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
