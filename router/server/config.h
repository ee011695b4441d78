// infernum-router settings: a YAML file (--config) overridden by flags.
//
// router.yaml (every key optional; unknown keys are an error):
//   listen: 0.0.0.0:8000          # HOST:PORT of the HTTP server
//   workers: [10.0.0.1:50051, 10.0.0.2:50051]   # gRPC workers (host:port)
//   max_body_bytes: 4194304       # larger request bodies get 413
//   max_tokens_cap: 0             # upper bound on max_tokens (0 = context
//   only) request_timeout_s: 600        # deadline of one request's Generate
//   streams refresh_interval_s: 5         # worker health / model info poll
//   period model_info_timeout_s: 60      # deadline of one GetModelInfo call
//   http_threads: 128             # concurrent HTTP connections served
//   max_worker_attempts: 3        # tries per sequence when a worker is down
//   system_fingerprint: fp_infernum
//
// Flags (same names, with dashes): --listen, --workers a:1,b:2,
// --max-body-bytes, --max-tokens-cap, --request-timeout-s,
// --refresh-interval-s, --model-info-timeout-s, --http-threads,
// --max-worker-attempts, --system-fingerprint, and --config FILE.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/args.h"
#include "yaml-cpp/yaml.h"

namespace infernum::router {

struct HostPort {
  std::string host;  // Without brackets for IPv6 ("::1").
  int port = 0;      // 0..65535 (0 = any free port, for tests).
};

// Parses "host:port", "[v6addr]:port" or ":port" (host "0.0.0.0").
absl::StatusOr<HostPort> ParseHostPort(std::string_view text);

struct RouterConfig {
  HostPort listen{"0.0.0.0", 8000};
  std::vector<std::string> workers;  // "host:port" gRPC targets.
  int64_t max_body_bytes = int64_t{4} << 20;
  int64_t max_tokens_cap = 0;  // 0 = no cap beyond the model context.
  double request_timeout_s = 600;
  double refresh_interval_s = 5;
  double model_info_timeout_s = 60;
  int http_threads = 128;
  int max_worker_attempts = 3;
  std::string system_fingerprint = "fp_infernum";
};

// The flags infernum-router accepts (for parsing and --help).
std::vector<cli::FlagSpec> RouterFlagSpecs();

// Reads the settings present in `root` (a YAML mapping) into `*config`.
absl::Status ApplyYaml(const YAML::Node& root, RouterConfig* config);

// Applies the flags present in `args` to `*config` (file values first, then
// these overrides).
absl::Status ApplyFlags(const cli::ParsedArgs& args, RouterConfig* config);

// Range checks (positive limits, valid worker addresses).
absl::Status ValidateRouterConfig(const RouterConfig& config);

// Full pipeline for main(): parses `args` (argv without the program name),
// loads --config if given, applies flag overrides, validates.
absl::StatusOr<RouterConfig> LoadRouterConfig(
    const std::vector<std::string>& args);

}  // namespace infernum::router
