// WriteKvCache and PagedAttention on every backend against a double
// reference: GQA/MQA/MHA, mixed prefill + decode batches, chunked prefill
// (query_len < seq_len) and block tables with non-contiguous blocks.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>

#include "absl/strings/str_cat.h"
#include "kernels/backend_test_util.h"

namespace infernum::kernels::testing {
namespace {

using AttentionTest = BackendOpsTest;

struct Seq {
  int query_len, seq_len;
};

struct AttentionCase {
  int64_t num_heads, num_kv_heads, head_dim, block_size, num_blocks;
  std::vector<Seq> seqs;
  std::optional<DType> cache_dtype;  // Default: the activation dtype.
};

// Host-side inputs of one case: sequence metadata, block tables with
// distinct blocks drawn from a shuffled pool, random q and caches (already
// rounded to the dtypes the device holds).
struct AttentionInputs {
  std::vector<int32_t> qsl = {0}, seq_lens, tables;
  int64_t max_blocks = 1;
  int max_query_len = 0, max_seq_len = 0;
  std::vector<float> q, k_cache, v_cache;
};

AttentionInputs MakeInputs(BackendOpsTest& t, const AttentionCase& c,
                           DType cache_dtype) {
  AttentionInputs in;
  const int64_t bs = c.block_size;
  for (const Seq& s : c.seqs) {
    in.qsl.push_back(in.qsl.back() + s.query_len);
    in.seq_lens.push_back(s.seq_len);
    in.max_blocks = std::max<int64_t>(in.max_blocks, (s.seq_len + bs - 1) / bs);
    in.max_query_len = std::max(in.max_query_len, s.query_len);
    in.max_seq_len = std::max(in.max_seq_len, s.seq_len);
  }
  std::vector<int32_t> pool(c.num_blocks);
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), t.rng_);
  in.tables.assign(c.seqs.size() * in.max_blocks, 0);
  size_t next = 0;
  for (size_t s = 0; s < c.seqs.size(); ++s) {
    for (int64_t b = 0; b < (c.seqs[s].seq_len + bs - 1) / bs; ++b) {
      EXPECT_LT(next, pool.size()) << "test case needs more blocks";
      in.tables[s * in.max_blocks + b] = pool[next++ % pool.size()];
    }
  }
  const int64_t cache_size = c.num_blocks * bs * c.num_kv_heads * c.head_dim;
  in.q = RoundTo(t.Random(in.qsl.back() * c.num_heads * c.head_dim, -2, 2),
                 t.backend().activation_dtype());
  in.k_cache = RoundTo(t.Random(cache_size, -2, 2), cache_dtype);
  in.v_cache = RoundTo(t.Random(cache_size), cache_dtype);
  return in;
}

// Causal attention over the paged cache in double precision.
std::vector<double> ReferenceAttention(const AttentionCase& c,
                                       const AttentionInputs& in,
                                       double scale) {
  const int64_t nh = c.num_heads, nkv = c.num_kv_heads, hd = c.head_dim;
  const int64_t bs = c.block_size;
  std::vector<double> want(in.qsl.back() * nh * hd, 0.0);
  auto cache_at = [&](const std::vector<float>& cache, size_t s, int64_t pos,
                      int64_t kvh) {
    const int64_t block = in.tables[s * in.max_blocks + pos / bs];
    return &cache[((block * bs + pos % bs) * nkv + kvh) * hd];
  };
  for (size_t s = 0; s < c.seqs.size(); ++s) {
    for (int r = in.qsl[s]; r < in.qsl[s + 1]; ++r) {
      const int64_t pos =
          in.seq_lens[s] - c.seqs[s].query_len + (r - in.qsl[s]);
      for (int64_t h = 0; h < nh; ++h) {
        const int64_t kvh = h / (nh / nkv);
        const float* q = &in.q[(r * nh + h) * hd];
        std::vector<double> scores(pos + 1);
        for (int64_t u = 0; u <= pos; ++u) {
          const float* k = cache_at(in.k_cache, s, u, kvh);
          double dot = 0;
          for (int64_t d = 0; d < hd; ++d)
            dot += static_cast<double>(q[d]) * k[d];
          scores[u] = dot * scale;
        }
        const double max = *std::max_element(scores.begin(), scores.end());
        double sum = 0;
        for (double& sc : scores) sum += (sc = std::exp(sc - max));
        for (int64_t u = 0; u <= pos; ++u) {
          const float* v = cache_at(in.v_cache, s, u, kvh);
          for (int64_t d = 0; d < hd; ++d) {
            want[(r * nh + h) * hd + d] += scores[u] / sum * v[d];
          }
        }
      }
    }
  }
  return want;
}

