// CpuMatmulPrecision::kBf16: every implementation (vdpbf16ps, its AVX-512F and
// AVX2 emulations, the scalar one) gives the same bits, results stay
// batch-invariant, they agree with a double-precision dot product of the
// bf16-rounded activations to f32 accumulation error, and f32 / f16 weights
// keep the exact path.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/dtype.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace infernum::kernels {
namespace {

struct Variant {
  std::string name;
  CpuBackendOptions options;
};

// Every bf16-dot implementation this CPU can run, scalar first.
std::vector<Variant> Variants(int threads = 2) {
  const auto opts = [&](CpuIsa isa, bool allow_bf16) {
    CpuBackendOptions o;
    o.num_threads = threads;
    o.max_isa = isa;
    o.allow_avx512_bf16 = allow_bf16;
    o.matmul_precision = CpuMatmulPrecision::kBf16;
    return o;
  };
  std::vector<Variant> v = {{"scalar", opts(CpuIsa::kScalar, false)}};
  const CpuIsa isa = DetectCpuIsa();
  if (isa >= CpuIsa::kAvx2) v.push_back({"avx2", opts(CpuIsa::kAvx2, false)});
  if (isa >= CpuIsa::kAvx512) {
    v.push_back({"avx512_emulated", opts(CpuIsa::kAvx512, false)});
  }
  if (CpuHasAvx512Bf16()) {
    v.push_back({"avx512_bf16", opts(CpuIsa::kAvx512, true)});
  }
  return v;
}

struct Problem {
  int64_t m, k, n;
  std::vector<float> x;     // [m, k]
  std::vector<uint16_t> w;  // [n, k] bf16
  std::vector<float> out0;  // [m, n], the initial out for accumulate
};

// Values of magnitude 2^[lo_exp, hi_exp), random signs, some exact zeros.
std::vector<float> RandomValues(std::mt19937& rng, int64_t count, int lo_exp,
                                int hi_exp) {
  std::uniform_real_distribution<float> mant(0.5f, 1.0f);
  std::uniform_int_distribution<int> exp(lo_exp, hi_exp - 1);
  std::vector<float> v(count);
  for (float& f : v) {
    f = std::ldexp(mant(rng), exp(rng)) * (rng() % 2 ? 1.0f : -1.0f);
    if (rng() % 17 == 0) f = rng() % 2 ? 0.0f : -0.0f;
  }
  return v;
}

Problem MakeProblem(int64_t m, int64_t k, int64_t n, uint32_t seed,
                    int x_lo = -4, int x_hi = 2, int w_lo = -6, int w_hi = 0) {
  std::mt19937 rng(seed);
  Problem p{m, k, n, RandomValues(rng, m * k, x_lo, x_hi), {}, {}};
  for (float f : RandomValues(rng, n * k, w_lo, w_hi)) {
    p.w.push_back(F32ToBf16(f));
  }
  p.out0 = RandomValues(rng, m * n, -2, 2);
  return p;
}

// out = x @ w^T (+ out0) on a backend.
std::vector<float> RunMatmul(Backend& backend, const Problem& p,
                             bool accumulate, DType w_dtype = DType::kBF16) {
  std::vector<float> x = p.x, out = accumulate
                                        ? p.out0
                                        : std::vector<float>(p.m * p.n, NAN);
  std::vector<float> w_f32(p.w.size());
  for (size_t i = 0; i < p.w.size(); ++i) w_f32[i] = Bf16ToF32(p.w[i]);
  std::vector<uint16_t> w = p.w;
  void* w_data = w_dtype == DType::kF32 ? static_cast<void*>(w_f32.data())
                                        : static_cast<void*>(w.data());
  MatmulParams params{Tensor(x.data(), DType::kF32, {p.m, p.k}),
                      Tensor(w_data, w_dtype, {p.n, p.k}),
                      Tensor(out.data(), DType::kF32, {p.m, p.n}), accumulate};
  EXPECT_TRUE(backend.Matmul(params, backend.default_stream()).ok());
  return out;
}

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

void ExpectSameBits(const std::vector<float>& got,
                    const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  int reported = 0;
  for (size_t i = 0; i < got.size() && reported < 5; ++i) {
    if (Bits(got[i]) != Bits(want[i])) {
      ADD_FAILURE() << what << ": element " << i << " is " << got[i]
                    << ", want " << want[i];
      ++reported;
    }
  }
}

TEST(MatmulBf16DotTest, MatchesDoubleProductOfRoundedActivations) {
  for (const Variant& v : Variants()) {
    auto backend = CreateCpuBackend(v.options);
    for (int64_t k : {1, 31, 32, 33, 100, 768}) {
      for (int64_t m : {1, 5}) {
        const Problem p = MakeProblem(m, k, 19, static_cast<uint32_t>(k + m));
        for (bool accumulate : {false, true}) {
          const std::vector<float> got = RunMatmul(*backend, p, accumulate);
          for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < p.n; ++j) {
              double dot = accumulate ? p.out0[i * p.n + j] : 0.0, mag = 0.0;
              for (int64_t l = 0; l < k; ++l) {
                const double term =
                    static_cast<double>(Bf16ToF32(F32ToBf16(p.x[i * k + l]))) *
                    Bf16ToF32(p.w[j * k + l]);
                dot += term;
                mag += std::fabs(term);
              }
              // f32 accumulation: k / 16 steps per lane, 4 levels of sums
              // and the accumulate add, each off by at most 2^-24 relative.
              const double tol = (k / 16.0 + 8) * std::ldexp(mag, -24) +
                                 std::ldexp(std::fabs(dot), -23);
              EXPECT_NEAR(got[i * p.n + j], dot, tol)
                  << v.name << " m=" << m << " k=" << k << " i=" << i
                  << " j=" << j << " acc=" << accumulate;
            }
          }
        }
      }
    }
  }
}

