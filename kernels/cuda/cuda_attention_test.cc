// CUDA PagedAttention (split-K decode kernel, tensor-core flash kernel, and
// the row-parallel kernel forced on prefill batches) against the CPU
// backend's PagedAttention: GQA/MQA/MHA, head dims 64/128 (+ 8 and 96 on the
// row kernel), mixed prefill + decode batches, chunked prefill, long
// contexts (several splits), shuffled non-contiguous block tables, padded
// rows (seq_len 0) and rows no sequence owns. Skipped without a GPU.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_test_util.h"

namespace infernum::kernels::cuda_testing {
namespace {

constexpr DType kBF16 = DType::kBF16;

struct Seq {
  int query_len, seq_len;
};

struct AttnCase {
  int64_t nh, nkv, hd, bs, num_blocks;
  std::vector<Seq> seqs;
  int64_t extra_rows = 0;  // Rows after the last sequence (must be zeroed).
};

class CudaAttentionTest : public CudaVsCpuTest {
 public:
  void Check(const AttnCase& c, AttentionKernel kernel) {
    gpu().set_attention_kernel(kernel);
    const int num_seqs = static_cast<int>(c.seqs.size());
    std::vector<int32_t> qsl = {0}, seq_lens;
    int64_t max_blocks = 1;
    int max_q = 0, max_len = 0;
    for (const Seq& s : c.seqs) {
      qsl.push_back(qsl.back() + s.query_len);
      seq_lens.push_back(s.seq_len);
      max_blocks = std::max<int64_t>(max_blocks, (s.seq_len + c.bs - 1) / c.bs);
      max_q = std::max(max_q, s.query_len);
      max_len = std::max(max_len, s.seq_len);
    }
    std::vector<int32_t> pool(c.num_blocks);
    std::iota(pool.begin(), pool.end(), 0);
    std::shuffle(pool.begin(), pool.end(), rng_);
    std::vector<int32_t> tables(num_seqs * max_blocks, 0);
    size_t next = 0;
    for (int s = 0; s < num_seqs; ++s) {
      for (int64_t b = 0; b < (c.seqs[s].seq_len + c.bs - 1) / c.bs; ++b) {
        ASSERT_LT(next, pool.size()) << "case needs more blocks";
        tables[s * max_blocks + b] = pool[next++];
      }
    }
    const int64_t n = qsl.back() + c.extra_rows;
    const auto q = Random(n * c.nh * c.hd, -2, 2);
    const auto kc = Random(c.num_blocks * c.bs * c.nkv * c.hd, -2, 2);
    const auto vc = Random(c.num_blocks * c.bs * c.nkv * c.hd);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.hd));
    const std::initializer_list<int64_t> cache_dims = {c.num_blocks, c.bs,
                                                       c.nkv, c.hd};
    PagedAttentionParams g{Gpu(q, kBF16, {n, c.nh, c.hd}),
                           Gpu(kc, kBF16, cache_dims),
                           Gpu(vc, kBF16, cache_dims),
                           GpuI32(tables, {num_seqs, max_blocks}),
                           GpuI32(qsl, {num_seqs + 1}),
                           GpuI32(seq_lens, {num_seqs}),
                           GpuPoisoned(kBF16, {n, c.nh, c.hd}),
                           scale,
                           num_seqs,
                           max_q,
                           max_len};
    // The CPU reference covers only the owned rows (it zeroes the rest too).
    PagedAttentionParams r{Cpu(q, {n, c.nh, c.hd}),
                           Cpu(kc, cache_dims),
                           Cpu(vc, cache_dims),
                           CpuI32(tables, {num_seqs, max_blocks}),
                           CpuI32(qsl, {num_seqs + 1}),
                           CpuI32(seq_lens, {num_seqs}),
                           CpuPoisoned({n, c.nh, c.hd}),
                           scale,
                           num_seqs,
                           max_q,
                           max_len};
    const std::string what =
        absl::StrCat("kernel=", static_cast<int>(kernel), " nh=", c.nh,
                     " nkv=", c.nkv, " hd=", c.hd, " bs=", c.bs);
    ASSERT_TRUE(gpu().PagedAttention(g, gs()).ok()) << what;
    ASSERT_TRUE(cpu().PagedAttention(r, cs()).ok()) << what;
    ExpectNear(Down(g.out), CpuDown(r.out), 2e-2, what);
  }

  void CheckAllKernels(const AttnCase& c) {
    for (AttentionKernel k :
         {AttentionKernel::kAuto, AttentionKernel::kRowParallel,
          AttentionKernel::kFlash}) {
      Check(c, k);
      if (HasFatalFailure()) return;
    }
  }
};

