// The load loop of `infernum bench serve`: request arrivals and the
// in-flight limit, independent of the transport.
#pragma once

#include <cstdint>
#include <vector>

#include "cli/bench_serve_clients.h"
#include "cli/bench_serve_stats.h"

namespace infernum::cli {

struct LoadParams {
  int max_concurrency = 0;  // 0 = unlimited.
  double request_rate = 0;  // Requests/s, Poisson arrivals; <= 0 or inf = all
                            // at once.
  uint64_t seed = 0;        // For the arrival times.
};

// `num` random prompts of `len` token ids drawn uniformly from [3, vocab).
std::vector<std::vector<int32_t>> RandomPrompts(int num, int len, int32_t vocab,
                                                uint64_t seed);

// Sends prompts[i] as request i through `client`, in order, each at its
// arrival time or, at the concurrency limit, once a request in flight
// finished (one thread per request in flight; threads are reused); waits
// for all, and summarizes. Never throws; failed requests are
// counted in the summary.
LoadSummary RunLoad(ServeClient& client,
                    const std::vector<std::vector<int32_t>>& prompts,
                    const LoadParams& params);

}  // namespace infernum::cli
