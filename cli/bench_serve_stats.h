// Per-request measurements of `infernum bench serve` and their aggregation
// into throughput and latency percentiles (like `vllm bench serve`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace infernum::cli {

// What one streamed request measured. Times are seconds from sending it.
struct RequestResult {
  bool ok = false;
  std::string error;          // Why it failed; empty when ok.
  double ttft_s = 0;          // Until the first streamed token / chunk.
  double e2e_s = 0;           // Until the stream ended.
  int64_t output_tokens = 0;  // Tokens generated (usage / final count).
  std::vector<double> itl_s;  // Gaps between successive streamed chunks.
};

// Mean / median / 99th percentile of one latency, in milliseconds.
struct LatencyStats {
  double mean_ms = 0;
  double p50_ms = 0;
  double p99_ms = 0;
};

// Aggregate of one load run.
struct LoadSummary {
  int64_t completed = 0;
  int64_t failed = 0;
  double duration_s = 0;
  int64_t output_tokens = 0;
  double request_throughput = 0;  // Completed requests per second.
  double output_throughput = 0;   // Output tokens per second.
  LatencyStats ttft, tpot, itl, e2e;
  std::string first_error;  // First failure's message, for the report.
};

// Linear-interpolated percentile (q in [0, 100]) of `values`; 0 if empty.
// Does not require `values` to be sorted.
double Percentile(std::vector<double> values, double q);

// Mean / p50 / p99 of `seconds`, converted to milliseconds.
LatencyStats ComputeLatency(const std::vector<double>& seconds);

// Aggregates `results` of a run that took `duration_s` wall seconds. Only
// successful requests enter the latency and throughput figures. TPOT is
// (e2e - ttft) / (tokens - 1) per request with more than one token.
LoadSummary Summarize(const std::vector<RequestResult>& results,
                      double duration_s);

}  // namespace infernum::cli
