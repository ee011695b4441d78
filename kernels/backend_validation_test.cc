// Every backend rejects malformed op params with InvalidArgument instead of
// crashing. Checks of index values stored in device memory (ids, slots,
// block tables) only run on the CPU backend, which can read them cheaply.
#include "kernels/backend_test_util.h"

namespace infernum::kernels::testing {
namespace {

using ValidationTest = BackendOpsTest;
constexpr DType kBF16 = DType::kBF16;
constexpr DType kI32 = DType::kI32;

#define EXPECT_INVALID(expr) \
  EXPECT_EQ((expr).code(), absl::StatusCode::kInvalidArgument) << #expr

TEST_P(ValidationTest, MatmulShapesAndDTypes) {
  const Tensor x = Poisoned(act(), {4, 16});
  const Tensor w = Poisoned(kBF16, {8, 16});
  const Tensor out = Poisoned(act(), {4, 8});
  EXPECT_INVALID(
      backend().Matmul({x, Poisoned(kBF16, {8, 15}), out}, stream()));  // k.
  EXPECT_INVALID(
      backend().Matmul({x, w, Poisoned(act(), {4, 9})}, stream()));  // n.
  EXPECT_INVALID(
      backend().Matmul({x, w, Poisoned(act(), {3, 8})}, stream()));  // m.
  EXPECT_INVALID(
      backend().Matmul({x, Poisoned(kI32, {8, 16}), out}, stream()));  // dtype.
  EXPECT_INVALID(backend().Matmul({Poisoned(kI32, {4, 16}), w, out}, stream()));
  EXPECT_INVALID(
      backend().Matmul({x.Reshape({4, 4, 4}), w, out}, stream()));  // rank.
  EXPECT_INVALID(backend().Matmul({Tensor(), w, out}, stream()));   // missing.
}

TEST_P(ValidationTest, SplitMatmulShapes) {
  const Tensor x = Poisoned(act(), {4, 16});
  const Tensor w = Poisoned(kBF16, {8, 16});
  SplitMatmulParams p;
  p.x = x;
  p.w = w;
  p.outs[0] = Poisoned(act(), {4, 5});
  p.outs[1] = Poisoned(act(), {4, 3});
  p.num_outs = 2;
  EXPECT_TRUE(backend().SplitMatmul(p, stream()).ok());
  SplitMatmulParams bad = p;
  bad.outs[1] = Poisoned(act(), {4, 4});  // 9 columns for 8 rows of w.
  EXPECT_INVALID(backend().SplitMatmul(bad, stream()));
  bad = p;
  bad.outs[0] = Poisoned(act(), {3, 5});  // m.
  EXPECT_INVALID(backend().SplitMatmul(bad, stream()));
  bad = p;
  bad.num_outs = 0;
  EXPECT_INVALID(backend().SplitMatmul(bad, stream()));
  bad.num_outs = SplitMatmulParams::kMaxOuts + 1;
  EXPECT_INVALID(backend().SplitMatmul(bad, stream()));
  bad = p;
  bad.w = Poisoned(kBF16, {8, 15});  // k.
  EXPECT_INVALID(backend().SplitMatmul(bad, stream()));
  bad = p;
  bad.outs[1] = Tensor();  // missing.
  EXPECT_INVALID(backend().SplitMatmul(bad, stream()));
}

TEST_P(ValidationTest, ElementwiseOps) {
  const Tensor x = Poisoned(act(), {3, 8});
  EXPECT_INVALID(backend().RmsNorm({x, {}, Poisoned(kBF16, {7}), x}, stream()));
  EXPECT_INVALID(backend().RmsNorm(
      {x, Poisoned(act(), {3, 7}), Poisoned(kBF16, {8}), x}, stream()));
  EXPECT_INVALID(backend().SiluMul({x, Poisoned(act(), {3, 3})}, stream()));
  EXPECT_INVALID(backend().Add({x, Poisoned(act(), {3, 9}), x}, stream()));
  EXPECT_INVALID(backend().Softmax(
      {Poisoned(DType::kF32, {3, 8}), Poisoned(DType::kF32, {3, 9})},
      stream()));
  EXPECT_INVALID(backend().Argmax(
      {Poisoned(DType::kF32, {3, 8}), Poisoned(kI32, {2})}, stream()));
  EXPECT_INVALID(backend().Cast({x, Poisoned(kBF16, {3, 9})}, stream()));
  EXPECT_INVALID(backend().Embedding(
      {Poisoned(kBF16, {10, 8}), Poisoned(kI32, {3}), Poisoned(act(), {3, 9})},
      stream()));
}

TEST_P(ValidationTest, RopeShapes) {
  const Tensor pos = UploadI32({0, 1}, {2});
  const Tensor q = Poisoned(act(), {2, 4, 6});
  const Tensor k = Poisoned(act(), {2, 2, 6});
  EXPECT_INVALID(
      backend().Rope({q, k, pos, Poisoned(DType::kF32, {2})}, stream()));
  EXPECT_INVALID(backend().Rope(
      {q, Poisoned(act(), {2, 2, 8}), pos, Poisoned(DType::kF32, {3})},
      stream()));
  EXPECT_INVALID(
      backend().Rope({Poisoned(act(), {2, 4, 5}), Poisoned(act(), {2, 2, 5}),
                      pos, Poisoned(DType::kF32, {2})},
                     stream()));  // Odd head dim.
}

TEST_P(ValidationTest, AttentionShapes) {
  PagedAttentionParams p;
  p.q = Poisoned(act(), {2, 6, 8});
  p.k_cache = Poisoned(act(), {4, 2, 4, 8});  // 6 heads over 4 kv heads.
  p.v_cache = Poisoned(act(), {4, 2, 4, 8});
  p.block_tables = UploadI32({0, 1}, {1, 2});
  p.query_start_loc = UploadI32({0, 2}, {2});
  p.seq_lens = UploadI32({3}, {1});
  p.out = Poisoned(act(), {2, 6, 8});
  p.num_seqs = 1;
  p.scale = 0.3f;
  EXPECT_INVALID(backend().PagedAttention(p, stream()));
  p.k_cache = p.v_cache = Poisoned(act(), {4, 2, 3, 8});
  p.out = Poisoned(act(), {2, 6, 7});
  EXPECT_INVALID(backend().PagedAttention(p, stream()));
  p.out = Poisoned(act(), {2, 6, 8});
  p.num_seqs = 2;  // Disagrees with seq_lens.
  EXPECT_INVALID(backend().PagedAttention(p, stream()));
  p.num_seqs = 1;
  EXPECT_TRUE(backend().PagedAttention(p, stream()).ok());

  WriteKvCacheParams w{Poisoned(act(), {2, 3, 8}), Poisoned(act(), {2, 3, 8}),
                       Poisoned(act(), {4, 2, 3, 8}),
                       Poisoned(act(), {4, 2, 2, 8}), UploadI32({0, 1}, {2})};
  EXPECT_INVALID(backend().WriteKvCache(w, stream()));
  w.v_cache = Poisoned(DType::kF16, {4, 2, 3, 8});  // Differs from k_cache.
  w.k_cache = Poisoned(act(), {4, 2, 3, 8});
  EXPECT_INVALID(backend().WriteKvCache(w, stream()));
}

// Device-resident index values: only the CPU backend checks them.
TEST_P(ValidationTest, CpuChecksIndexValues) {
  if (backend().device_type() != DeviceType::kCpu) GTEST_SKIP();
  EXPECT_INVALID(
      backend().Embedding({Poisoned(kBF16, {10, 8}), UploadI32({3, 10}, {2}),
                           Poisoned(act(), {2, 8})},
                          stream()));
  WriteKvCacheParams w{Poisoned(act(), {2, 3, 8}), Poisoned(act(), {2, 3, 8}),
                       Poisoned(act(), {4, 2, 3, 8}),
                       Poisoned(act(), {4, 2, 3, 8}), UploadI32({0, 8}, {2})};
  EXPECT_INVALID(backend().WriteKvCache(w, stream()));
  PagedAttentionParams p;
  p.q = Poisoned(act(), {2, 6, 8});
  p.k_cache = p.v_cache = Poisoned(act(), {4, 2, 3, 8});
  p.block_tables = UploadI32({0, 4}, {1, 2});  // Block 4 does not exist.
  p.query_start_loc = UploadI32({0, 2}, {2});
  p.seq_lens = UploadI32({3}, {1});
  p.out = Poisoned(act(), {2, 6, 8});
  p.num_seqs = 1;
  EXPECT_INVALID(backend().PagedAttention(p, stream()));
  p.block_tables = UploadI32({0, 1}, {1, 2});
  p.seq_lens = UploadI32({5}, {1});  // More than 2 blocks of 2 positions.
  EXPECT_INVALID(backend().PagedAttention(p, stream()));
  p.seq_lens = UploadI32({1}, {1});  // Fewer positions than query rows.
  EXPECT_INVALID(backend().PagedAttention(p, stream()));
}

INSTANTIATE_TEST_SUITE_P(AllBackends, ValidationTest,
                         ::testing::ValuesIn(AllBackendCases()),
                         BackendCaseName);

}  // namespace
}  // namespace infernum::kernels::testing
