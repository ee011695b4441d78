#include "worker/sampling/philox.h"

#include <cmath>
#include <set>

#include "gtest/gtest.h"

namespace infernum::worker {
namespace {

// Known-answer vectors published with the Random123 library
// (tests/kat_vectors, "philox4x32 10" lines): counter, key -> output.
TEST(PhiloxTest, MatchesRandom123KnownAnswers) {
  EXPECT_EQ(Philox4x32({0, 0, 0, 0}, {0, 0}),
            (PhiloxCounter{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(Philox4x32({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
                       {0xffffffff, 0xffffffff}),
            (PhiloxCounter{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(Philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
                       {0xa4093822, 0x299f31d0}),
            (PhiloxCounter{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(PhiloxTest, UniformCoversUnitInterval) {
  EXPECT_EQ(UniformFromWords(0, 0), 0.0);
  const double top = UniformFromWords(0xffffffff, 0xffffffff);
  EXPECT_LT(top, 1.0);
  EXPECT_NEAR(top, 1.0, 1e-15);
  EXPECT_EQ(UniformFromWords(0x80000000, 0), 0.5);
}

TEST(PhiloxTest, UniformMomentsFromConsecutiveCounters) {
  // Mean 1/2 and variance 1/12; 1e5 samples give standard errors ~1e-3.
  constexpr int kN = 100000;
  double sum = 0.0, sum_sq = 0.0;
  for (uint32_t i = 0; i < kN; ++i) {
    const PhiloxCounter c = Philox4x32({i, 0, 0, 0}, {42, 0});
    const double u = UniformFromWords(c[0], c[1]);
    sum += u;
    sum_sq += u * u;
  }
  const double mean = sum / kN;
  EXPECT_NEAR(mean, 0.5, 5 * std::sqrt(1.0 / 12 / kN));
  EXPECT_NEAR(sum_sq / kN - mean * mean, 1.0 / 12, 5e-3);
}

}  // namespace
}  // namespace infernum::worker
