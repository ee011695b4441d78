// CUDA Matmul (cuBLASLt for bf16 weights, the SIMT fallback for f32/f16
// weights and odd shapes) against the CPU backend, plus memory, streams,
// events and the caching allocator. Skipped without a GPU.
#include <numeric>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_test_util.h"

namespace infernum::kernels::cuda_testing {
namespace {

constexpr DType kBF16 = DType::kBF16;
constexpr DType kF32 = DType::kF32;

using CudaMatmulTest = CudaVsCpuTest;

struct Case {
  int64_t m, k, n;
  DType w_type, out_type;
  bool accumulate;
};

class MatmulFixture : public CudaVsCpuTest {
 public:
  void Check(const Case& c) {
    const auto x = Random(c.m * c.k), w = Random(c.n * c.k, -1, 1, c.w_type);
    const auto out0 = Random(c.m * c.n);
    MatmulParams g{Gpu(x, kBF16, {c.m, c.k}), Gpu(w, c.w_type, {c.n, c.k}),
                   c.accumulate ? Gpu(out0, c.out_type, {c.m, c.n})
                                : GpuPoisoned(c.out_type, {c.m, c.n}),
                   c.accumulate};
    MatmulParams r{
        Cpu(x, {c.m, c.k}), Cpu(w, {c.n, c.k}),
        c.accumulate ? Cpu(out0, {c.m, c.n}) : CpuPoisoned({c.m, c.n}),
        c.accumulate};
    const std::string what = absl::StrCat(
        "m=", c.m, " k=", c.k, " n=", c.n, " w=", DTypeName(c.w_type),
        " out=", DTypeName(c.out_type), " acc=", c.accumulate);
    ASSERT_TRUE(gpu().Matmul(g, gs()).ok()) << what;
    ASSERT_TRUE(cpu().Matmul(r, cs()).ok()) << what;
    // Error relative to the output's rms; k-long dot products of bf16 inputs.
    ExpectNear(Down(g.out), CpuDown(r.out), c.out_type == kF32 ? 2e-3 : 1e-2,
               what);
  }
};

TEST_F(MatmulFixture, SmallAndOddShapesAllWeightTypes) {
  for (DType w_type : {kBF16, DType::kF16, kF32}) {
    for (int64_t m : {1, 3, 17, 64}) {
      for (int64_t k : {1, 7, 64, 257}) {
        for (int64_t n : {1, 5, 70}) {
          Check({m, k, n, w_type, kBF16, (m + k + n) % 2 == 1});
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST_F(MatmulFixture, LlamaShapesAndF32Output) {
  const Case cases[] = {
      {1, 4096, 6144, kBF16, kBF16, false},
      {8, 4096, 4096, kBF16, kBF16, true},
      {128, 4096, 1024, kBF16, kBF16, false},
      {3, 4096, 32000, kBF16, kF32, false},
      {200, 1000, 300, kBF16, kF32, true},
      {33, 512, 256, DType::kF16, kBF16, false},
  };
  for (const Case& c : cases) {
    Check(c);
    if (HasFatalFailure()) return;
  }
}

TEST_F(MatmulFixture, EmptyBatchAndBadShapes) {
  const Tensor w = Gpu(Random(8 * 16), kBF16, {8, 16});
  EXPECT_TRUE(
      gpu()
          .Matmul({GpuPoisoned(kBF16, {0, 16}), w, GpuPoisoned(kBF16, {0, 8})},
                  gs())
          .ok());
  EXPECT_EQ(
      gpu()
          .Matmul({GpuPoisoned(kBF16, {4, 15}), w, GpuPoisoned(kBF16, {4, 8})},
                  gs())
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gpu()
                .Matmul({GpuPoisoned(DType::kI32, {4, 16}), w,
                         GpuPoisoned(kBF16, {4, 8})},
                        gs())
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CudaMatmulTest, MemoryStreamsEventsAndAllocator) {
  auto buf = gpu().Allocate(1000);
  ASSERT_TRUE(buf.ok());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buf->data()) % 256, 0u);
  auto other = gpu().Allocate(1000);
  ASSERT_TRUE(other.ok());
  auto stream = gpu().CreateStream();
  ASSERT_TRUE(stream.ok());
  std::vector<uint8_t> src(1000), back(1000);
  std::iota(src.begin(), src.end(), 0);
  Stream* s = stream->get();
  ASSERT_TRUE(gpu().CopyToDevice(buf->data(), src.data(), 1000, s).ok());
  ASSERT_TRUE(gpu().CopyOnDevice(other->data(), buf->data(), 1000, s).ok());
  ASSERT_TRUE(gpu().Memset(other->data(), 7, 10, s).ok());
  auto start = gpu().CreateEvent(), end = gpu().CreateEvent();
  ASSERT_TRUE(start.ok() && end.ok());
  ASSERT_TRUE(gpu().RecordEvent(start->get(), s).ok());
  ASSERT_TRUE(gpu().RecordEvent(end->get(), s).ok());
  ASSERT_TRUE(gpu().WaitEvent(gs(), end->get()).ok());
  ASSERT_TRUE(gpu().CopyToHost(back.data(), other->data(), 1000, s).ok());
  ASSERT_TRUE(gpu().Synchronize(s).ok());
  ASSERT_TRUE(gpu().SynchronizeEvent(end->get()).ok());
  auto ms = gpu().ElapsedMs(start->get(), end->get());
  ASSERT_TRUE(ms.ok());
  EXPECT_GE(*ms, 0.0f);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(back[i], i < 10 ? 7 : src[i]) << i;

  auto free_bytes = gpu().FreeMemory();
  ASSERT_TRUE(free_bytes.ok());
  EXPECT_GT(*free_bytes, 0u);
  // A freed block of the same size class is reused.
  void* first = other->data();
  other->Reset();
  const int64_t hits = gpu().allocator_stats().num_cache_hits;
  auto again = gpu().Allocate(900);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->data(), first);
  EXPECT_EQ(gpu().allocator_stats().num_cache_hits, hits + 1);
  // Out of memory is an error, not a crash.
  auto huge = gpu().Allocate(size_t{1} << 40);
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted)
      << huge.status();
  EXPECT_TRUE(gpu().ReleaseCachedMemory().ok());
  EXPECT_EQ(gpu().allocator_stats().cached_bytes, 0u);
  auto pinned = gpu().AllocatePinnedHost(4096);
  ASSERT_TRUE(pinned.ok());
  static_cast<char*>(pinned->data())[4095] = 1;
  EXPECT_EQ(gpu().activation_dtype(), kBF16);
  EXPECT_EQ(gpu().device_type(), DeviceType::kCuda);
  EXPECT_GT(gpu().num_sms(), 0);
}

}  // namespace
}  // namespace infernum::kernels::cuda_testing
