// Op-by-op tests of every Backend against double-precision references
// (llama.cpp test-backend-ops style): random inputs, NaN-poisoned outputs,
// several shapes and dtypes. Matmul, attention and validation tests live in
// backend_{matmul,attention,validation}_test.cc.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "kernels/backend_test_util.h"
#include "kernels/rope.h"

namespace infernum::kernels::testing {
namespace {

using OpsTest = BackendOpsTest;
constexpr DType kF32 = DType::kF32;
constexpr DType kWeightDTypes[] = {DType::kF32, DType::kBF16, DType::kF16};

TEST_P(OpsTest, MemoryCopiesAndStreams) {
  auto buf = backend().Allocate(1000);
  ASSERT_TRUE(buf.ok());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buf->data()) % 64, 0u);
  std::vector<uint8_t> src(1000), back(1000);
  std::iota(src.begin(), src.end(), 0);
  auto other = backend().Allocate(1000);
  ASSERT_TRUE(other.ok());
  auto s = backend().CreateStream();
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(
      backend().CopyToDevice(buf->data(), src.data(), 1000, s->get()).ok());
  ASSERT_TRUE(
      backend().CopyOnDevice(other->data(), buf->data(), 1000, s->get()).ok());
  ASSERT_TRUE(backend().Memset(other->data(), 7, 10, s->get()).ok());
  ASSERT_TRUE(
      backend().CopyToHost(back.data(), other->data(), 1000, s->get()).ok());
  ASSERT_TRUE(backend().Synchronize(s->get()).ok());
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(back[i], i < 10 ? 7 : src[i]) << i;
  auto free_bytes = backend().FreeMemory();
  ASSERT_TRUE(free_bytes.ok());
  EXPECT_GT(*free_bytes, 0u);
}

TEST_P(OpsTest, Embedding) {
  for (DType table_dtype : kWeightDTypes) {
    for (int64_t h : {1, 7, 64}) {
      const int64_t rows = 11, n = 6;
      const auto table = RoundTo(Random(rows * h), table_dtype);
      const std::vector<int32_t> ids = {3, 0, 10, 3, 7, 1};
      Tensor out = Poisoned(act(), {n, h});
      ASSERT_TRUE(backend()
                      .Embedding({Upload(table, table_dtype, {rows, h}),
                                  UploadI32(ids, {n}), out},
                                 stream())
                      .ok());
      std::vector<double> want;
      for (int32_t id : ids)
        want.insert(want.end(), &table[id * h], &table[(id + 1) * h]);
      ExpectClose(Download(out), want, Tol(0),
                  absl::StrCat(DTypeName(table_dtype), " h=", h));
    }
  }
}

TEST_P(OpsTest, RmsNorm) {
  for (DType w_dtype : kWeightDTypes) {
    for (int64_t h : {1, 17, 256}) {
      for (int mode = 0; mode < 3;
           ++mode) {  // 0: plain, 1: residual, 2: out aliases x.
        const int64_t n = 3;
        const float eps = 1e-5f;
        const auto x = RoundTo(Random(n * h, -2, 2), act());
        const auto res = RoundTo(Random(n * h, -2, 2), act());
        const auto w = RoundTo(Random(h, 0.5f, 1.5f), w_dtype);
        RmsNormParams p{Upload(x, act(), {n, h}),
                        {},
                        Upload(w, w_dtype, {h}),
                        Poisoned(act(), {n, h}),
                        eps};
        if (mode == 1) p.residual = Upload(res, act(), {n, h});
        if (mode == 2) p.out = p.x;
        ASSERT_TRUE(backend().RmsNorm(p, stream()).ok());
        std::vector<double> want(n * h), want_res(n * h);
        for (int64_t i = 0; i < n; ++i) {
          double ss = 0;
          for (int64_t j = 0; j < h; ++j) {
            want_res[i * h + j] =
                x[i * h + j] + (mode == 1 ? res[i * h + j] : 0.0);
            ss += want_res[i * h + j] * want_res[i * h + j];
          }
          const double inv = 1.0 / std::sqrt(ss / h + eps);
          for (int64_t j = 0; j < h; ++j)
            want[i * h + j] = want_res[i * h + j] * inv * w[j];
        }
        const std::string what =
            absl::StrCat(DTypeName(w_dtype), " h=", h, " mode=", mode);
        ExpectClose(Download(p.out), want, Tol(1e-5), what);
        if (mode == 1)
          ExpectClose(Download(p.residual), want_res, Tol(1e-6),
                      what + " residual");
      }
    }
  }
}