void CheckAttention(BackendOpsTest& t, const AttentionCase& c) {
  const DType act = t.backend().activation_dtype();
  const DType cache_dtype = c.cache_dtype.value_or(act);
  const int64_t nh = c.num_heads, nkv = c.num_kv_heads, hd = c.head_dim;
  const int64_t bs = c.block_size;
  const AttentionInputs in = MakeInputs(t, c, cache_dtype);
  const int num_seqs = static_cast<int>(c.seqs.size());
  const int64_t n = in.qsl.back();
  PagedAttentionParams p;
  p.q = t.Upload(in.q, act, {n, nh, hd});
  p.k_cache = t.Upload(in.k_cache, cache_dtype, {c.num_blocks, bs, nkv, hd});
  p.v_cache = t.Upload(in.v_cache, cache_dtype, {c.num_blocks, bs, nkv, hd});
  p.block_tables = t.UploadI32(in.tables, {num_seqs, in.max_blocks});
  p.query_start_loc = t.UploadI32(in.qsl, {num_seqs + 1});
  p.seq_lens = t.UploadI32(in.seq_lens, {num_seqs});
  p.out = t.Poisoned(act, {n, nh, hd});
  p.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  p.num_seqs = num_seqs;
  p.max_query_len = in.max_query_len;
  p.max_seq_len = in.max_seq_len;
  ASSERT_TRUE(t.backend().PagedAttention(p, t.stream()).ok());
  ExpectClose(t.Download(p.out), ReferenceAttention(c, in, p.scale),
              t.Tol(1e-5),
              absl::StrCat("nh=", nh, " nkv=", nkv, " hd=", hd, " bs=", bs,
                           " cache=", DTypeName(cache_dtype)));
}

TEST_P(AttentionTest, GqaMixedPrefillDecodeAndChunkedPrefill) {
  CheckAttention(
      *this,
      {8, 2, 64, 16, 40, {{37, 37}, {1, 100}, {20, 50}, {1, 1}, {5, 5}}});
}

TEST_P(AttentionTest, MhaBlockSizeOneAndOdd) {
  CheckAttention(*this, {3, 3, 16, 1, 30, {{3, 3}, {1, 9}, {2, 11}}});
  CheckAttention(*this, {4, 2, 8, 3, 20, {{4, 10}, {1, 7}, {6, 6}}});
}

TEST_P(AttentionTest, Bf16Cache) {
  const std::vector<Seq> seqs = {{37, 37}, {1, 100}, {20, 50}, {1, 1}};
  CheckAttention(*this, {8, 2, 64, 16, 40, seqs, DType::kBF16});
  CheckAttention(*this, {4, 2, 128, 16, 40, seqs, DType::kBF16});
  CheckAttention(*this, {2, 1, 80, 5, 60, {{3, 7}, {1, 20}}, DType::kBF16});
}

TEST_P(AttentionTest, UnusualHeadDims) {
  CheckAttention(*this, {2, 1, 80, 5, 12, {{3, 7}, {1, 20}}});
  CheckAttention(*this, {3, 3, 96, 16, 8, {{1, 40}, {17, 17}}});
  CheckAttention(*this, {2, 2, 256, 16, 8, {{1, 40}, {4, 4}}});
}

TEST_P(AttentionTest, MqaLongContextHeadDim128) {
  CheckAttention(*this,
                 {4, 1, 128, 32, 24, {{1, 300}, {65, 65}, {1, 33}, {16, 180}}});
}

TEST_P(AttentionTest, DecodeBatch) {
  std::vector<Seq> seqs;
  for (int s = 0; s < 12; ++s) seqs.push_back({1, 1 + 23 * s});
  CheckAttention(*this, {6, 2, 32, 16, 120, seqs});
}

