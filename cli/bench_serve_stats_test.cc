#include "cli/bench_serve_stats.h"

#include <gtest/gtest.h>

namespace infernum::cli {
namespace {

TEST(PercentileTest, InterpolatesLikeNumpyLinear) {
  // numpy.percentile([4, 1, 3, 2], q) with the default linear method.
  const std::vector<double> v = {4, 1, 3, 2};
  EXPECT_DOUBLE_EQ(Percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(Percentile(v, 50), 2.5);
  EXPECT_DOUBLE_EQ(Percentile(v, 99), 3.97);
  EXPECT_DOUBLE_EQ(Percentile(v, 100), 4);
  EXPECT_DOUBLE_EQ(Percentile({}, 50), 0);
}

TEST(SummarizeTest, CountsFailuresAndExcludesThemFromLatency) {
  RequestResult a{.ok = true,
                  .ttft_s = 0.1,
                  .e2e_s = 0.5,
                  .output_tokens = 5,
                  .itl_s = {0.1, 0.1, 0.1, 0.1}};
  RequestResult b{.ok = true, .ttft_s = 0.3, .e2e_s = 0.3, .output_tokens = 1};
  RequestResult bad{
      .ok = false, .error = "connection refused", .ttft_s = 9, .e2e_s = 9};
  LoadSummary s = Summarize({a, bad, b}, 2.0);
  EXPECT_EQ(s.completed, 2);
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(s.first_error, "connection refused");
  EXPECT_EQ(s.output_tokens, 6);
  EXPECT_DOUBLE_EQ(s.request_throughput, 1.0);
  EXPECT_DOUBLE_EQ(s.output_throughput, 3.0);
  EXPECT_NEAR(s.ttft.mean_ms, 200, 1e-9);
  EXPECT_NEAR(s.e2e.p50_ms, 400, 1e-9);
  EXPECT_NEAR(s.tpot.mean_ms, 100, 1e-9);  // Only `a` has > 1 token.
  EXPECT_NEAR(s.itl.p99_ms, 100, 1e-9);
}

}  // namespace
}  // namespace infernum::cli
