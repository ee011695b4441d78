#include "cli/bench_serve_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace infernum::cli {

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = std::clamp(q, 0.0, 100.0) / 100.0 *
                      static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  const double frac = rank - static_cast<double>(lo);
  return values[lo] + (values[hi] - values[lo]) * frac;
}

LatencyStats ComputeLatency(const std::vector<double>& seconds) {
  LatencyStats s;
  if (seconds.empty()) return s;
  const double sum = std::accumulate(seconds.begin(), seconds.end(), 0.0);
  s.mean_ms = 1e3 * sum / static_cast<double>(seconds.size());
  s.p50_ms = 1e3 * Percentile(seconds, 50);
  s.p99_ms = 1e3 * Percentile(seconds, 99);
  return s;
}

LoadSummary Summarize(const std::vector<RequestResult>& results,
                      double duration_s) {
  LoadSummary s;
  s.duration_s = duration_s;
  std::vector<double> ttft, tpot, itl, e2e;
  for (const RequestResult& r : results) {
    if (!r.ok) {
      ++s.failed;
      if (s.first_error.empty()) s.first_error = r.error;
      continue;
    }
    ++s.completed;
    s.output_tokens += r.output_tokens;
    ttft.push_back(r.ttft_s);
    e2e.push_back(r.e2e_s);
    itl.insert(itl.end(), r.itl_s.begin(), r.itl_s.end());
    if (r.output_tokens > 1) {
      tpot.push_back((r.e2e_s - r.ttft_s) /
                     static_cast<double>(r.output_tokens - 1));
    }
  }
  if (duration_s > 0) {
    s.request_throughput = static_cast<double>(s.completed) / duration_s;
    s.output_throughput = static_cast<double>(s.output_tokens) / duration_s;
  }
  s.ttft = ComputeLatency(ttft);
  s.tpot = ComputeLatency(tpot);
  s.itl = ComputeLatency(itl);
  s.e2e = ComputeLatency(e2e);
  return s;
}

}  // namespace infernum::cli