TEST_F(CudaAttentionTest, GqaMixedPrefillDecodeAndChunkedPrefill) {
  CheckAllKernels(
      {8, 2, 64, 16, 40, {{37, 37}, {1, 100}, {20, 50}, {1, 1}, {5, 5}}, 3});
  CheckAllKernels(
      {32, 8, 128, 16, 64, {{70, 70}, {1, 300}, {33, 129}, {1, 17}}});
}

TEST_F(CudaAttentionTest, MhaMqaAndOddBlockSizes) {
  // {3, 0}: a padding sequence with several rows (zeros, also on flash).
  CheckAllKernels({4, 4, 64, 3, 60, {{3, 3}, {1, 9}, {3, 0}, {65, 70}}});
  CheckAllKernels(
      {8, 1, 128, 32, 24, {{1, 300}, {65, 65}, {1, 33}, {16, 180}}});
  CheckAllKernels({16, 2, 128, 1, 400, {{40, 40}, {1, 120}}});  // block_size 1.
}

TEST_F(CudaAttentionTest, RowKernelOtherHeadDims) {
  // hd 8: no flash kernel (head_dim % 16 != 0), so kAuto takes the row
  // kernel for prefill rows too. hd 96: both kernels.
  Check({6, 2, 8, 16, 60, {{9, 30}, {1, 200}, {1, 5}}}, AttentionKernel::kAuto);
  CheckAllKernels({6, 2, 96, 16, 60, {{9, 30}, {1, 200}, {1, 5}}});
}

TEST_F(CudaAttentionTest, DecodeBatchesAndLongContexts) {
  std::vector<Seq> seqs;
  for (int s = 0; s < 12; ++s) seqs.push_back({1, 1 + 23 * s});
  Check({6, 2, 32, 16, 120, seqs}, AttentionKernel::kAuto);
  // One sequence, long context: many splits and the reduce kernel.
  Check({32, 8, 128, 16, 600, {{1, 9000}}}, AttentionKernel::kAuto);
  Check({64, 8, 128, 16, 600, {{1, 4000}, {1, 5000}}},
        AttentionKernel::kAuto);  // group 8.
  Check({32, 2, 128, 16, 300, {{1, 2100}, {1, 7}}},
        AttentionKernel::kAuto);  // group 16.
}

TEST_F(CudaAttentionTest, PaddedDecodeRowsAreZero) {
  // Graph-style padding: seq_len 0 rows and unowned rows produce zeros.
  const int64_t nh = 8, nkv = 2, hd = 64, bs = 16, blocks = 4;
  const std::vector<int32_t> qsl = {0, 1, 2, 3}, seq_lens = {20, 0, 0},
                             tables(3 * 2, 1);
  PagedAttentionParams g{
      Gpu(Random(5 * nh * hd), kBF16, {5, nh, hd}),
      Gpu(Random(blocks * bs * nkv * hd), kBF16, {blocks, bs, nkv, hd}),
      Gpu(Random(blocks * bs * nkv * hd), kBF16, {blocks, bs, nkv, hd}),
      GpuI32(tables, {3, 2}),
      GpuI32(qsl, {4}),
      GpuI32(seq_lens, {3}),
      GpuPoisoned(kBF16, {5, nh, hd}),
      0.125f,
      3,
      1,
      32};
  ASSERT_TRUE(gpu().PagedAttention(g, gs()).ok());
  const auto out = Down(g.out);
  for (int64_t i = nh * hd; i < 5 * nh * hd; ++i) ASSERT_EQ(out[i], 0.0f) << i;
  for (int64_t i = 0; i < nh * hd; ++i) ASSERT_FALSE(std::isnan(out[i])) << i;
}

TEST_F(CudaAttentionTest, RejectsBadShapes) {
  PagedAttentionParams p;
  p.q = GpuPoisoned(kBF16, {2, 6, 8});
  p.k_cache = p.v_cache = GpuPoisoned(kBF16, {4, 2, 4, 8});  // 6 heads over 4.
  p.block_tables = GpuI32({0, 1}, {1, 2});
  p.query_start_loc = GpuI32({0, 2}, {2});
  p.seq_lens = GpuI32({3}, {1});
  p.out = GpuPoisoned(kBF16, {2, 6, 8});
  p.num_seqs = 1;
  EXPECT_EQ(gpu().PagedAttention(p, gs()).code(),
            absl::StatusCode::kInvalidArgument);
  p.k_cache = p.v_cache = GpuPoisoned(kBF16, {4, 2, 3, 8});
  EXPECT_TRUE(gpu()
                  .PagedAttention(p, gs())
                  .ok());                // Host bounds unknown (0): still fine.
  p.q = GpuPoisoned(kBF16, {2, 6, 12});  // Distinct: q and out may not alias.
  p.out = GpuPoisoned(kBF16, {2, 6, 12});
  p.k_cache = p.v_cache = GpuPoisoned(kBF16, {4, 2, 3, 12});
  EXPECT_EQ(gpu().PagedAttention(p, gs()).code(),
            absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace infernum::kernels::cuda_testing
