// Every elementwise / norm / rope / KV-cache / softmax / cast op of the CUDA
// backend against the CPU backend on random inputs of several shapes, with
// NaN-poisoned outputs (so unwritten elements fail). Skipped without a GPU.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_test_util.h"
#include "kernels/rope.h"

namespace infernum::kernels::cuda_testing {
namespace {

constexpr DType kBF16 = DType::kBF16;
constexpr DType kF32 = DType::kF32;
constexpr DType kWeightTypes[] = {DType::kF32, DType::kBF16, DType::kF16};
constexpr double kTol = 1e-2;  // bf16 outputs: ~2^-8 relative per element.

using CudaOpsTest = CudaVsCpuTest;

TEST_F(CudaOpsTest, EmbeddingAllTableTypes) {
  for (DType table_type : kWeightTypes) {
    for (int64_t h : {1, 7, 64, 4096}) {
      const int64_t rows = 11, n = 6;
      const auto table = Random(rows * h, -1, 1, table_type);
      const std::vector<int32_t> ids = {3, 0, 10, 3, 7, 1};
      Tensor out = GpuPoisoned(kBF16, {n, h});
      ASSERT_TRUE(gpu()
                      .Embedding({Gpu(table, table_type, {rows, h}),
                                  GpuI32(ids, {n}), out},
                                 gs())
                      .ok());
      Tensor ref = CpuPoisoned({n, h});
      ASSERT_TRUE(
          cpu()
              .Embedding({Cpu(table, {rows, h}), CpuI32(ids, {n}), ref}, cs())
              .ok());
      ExpectNear(Down(out), CpuDown(ref), kTol,
                 absl::StrCat(DTypeName(table_type), " h=", h));
    }
  }
}

TEST_F(CudaOpsTest, EmbeddingBadIdWritesZeros) {
  const auto table = Random(4 * 8);
  Tensor out = GpuPoisoned(kBF16, {2, 8});
  ASSERT_TRUE(
      gpu()
          .Embedding({Gpu(table, kBF16, {4, 8}), GpuI32({1, 9}, {2}), out},
                     gs())
          .ok());
  const auto got = Down(out);
  for (int j = 0; j < 8; ++j) {
    EXPECT_EQ(got[j], table[8 + j]);
    EXPECT_EQ(got[8 + j], 0.0f);
  }
}

TEST_F(CudaOpsTest, RmsNormModes) {
  for (DType w_type : kWeightTypes) {
    for (int64_t h : {1, 17, 256, 4096}) {
      for (int mode = 0; mode < 3; ++mode) {  // plain, residual, out aliases x.
        const int64_t n = 3;
        const auto x = Random(n * h, -2, 2), res = Random(n * h, -2, 2);
        const auto w = Random(h, 0.5f, 1.5f, w_type);
        RmsNormParams g{Gpu(x, kBF16, {n, h}),
                        {},
                        Gpu(w, w_type, {h}),
                        GpuPoisoned(kBF16, {n, h}),
                        1e-5f};
        RmsNormParams c{
            Cpu(x, {n, h}), {}, Cpu(w, {h}), CpuPoisoned({n, h}), 1e-5f};
        if (mode == 1) {
          g.residual = Gpu(res, kBF16, {n, h});
          c.residual = Cpu(res, {n, h});
        }
        if (mode == 2) {
          g.out = g.x;
          c.out = c.x;
        }
        ASSERT_TRUE(gpu().RmsNorm(g, gs()).ok());
        ASSERT_TRUE(cpu().RmsNorm(c, cs()).ok());
        const std::string what =
            absl::StrCat(DTypeName(w_type), " h=", h, " mode=", mode);
        ExpectNear(Down(g.out), CpuDown(c.out), kTol, what);
        if (mode == 1)
          ExpectNear(Down(g.residual), CpuDown(c.residual), kTol,
                     what + " res");
      }
    }
  }
}

TEST_F(CudaOpsTest, RopeAndFusedRopeKvCache) {
  for (int64_t hd : {2, 16, 64, 128}) {
    const int64_t n = 5, nh = 4, nkv = 2, blocks = 3, bs = 4;
    auto inv_freq =
        ComputeRopeInvFreq(500000.0f, hd, {"llama3", 8.0f, 1.0f, 4.0f, 8192});
    ASSERT_TRUE(inv_freq.ok());
    const std::vector<int32_t> positions = {0, 1, 17, 4095, 131000};
    const std::vector<int32_t> slots = {5, -1, 0, 11, 7};
    const auto q = Random(n * nh * hd), k = Random(n * nkv * hd),
               v = Random(n * nkv * hd);
    const auto cache0 = Random(blocks * bs * nkv * hd);
    // Reference: CPU Rope then WriteKvCache.
    RopeParams c{Cpu(q, {n, nh, hd}), Cpu(k, {n, nkv, hd}),
                 CpuI32(positions, {n}), Cpu(*inv_freq, {hd / 2})};
    ASSERT_TRUE(cpu().Rope(c, cs()).ok());
    WriteKvCacheParams cw{
        c.k, Cpu(v, {n, nkv, hd}), Cpu(cache0, {blocks, bs, nkv, hd}),
        Cpu(cache0, {blocks, bs, nkv, hd}), CpuI32(slots, {n})};
    ASSERT_TRUE(cpu().WriteKvCache(cw, cs()).ok());
    // Plain Rope.
    RopeParams g{Gpu(q, kBF16, {n, nh, hd}), Gpu(k, kBF16, {n, nkv, hd}),
                 GpuI32(positions, {n}), Gpu(*inv_freq, kF32, {hd / 2})};
    ASSERT_TRUE(gpu().Rope(g, gs()).ok());
    ExpectNear(Down(g.q), CpuDown(c.q), kTol, absl::StrCat("rope q hd=", hd));
    ExpectNear(Down(g.k), CpuDown(c.k), kTol, absl::StrCat("rope k hd=", hd));
    // Fused.
    RopeWriteKvCacheParams f{Gpu(q, kBF16, {n, nh, hd}),
                             Gpu(k, kBF16, {n, nkv, hd}),
                             Gpu(v, kBF16, {n, nkv, hd}),
                             g.positions,
                             g.inv_freq,
                             Gpu(cache0, kBF16, {blocks, bs, nkv, hd}),
                             Gpu(cache0, kBF16, {blocks, bs, nkv, hd}),
                             GpuI32(slots, {n})};
    ASSERT_TRUE(gpu().RopeWriteKvCache(f, gs()).ok());
    ExpectNear(Down(f.q), CpuDown(c.q), kTol, absl::StrCat("fused q hd=", hd));
    ExpectNear(Down(f.k), CpuDown(c.k), kTol, absl::StrCat("fused k hd=", hd));
    ExpectNear(Down(f.k_cache), CpuDown(cw.k_cache), kTol,
               absl::StrCat("fused k_cache hd=", hd));
    ExpectNear(Down(f.v_cache), CpuDown(cw.v_cache), 0,
               absl::StrCat("fused v_cache hd=", hd));
  }
}

TEST_F(CudaOpsTest, WriteKvCacheScattersSkipsAndIgnoresBadSlots) {
  for (int64_t hd : {8, 6, 128}) {  // 16-byte, 4-byte and 16-byte row copies.
    const int64_t nkv = 2, bs = 4, blocks = 5, n = 6, row = nkv * hd;
    const auto cache0 = Random(blocks * bs * row);
    const auto k = Random(n * row), v = Random(n * row);
    const std::vector<int32_t> slots = {13, -1, 0,
                                        19, 6,  20};  // 20: out of range.
    WriteKvCacheParams g{
        Gpu(k, kBF16, {n, nkv, hd}), Gpu(v, kBF16, {n, nkv, hd}),
        Gpu(cache0, kBF16, {blocks, bs, nkv, hd}),
        Gpu(cache0, kBF16, {blocks, bs, nkv, hd}), GpuI32(slots, {n})};
    ASSERT_TRUE(gpu().WriteKvCache(g, gs()).ok());
    std::vector<float> want_k = cache0, want_v = cache0;
    for (int64_t i = 0; i < n; ++i) {
      if (slots[i] < 0 || slots[i] >= blocks * bs) continue;
      std::copy(&k[i * row], &k[(i + 1) * row], &want_k[slots[i] * row]);
      std::copy(&v[i * row], &v[(i + 1) * row], &want_v[slots[i] * row]);
    }
    ExpectNear(Down(g.k_cache), want_k, 0, absl::StrCat("k_cache hd=", hd));
    ExpectNear(Down(g.v_cache), want_v, 0, absl::StrCat("v_cache hd=", hd));
  }
}

TEST_F(CudaOpsTest, SiluMulAndAdd) {
  for (int64_t d : {1, 17, 300, 4096}) {
    const int64_t n = 4;
    auto x = Random(n * 2 * d, -8, 8);
    x[0] = -100.0f;
    Tensor out = GpuPoisoned(kBF16, {n, d});
    ASSERT_TRUE(gpu().SiluMul({Gpu(x, kBF16, {n, 2 * d}), out}, gs()).ok());
    Tensor ref = CpuPoisoned({n, d});
    ASSERT_TRUE(cpu().SiluMul({Cpu(x, {n, 2 * d}), ref}, cs()).ok());
    ExpectNear(Down(out), CpuDown(ref), kTol, absl::StrCat("silu d=", d));
  }
  for (int64_t h : {37, 4096}) {
    for (int alias = 0; alias < 3; ++alias) {
      const int64_t n = 3;
      const auto a = Random(n * h), b = Random(n * h);
      AddParams g{Gpu(a, kBF16, {n, h}), Gpu(b, kBF16, {n, h}),
                  GpuPoisoned(kBF16, {n, h})};
      AddParams c{Cpu(a, {n, h}), Cpu(b, {n, h}), CpuPoisoned({n, h})};
      if (alias == 1) {
        g.out = g.a;
        c.out = c.a;
      } else if (alias == 2) {
        g.out = g.b;
        c.out = c.b;
      }
      ASSERT_TRUE(gpu().Add(g, gs()).ok());
      ASSERT_TRUE(cpu().Add(c, cs()).ok());
      ExpectNear(Down(g.out), CpuDown(c.out), kTol,
                 absl::StrCat("add h=", h, " alias=", alias));
    }
  }
}

TEST_F(CudaOpsTest, SoftmaxAndArgmax) {
  for (int64_t v : {1, 5, 1000, 32003, 128256}) {
    const int64_t n = 3;
    auto x = Random(n * v, -20, 20, kF32);
    if (v > 5) {  // Tie at the maximum of row 1: the lowest index wins.
      x[v + 2] = 50.0f;
      x[2 * v - 1] = 50.0f;
    }
    Tensor gx = Gpu(x, kF32, {n, v});
    Tensor arg = GpuPoisoned(DType::kI32, {n});
    ASSERT_TRUE(gpu().Argmax({gx, arg}, gs()).ok());
    const auto got = DownI32(arg);
    for (int64_t i = 0; i < n; ++i) {
      const float* row = &x[i * v];
      EXPECT_EQ(got[i], std::max_element(row, row + v) - row)
          << "v=" << v << " row " << i;
    }
    Tensor out = GpuPoisoned(kF32, {n, v});
    ASSERT_TRUE(gpu().Softmax({gx, out}, gs()).ok());
    Tensor ref = CpuPoisoned({n, v});
    ASSERT_TRUE(cpu().Softmax({Cpu(x, {n, v}), ref}, cs()).ok());
    ExpectNear(Down(out), CpuDown(ref), 1e-5, absl::StrCat("softmax v=", v));
    ASSERT_TRUE(gpu().Softmax({gx, gx}, gs()).ok());
    ExpectNear(Down(gx), CpuDown(ref), 1e-5,
               absl::StrCat("softmax in place v=", v));
  }
}

TEST_F(CudaOpsTest, CastAllPairs) {
  for (DType from : kWeightTypes) {
    for (DType to : kWeightTypes) {
      auto x = Random(2 * 33, -60000, 60000, from);
      x[0] = 1.0f + 1.0f / 256;  // Round-to-even case for bf16.
      x[1] = 1e-6f;              // f16 subnormal.
      Tensor gx = Gpu(x, from, {2, 33});
      Tensor out = GpuPoisoned(to, {2, 33});
      ASSERT_TRUE(gpu().Cast({gx, out}, gs()).ok());
      // Reference: the host's exact conversion of the values the GPU holds.
      const auto held = Down(gx);
      std::vector<float> want(held.size());
      for (size_t i = 0; i < held.size(); ++i) {
        want[i] = to == kBF16         ? Bf16ToF32(F32ToBf16(held[i]))
                  : to == DType::kF16 ? F16ToF32(F32ToF16(held[i]))
                                      : held[i];
      }
      ExpectNear(Down(out), want, 0,
                 absl::StrCat(DTypeName(from), "->", DTypeName(to)));
    }
  }
  Tensor ids = GpuI32({1, -2, 3}, {3});
  Tensor ids_out = GpuPoisoned(DType::kI32, {3});
  ASSERT_TRUE(gpu().Cast({ids, ids_out}, gs()).ok());
  EXPECT_EQ(DownI32(ids_out), (std::vector<int32_t>{1, -2, 3}));
}

TEST_F(CudaOpsTest, RejectsBadShapes) {
  const Tensor x = GpuPoisoned(kBF16, {3, 8});
  EXPECT_EQ(gpu().RmsNorm({x, {}, GpuPoisoned(kBF16, {7}), x}, gs()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gpu().SiluMul({x, GpuPoisoned(kBF16, {3, 3})}, gs()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gpu().Add({x, GpuPoisoned(kF32, {3, 8}), x}, gs()).code(),
            absl::StatusCode::kInvalidArgument);  // Mixed dtypes.
  EXPECT_EQ(gpu().Cast({x, GpuPoisoned(kBF16, {3, 9})}, gs()).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace infernum::kernels::cuda_testing