TEST(MatmulBf16DotTest, RoundsActivationsToBf16) {
  // 1 + 2^-12 rounds to 1 in bf16, so the bf16 product is exactly k, where
  // the f32 path gives k * (1 + 2^-12).
  const int64_t k = 64;
  Problem p{1,
            k,
            1,
            std::vector<float>(k, 1.0f + std::ldexp(1.0f, -12)),
            std::vector<uint16_t>(k, F32ToBf16(1.0f)),
            {}};
  for (const Variant& v : Variants()) {
    auto backend = CreateCpuBackend(v.options);
    EXPECT_EQ(RunMatmul(*backend, p, false)[0], 64.0f) << v.name;
  }
  auto exact = CreateCpuBackend(1);
  EXPECT_EQ(RunMatmul(*exact, p, false)[0],
            64.0f * (1.0f + std::ldexp(1.0f, -12)));
}

// Shapes that exercise every tile shape and k tail, and value ranges whose
// products or sums underflow (DAZ / FTZ) or are large.
TEST(MatmulBf16DotTest, AllImplementationsGiveTheSameBits) {
  const std::vector<Variant> variants = Variants();
  struct Range {
    int x_lo, x_hi, w_lo, w_hi;
  };
  for (const Range r : {Range{-4, 2, -6, 0}, Range{-140, -100, -30, 10},
                        Range{-70, -60, -70, -55}, Range{30, 60, 20, 60}}) {
    // Every row count of a register tile (1..8, and 14 = 8 + 6).
    for (int64_t m : {1, 2, 3, 4, 5, 6, 7, 8, 14, 33}) {
      for (int64_t k : {1, 17, 32, 63, 96, 770}) {
        const int64_t n = 37;
        const Problem p = MakeProblem(m, k, n, static_cast<uint32_t>(m * k),
                                      r.x_lo, r.x_hi, r.w_lo, r.w_hi);
        for (bool accumulate : {false, true}) {
          std::vector<float> want;
          for (const Variant& v : variants) {
            auto backend = CreateCpuBackend(v.options);
            const std::vector<float> got = RunMatmul(*backend, p, accumulate);
            if (want.empty()) {
              want = got;
              continue;
            }
            ExpectSameBits(got, want,
                           absl::StrCat(v.name, " vs scalar m=", m, " k=", k,
                                        " x 2^", r.x_lo, " acc=", accumulate));
          }
        }
      }
    }
  }
}

TEST(MatmulBf16DotTest, RowsDoNotDependOnTheBatch) {
  const Problem batch = MakeProblem(37, 768, 300, 5);
  for (const Variant& v : Variants()) {
    for (int threads : {1, 2}) {
      CpuBackendOptions options = v.options;
      options.num_threads = threads;
      auto backend = CreateCpuBackend(options);
      const std::vector<float> all = RunMatmul(*backend, batch, false);
      for (int64_t i : {0, 3, 4, 36}) {
        Problem one = batch;
        one.m = 1;
        one.x.assign(batch.x.begin() + i * batch.k,
                     batch.x.begin() + (i + 1) * batch.k);
        const std::vector<float> alone = RunMatmul(*backend, one, false);
        ExpectSameBits(alone,
                       std::vector<float>(all.begin() + i * batch.n,
                                          all.begin() + (i + 1) * batch.n),
                       absl::StrCat(v.name, " threads=", threads, " row ", i));
      }
    }
  }
}

TEST(MatmulBf16DotTest, F32WeightsKeepTheExactPath) {
  const Problem p = MakeProblem(9, 100, 21, 3);
  auto exact = CreateCpuBackend(2);
  for (const Variant& v : Variants()) {
    auto backend = CreateCpuBackend(v.options);
    CpuBackendOptions f32_options = v.options;
    f32_options.matmul_precision = CpuMatmulPrecision::kF32;
    auto reference = CreateCpuBackend(f32_options);
    ExpectSameBits(RunMatmul(*backend, p, false, DType::kF32),
                   RunMatmul(*reference, p, false, DType::kF32), v.name);
  }
}

#if defined(__x86_64__)
TEST(MatmulBf16DotTest, LeavesMxcsrAsItFoundIt) {
  const Problem p = MakeProblem(5, 64, 40, 9, -140, -100, -30, 10);
  for (const Variant& v : Variants(1)) {
    auto backend = CreateCpuBackend(v.options);
    const unsigned before = _mm_getcsr() & ~0x3fu;  // Minus the sticky flags.
    RunMatmul(*backend, p, true);
    EXPECT_EQ(_mm_getcsr() & ~0x3fu, before) << v.name;
  }
}
#endif

TEST(MatmulBf16DotTest, NamesAndParsing) {
  CpuBackendOptions options;
  options.matmul_precision = CpuMatmulPrecision::kBf16;
  EXPECT_NE(CreateCpuBackend(options)->name().find("bf16 matmul"),
            std::string::npos);
  EXPECT_EQ(CreateCpuBackend(1)->name().find("bf16"), std::string::npos);
  CpuMatmulPrecision parsed = CpuMatmulPrecision::kF32;
  EXPECT_TRUE(ParseCpuMatmulPrecision("bf16", &parsed));
  EXPECT_EQ(parsed, CpuMatmulPrecision::kBf16);
  EXPECT_TRUE(ParseCpuMatmulPrecision("f32", &parsed));
  EXPECT_EQ(parsed, CpuMatmulPrecision::kF32);
  EXPECT_FALSE(ParseCpuMatmulPrecision("fp8", &parsed));
}

}  // namespace
}  // namespace infernum::kernels
