// CudaGraphCache: a decode-like step (RmsNorm -> Matmul -> PagedAttention on
// fixed buffers) replayed from a graph after its inputs changed gives exactly
// what an eager run gives; capture failures fall back to eager; a disabled
// cache just calls the step. Skipped without a GPU.
#include "kernels/cuda/cuda_graphs.h"

#include "common/status.h"
#include "kernels/cuda/cuda_test_util.h"

namespace infernum::kernels::cuda_testing {
namespace {

constexpr DType kBF16 = DType::kBF16;

class CudaGraphsTest : public CudaVsCpuTest {
 protected:
  void SetUp() override {
    CudaVsCpuTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    x_ = Gpu(Random(n_ * h_), kBF16, {n_, h_});
    w_norm_ = Gpu(Random(h_, 0.5f, 1.5f), kBF16, {h_});
    w_ = Gpu(Random(nh_ * hd_ * h_), kBF16, {nh_ * hd_, h_});
    y_ = GpuPoisoned(kBF16, {n_, h_});
    q_ = GpuPoisoned(kBF16, {n_, nh_ * hd_});
    k_cache_ = Gpu(Random(blocks_ * bs_ * nkv_ * hd_), kBF16,
                   {blocks_, bs_, nkv_, hd_});
    v_cache_ = Gpu(Random(blocks_ * bs_ * nkv_ * hd_), kBF16,
                   {blocks_, bs_, nkv_, hd_});
    tables_ = GpuI32({0, 1, 2, 3, 4, 5, 6, 7, 7, 6, 5, 4, 3, 2, 1, 0}, {n_, 8});
    qsl_ = GpuI32({0, 1, 2}, {n_ + 1});
    seq_lens_ = GpuI32({50, 100}, {n_});
    out_ = GpuPoisoned(kBF16, {n_, nh_, hd_});
  }

  // The step: only device work on fixed buffers.
  absl::Status Step() {
    ++calls_;
    RETURN_IF_ERROR(gpu().RmsNorm({x_, {}, w_norm_, y_, 1e-5f}, gs()));
    RETURN_IF_ERROR(gpu().Matmul({y_, w_, q_}, gs()));
    PagedAttentionParams p{q_.Reshape({n_, nh_, hd_}),
                           k_cache_,
                           v_cache_,
                           tables_,
                           qsl_,
                           seq_lens_,
                           out_,
                           0.125f,
                           static_cast<int>(n_),
                           1,
                           128};
    return gpu().PagedAttention(p, gs());
  }

  void SetInputs(const std::vector<float>& x,
                 const std::vector<int32_t>& seq_lens) {
    std::vector<uint16_t> xb(x.size());
    for (size_t i = 0; i < x.size(); ++i) xb[i] = F32ToBf16(x[i]);
    ASSERT_TRUE(gpu().CopyToDevice(x_.data, xb.data(), x_.nbytes(), gs()).ok());
    ASSERT_TRUE(
        gpu().CopyToDevice(seq_lens_.data, seq_lens.data(), 8, gs()).ok());
  }

  const int64_t n_ = 2, h_ = 256, nh_ = 8, nkv_ = 2, hd_ = 64, bs_ = 16,
                blocks_ = 8;
  Tensor x_, w_norm_, w_, y_, q_, k_cache_, v_cache_, tables_, qsl_, seq_lens_,
      out_;
  int calls_ = 0;
};

TEST_F(CudaGraphsTest, ReplayMatchesEagerAfterInputsChange) {
  CudaGraphCache graphs(&gpu(), /*enabled=*/true);
  const auto step = [&] { return Step(); };
  ASSERT_TRUE(graphs.Run(2, gs(), step).ok());
  EXPECT_EQ(calls_, 2);  // Eager run + capture.
  EXPECT_EQ(graphs.num_graphs(), 1);
  for (const std::vector<int32_t>& lens :
       {std::vector<int32_t>{60, 128}, std::vector<int32_t>{1, 77}}) {
    const auto x = Random(n_ * h_);
    SetInputs(x, lens);
    ASSERT_TRUE(graphs.Run(2, gs(), step).ok());
    EXPECT_EQ(calls_, 2);  // Replayed, not called.
    const auto replayed = Down(out_);
    ASSERT_TRUE(gpu().Memset(out_.data, 0xff, out_.nbytes(), gs()).ok());
    ASSERT_TRUE(Step().ok());
    ExpectNear(replayed, Down(out_), 0, "replay vs eager");
  }
  graphs.Clear();
  EXPECT_EQ(graphs.num_graphs(), 0);
}

TEST_F(CudaGraphsTest, CaptureFailureFallsBackToEager) {
  CudaGraphCache graphs(&gpu(), /*enabled=*/true);
  int runs = 0;
  const auto allocating_step = [&]() -> absl::Status {
    ++runs;
    auto buf = gpu().Allocate(1024);  // Forbidden while capturing.
    if (!buf.ok()) return buf.status();
    return Step();
  };
  ASSERT_TRUE(graphs.Run(7, gs(), allocating_step).ok());
  EXPECT_EQ(graphs.num_graphs(), 0);
  ASSERT_TRUE(graphs.Run(7, gs(), allocating_step).ok());
  EXPECT_EQ(runs, 3);  // Eager, failed capture, then eager again.
  // The stream still works after the aborted capture.
  ASSERT_TRUE(gpu().Synchronize(gs()).ok());
}

TEST_F(CudaGraphsTest, DisabledCacheCallsTheStep) {
  CudaGraphCache graphs(&gpu(), /*enabled=*/false);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(graphs.Run(2, gs(), [&] { return Step(); }).ok());
  EXPECT_EQ(calls_, 3);
  EXPECT_EQ(graphs.num_graphs(), 0);
  EXPECT_FALSE(graphs.enabled());
}

}  // namespace
}  // namespace infernum::kernels::cuda_testing