TEST_P(OpsTest, Rope) {
  for (int64_t hd : {2, 16, 64, 128}) {
    const int64_t n = 5, nh = 4, nkv = 2;
    auto inv_freq =
        ComputeRopeInvFreq(500000.0f, hd, {"llama3", 8.0f, 1.0f, 4.0f, 8192});
    ASSERT_TRUE(inv_freq.ok());
    const std::vector<int32_t> positions = {0, 1, 17, 4095, 131000};
    const auto q = RoundTo(Random(n * nh * hd), act());
    const auto k = RoundTo(Random(n * nkv * hd), act());
    RopeParams p{Upload(q, act(), {n, nh, hd}), Upload(k, act(), {n, nkv, hd}),
                 UploadI32(positions, {n}), Upload(*inv_freq, kF32, {hd / 2})};
    ASSERT_TRUE(backend().Rope(p, stream()).ok());
    // Reference: the angle is an f32 product (as specified), cos/sin in double.
    auto rotate = [&](const std::vector<float>& x, int64_t heads) {
      std::vector<double> out(x.size());
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t h = 0; h < heads; ++h) {
          const int64_t base = (i * heads + h) * hd;
          for (int64_t j = 0; j < hd / 2; ++j) {
            const float angle =
                static_cast<float>(positions[i]) * (*inv_freq)[j];
            const double c = std::cos(static_cast<double>(angle));
            const double s = std::sin(static_cast<double>(angle));
            const double a = x[base + j], b = x[base + j + hd / 2];
            out[base + j] = a * c - b * s;
            out[base + j + hd / 2] = b * c + a * s;
          }
        }
      }
      return out;
    };
    ExpectClose(Download(p.q), rotate(q, nh), Tol(1e-5),
                absl::StrCat("q hd=", hd));
    ExpectClose(Download(p.k), rotate(k, nkv), Tol(1e-5),
                absl::StrCat("k hd=", hd));
  }
}

TEST_P(OpsTest, SiluMul) {
  for (int64_t d : {1, 17, 300}) {
    const int64_t n = 4;
    auto x = Random(n * 2 * d, -8, 8);
    x[0] = -100.0f;  // exp overflow path.
    x = RoundTo(x, act());
    Tensor out = Poisoned(act(), {n, d});
    ASSERT_TRUE(
        backend().SiluMul({Upload(x, act(), {n, 2 * d}), out}, stream()).ok());
    std::vector<double> want(n * d);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < d; ++j) {
        const double g = x[i * 2 * d + j], u = x[i * 2 * d + d + j];
        want[i * d + j] = g / (1.0 + std::exp(-g)) * u;
      }
    }
    ExpectClose(Download(out), want, Tol(1e-5), absl::StrCat("d=", d));
  }
}

TEST_P(OpsTest, AddWithAliasing) {
  for (int alias = 0; alias < 3; ++alias) {  // out is fresh, a, or b.
    const int64_t n = 3, h = 37;
    const auto a = RoundTo(Random(n * h), act()),
               b = RoundTo(Random(n * h), act());
    AddParams p{Upload(a, act(), {n, h}), Upload(b, act(), {n, h}),
                Poisoned(act(), {n, h})};
    if (alias == 1) p.out = p.a;
    if (alias == 2) p.out = p.b;
    ASSERT_TRUE(backend().Add(p, stream()).ok());
    std::vector<double> want(n * h);
    for (int64_t i = 0; i < n * h; ++i)
      want[i] = static_cast<double>(a[i]) + b[i];
    ExpectClose(Download(p.out), want, Tol(1e-7),
                absl::StrCat("alias=", alias));
  }
}

TEST_P(OpsTest, SoftmaxAndArgmax) {
  for (int64_t v : {1, 5, 1000, 32003}) {
    const int64_t n = 3;
    auto x = Random(n * v, -20, 20);
    if (v > 5) {  // Tie at the maximum in row 1: the lowest index wins.
      x[v + 2] = 50.0f;
      x[v + v - 1] = 50.0f;
    }
    Tensor xt = Upload(x, kF32, {n, v});
    Tensor arg = Poisoned(DType::kI32, {n});
    ASSERT_TRUE(backend().Argmax({xt, arg}, stream()).ok());
    const auto got_arg = DownloadI32(arg);
    Tensor out = Poisoned(kF32, {n, v});
    ASSERT_TRUE(backend().Softmax({xt, out}, stream()).ok());
    ASSERT_TRUE(backend().Softmax({xt, xt}, stream()).ok());  // In place.
    std::vector<double> want(n * v);
    for (int64_t i = 0; i < n; ++i) {
      const float* row = &x[i * v];
      const int64_t best =
          std::max_element(row, row + v) - row;  // First maximum.
      EXPECT_EQ(got_arg[i], best) << "v=" << v << " row " << i;
      double sum = 0;
      for (int64_t j = 0; j < v; ++j)
        sum += std::exp(static_cast<double>(row[j]) - row[best]);
      for (int64_t j = 0; j < v; ++j) {
        want[i * v + j] =
            std::exp(static_cast<double>(row[j]) - row[best]) / sum;
      }
    }
    ExpectClose(Download(out), want, 1e-5, absl::StrCat("softmax v=", v));
    ExpectClose(Download(xt), want, 1e-5,
                absl::StrCat("softmax in place v=", v));
  }
}

TEST_P(OpsTest, Cast) {
  const DType types[] = {DType::kF32, DType::kBF16, DType::kF16};
  for (DType from : types) {
    for (DType to : types) {
      auto x = RoundTo(Random(2 * 33, -60000, 60000), from);
      x[0] = 1.0f + 1.0f / 256;  // Round-to-even case for bf16.
      x[1] = 1e-6f;              // f16 subnormal.
      x = RoundTo(x, from);
      Tensor out = Poisoned(to, {2, 33});
      ASSERT_TRUE(
          backend().Cast({Upload(x, from, {2, 33}), out}, stream()).ok());
      const auto rounded = RoundTo(x, to);
      const std::vector<double> want(rounded.begin(), rounded.end());
      ExpectClose(Download(out), want, 0,
                  absl::StrCat(DTypeName(from), "->", DTypeName(to)));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllBackends, OpsTest,
                         ::testing::ValuesIn(AllBackendCases()),
                         BackendCaseName);

}  // namespace
}  // namespace infernum::kernels::testing
