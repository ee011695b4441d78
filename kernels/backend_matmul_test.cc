// Matmul on every backend against a double-precision reference: m in
// {1, 3, 17, 64} plus batched sizes, odd k and n, f32/bf16/f16 weights,
// with and without accumulate.
#include <cmath>

#include "absl/strings/str_cat.h"
#include "kernels/backend_test_util.h"

namespace infernum::kernels::testing {
namespace {

using MatmulTest = BackendOpsTest;

struct MatmulCase {
  int64_t m, k, n;
  DType w_dtype;
  bool accumulate;
};

// Runs one case and compares with out = x @ w^T (+ out0) in double.
void CheckMatmul(BackendOpsTest& t, const MatmulCase& c) {
  const DType act = t.backend().activation_dtype();
  const auto x = RoundTo(t.Random(c.m * c.k), act);
  const auto w = RoundTo(t.Random(c.n * c.k), c.w_dtype);
  const auto out0 = RoundTo(t.Random(c.m * c.n), act);
  MatmulParams p{t.Upload(x, act, {c.m, c.k}),
                 t.Upload(w, c.w_dtype, {c.n, c.k}),
                 c.accumulate ? t.Upload(out0, act, {c.m, c.n})
                              : t.Poisoned(act, {c.m, c.n}),
                 c.accumulate};
  const std::string what =
      absl::StrCat("m=", c.m, " k=", c.k, " n=", c.n,
                   " w=", DTypeName(c.w_dtype), " acc=", c.accumulate);
  ASSERT_TRUE(t.backend().Matmul(p, t.stream()).ok()) << what;
  std::vector<double> want(c.m * c.n), scale(c.m * c.n);
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < c.n; ++j) {
      double dot = c.accumulate ? out0[i * c.n + j] : 0.0;
      double mag = std::fabs(dot);
      for (int64_t l = 0; l < c.k; ++l) {
        const double term =
            static_cast<double>(x[i * c.k + l]) * w[j * c.k + l];
        dot += term;
        mag += std::fabs(term);
      }
      want[i * c.n + j] = dot;
      scale[i * c.n + j] = mag;
    }
  }
  ExpectCloseScaled(t.Download(p.out), want, scale, t.Tol(1e-5), what);
}

TEST_P(MatmulTest, SmallShapesAllDTypes) {
  for (DType w_dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (int64_t m : {1, 3, 17, 64}) {
      for (int64_t k : {1, 7, 32, 33, 100, 257}) {
        for (int64_t n : {1, 5, 33, 70}) {
          CheckMatmul(*this, {m, k, n, w_dtype, (m + k + n) % 2 == 1});
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST_P(MatmulTest, AccumulateBothWays) {
  for (bool accumulate : {false, true}) {
    CheckMatmul(*this, {5, 64, 19, DType::kBF16, accumulate});
  }
}

// Shapes large enough to reach the blocked / multithreaded paths.
TEST_P(MatmulTest, LargerShapes) {
  const MatmulCase cases[] = {
      {1, 2048, 260, DType::kBF16, false}, {8, 1000, 300, DType::kBF16, true},
      {32, 513, 129, DType::kF16, false},  {128, 300, 150, DType::kF32, false},
      {200, 130, 97, DType::kBF16, true},  {512, 64, 40, DType::kBF16, false},
      {4, 4099, 67, DType::kF32, true},
  };
  for (const MatmulCase& c : cases) {
    CheckMatmul(*this, c);
    if (HasFatalFailure()) return;
  }
}

TEST_P(MatmulTest, EmptyBatchIsANoOp) {
  MatmulParams p{Poisoned(act(), {0, 16}),
                 Upload(Random(8 * 16), DType::kBF16, {8, 16}),
                 Poisoned(act(), {0, 8})};
  // A zero-row x still needs a non-null pointer to count as defined.
  EXPECT_TRUE(backend().Matmul(p, stream()).ok());
}

// SplitMatmul: each output block is x @ (its rows of w)^T (double
// reference), bit for bit what a Matmul of that row block alone gives.
TEST_P(MatmulTest, SplitMatmulEqualsOneMatmulPerBlock) {
  struct SplitCase {
    int64_t m, k;
    std::vector<int64_t> ns;
    DType w_dtype;
  };
  const SplitCase cases[] = {
      {1, 64, {48, 16, 16}, DType::kBF16},
      {32, 96, {96, 32, 32}, DType::kBF16},
      {7, 33, {5, 70, 1, 24}, DType::kF32},
      {40, 130, {100, 29}, DType::kF16},
      {3, 16, {13}, DType::kBF16},
  };
  for (const SplitCase& c : cases) {
    int64_t n = 0;
    for (int64_t b : c.ns) n += b;
    const auto x = RoundTo(Random(c.m * c.k), act());
    const auto w = RoundTo(Random(n * c.k), c.w_dtype);
    SplitMatmulParams p;
    p.x = Upload(x, act(), {c.m, c.k});
    p.w = Upload(w, c.w_dtype, {n, c.k});
    p.num_outs = static_cast<int>(c.ns.size());
    for (int i = 0; i < p.num_outs; ++i)
      p.outs[i] = Poisoned(act(), {c.m, c.ns[i]});
    const std::string what = absl::StrCat("m=", c.m, " k=", c.k, " n=", n,
                                          " w=", DTypeName(c.w_dtype));
    ASSERT_TRUE(backend().SplitMatmul(p, stream()).ok()) << what;
    int64_t row = 0;
    for (int i = 0; i < p.num_outs; ++i) {
      const int64_t nb = c.ns[i];
      const Tensor alone = Poisoned(act(), {c.m, nb});
      ASSERT_TRUE(
          backend().Matmul({p.x, p.w.Rows(row, nb), alone}, stream()).ok());
      const std::vector<float> got = Download(p.outs[i]);
      const std::vector<float> want_alone = Download(alone);
      std::vector<double> want(c.m * nb), scale(c.m * nb);
      for (int64_t r = 0; r < c.m; ++r) {
        for (int64_t j = 0; j < nb; ++j) {
          double dot = 0, mag = 0;
          for (int64_t l = 0; l < c.k; ++l) {
            const double t =
                static_cast<double>(x[r * c.k + l]) * w[(row + j) * c.k + l];
            dot += t;
            mag += std::fabs(t);
          }
          want[r * nb + j] = dot;
          scale[r * nb + j] = mag;
        }
      }
      ExpectCloseScaled(got, want, scale, Tol(1e-5),
                        absl::StrCat(what, " block ", i));
      for (int64_t e = 0; e < c.m * nb; ++e) {
        ASSERT_EQ(got[e], want_alone[e]) << what << " block " << i << " @" << e;
      }
      row += nb;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllBackends, MatmulTest,
                         ::testing::ValuesIn(AllBackendCases()),
                         BackendCaseName);

}  // namespace
}  // namespace infernum::kernels::testing
