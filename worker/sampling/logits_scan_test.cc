// CheckLogits and ArgMax (vectorized scans) against plain loops over random
// logits with ties, -inf, NaN and +inf anywhere, at lengths around the vector
// width.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "worker/sampling/logits_processor.h"

namespace infernum::worker::sampling_internal {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

int32_t NaiveArgMax(const std::vector<float>& v) {
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i) {
    if (v[i] > v[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

bool NaiveValid(const std::vector<float>& v) {
  bool any_finite = false;
  for (float x : v) {
    if (std::isnan(x) || x == kInf) return false;
    any_finite |= x != -kInf;
  }
  return !v.empty() && any_finite;
}

TEST(LogitsScanTest, MatchesPlainLoops) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 3000; ++trial) {
    const size_t n = 1 + rng() % 41;
    std::vector<float> v(n);
    // Few distinct values so that ties are common; signed zeros included.
    for (float& x : v) {
      const int r = static_cast<int>(rng() % 8);
      x = r == 0 ? -kInf : r == 1 ? -0.0f : r == 2 ? 0.0f : (r % 4) - 1.5f;
    }
    if (trial % 5 == 0) v[rng() % n] = trial % 2 ? NAN : kInf;
    if (trial % 7 == 0) std::fill(v.begin(), v.end(), -kInf);
    const bool valid = NaiveValid(v);
    EXPECT_EQ(CheckLogits(v).ok(), valid) << "trial " << trial;
    if (valid) EXPECT_EQ(ArgMax(v), NaiveArgMax(v)) << "trial " << trial;
  }
}

TEST(LogitsScanTest, ErrorNamesTheFirstBadLogit) {
  std::vector<float> v(37, 1.0f);
  v[9] = kInf;
  v[21] = NAN;
  const absl::Status st = CheckLogits(v);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("logits[9]"), std::string::npos) << st;
}

}  // namespace
}  // namespace infernum::worker::sampling_internal
