// infernum bench serve: an online serving load generator (like `vllm bench
// serve`). Sends --num-prompts streamed completions with random token-id
// prompts to a router (--url, OpenAI /v1/completions over SSE) or straight
// to a worker (--grpc, infernum.v1.Worker/Generate), with at most
// --concurrency in flight and/or Poisson arrivals at --request-rate, and
// reports throughput and TTFT / TPOT / ITL / E2E latency percentiles. With
// --url and --compare-grpc it runs the same load against both and prints the
// router's overhead. --dataset shared-prefix sends a few long system prompts
// shared by many requests (bench_serve_workload.h); --metrics-url reads the
// workers' /metrics around each run and reports the prefill tokens they
// actually computed (prompt tokens - prefix cache hits).
#pragma once

#include <string>
#include <vector>

namespace infernum::cli {

// Arguments after "bench serve". Returns 0 when at least one request
// completed, 1 when none did or the target is unusable, 2 for bad flags
// (after one line on stderr).
int BenchServeMain(const std::vector<std::string>& args);

}  // namespace infernum::cli