TEST_P(AttentionTest, WriteKvCacheScattersAndSkips) {
  const int64_t nkv = 2, hd = 8, bs = 4, num_blocks = 5, n = 5, row = nkv * hd;
  for (DType cache_dtype : {act(), DType::kBF16}) {
    const auto k_cache = RoundTo(Random(num_blocks * bs * row), cache_dtype);
    const auto v_cache = RoundTo(Random(num_blocks * bs * row), cache_dtype);
    const auto k = RoundTo(Random(n * row), act());
    const auto v = RoundTo(Random(n * row), act());
    const std::vector<int32_t> slots = {13, -1, 0, 19, 6};  // -1: not written.
    WriteKvCacheParams p{
        Upload(k, act(), {n, nkv, hd}), Upload(v, act(), {n, nkv, hd}),
        Upload(k_cache, cache_dtype, {num_blocks, bs, nkv, hd}),
        Upload(v_cache, cache_dtype, {num_blocks, bs, nkv, hd}),
        UploadI32(slots, {n})};
    ASSERT_TRUE(backend().WriteKvCache(p, stream()).ok());
    // Written rows are rounded to the cache dtype (nearest even).
    const auto k_stored = RoundTo(k, cache_dtype);
    const auto v_stored = RoundTo(v, cache_dtype);
    std::vector<double> want_k(k_cache.begin(), k_cache.end());
    std::vector<double> want_v(v_cache.begin(), v_cache.end());
    for (int64_t i = 0; i < n; ++i) {
      if (slots[i] < 0) continue;
      std::copy(&k_stored[i * row], &k_stored[(i + 1) * row],
                &want_k[slots[i] * row]);
      std::copy(&v_stored[i * row], &v_stored[(i + 1) * row],
                &want_v[slots[i] * row]);
    }
    ExpectClose(Download(p.k_cache), want_k, 0,
                std::string("k_cache ") + DTypeName(cache_dtype));
    ExpectClose(Download(p.v_cache), want_v, 0,
                std::string("v_cache ") + DTypeName(cache_dtype));
  }
}

// A bf16 cache stores F32ToBf16 of every value, bit for bit: ties to even,
// NaNs kept (quiet), infinities, overflow to inf, denormals, and rows that
// are not a multiple of the vector width.
TEST_P(AttentionTest, WriteKvCacheRoundsToBf16Exactly) {
  const int64_t nkv = 5, hd = 8, bs = 2, row = nkv * hd, n = 3;
  std::vector<float> k = Random(n * row, -3.0f, 3.0f);
  const float specials[] = {1.0f + 0x1p-8f,  // A tie: rounds down to even.
                            1.0f + 0x3p-8f,  // A tie: rounds up to even.
                            std::numeric_limits<float>::quiet_NaN(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::max(),
                            std::numeric_limits<float>::denorm_min(),
                            -0x1.fffffep-127f,
                            0x1.ff8p+3f};
  for (size_t i = 0; i < std::size(specials); ++i) {
    k[7 * i + 3] = specials[i];
  }
  std::vector<float> v = k;
  std::reverse(v.begin(), v.end());
  const Tensor k_cache = Poisoned(DType::kBF16, {2, bs, nkv, hd});
  const Tensor v_cache = Poisoned(DType::kBF16, {2, bs, nkv, hd});
  WriteKvCacheParams p{Upload(k, act(), {n, nkv, hd}),
                       Upload(v, act(), {n, nkv, hd}), k_cache, v_cache,
                       UploadI32({3, 0, 2}, {n})};
  ASSERT_TRUE(backend().WriteKvCache(p, stream()).ok());
  const std::vector<float> got_k = Download(k_cache);
  const std::vector<float> got_v = Download(v_cache);
  const int32_t slot_of[] = {3, 0, 2};
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t e = 0; e < row; ++e) {
      const int64_t at = slot_of[i] * row + e;
      const uint16_t want_k = F32ToBf16(k[i * row + e]);
      const uint16_t want_v = F32ToBf16(v[i * row + e]);
      EXPECT_EQ(F32ToBf16(got_k[at]), want_k) << "k token " << i << " @" << e;
      EXPECT_EQ(F32ToBf16(got_v[at]), want_v) << "v token " << i << " @" << e;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllBackends, AttentionTest,
                         ::testing::ValuesIn(AllBackendCases()),
                         BackendCaseName);

}  // namespace
}  // namespace infernum::kernels::testing
