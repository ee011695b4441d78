// infernum-router settings: a YAML file (--config) overridden by flags.
//
// router.yaml (every key optional; unknown keys are an error; the full list
// with comments is in router/README.md and docs/cluster-contract.md):
//   listen, workers, max_body_bytes, max_tokens_cap, request_timeout_s,
//   refresh_interval_s, model_info_timeout_s, http_threads,
//   max_worker_attempts, system_fingerprint,
//   models: [{name, workers, dns, policy, max_concurrent,
//             prefix_aware: {balance_abs_threshold, balance_rel_threshold,
//                            max_blocks_per_worker}}],
//   policy, discovery_interval_s, eject_backoff_initial_s,
//   eject_backoff_max_s, stall_timeout_s, max_migrations,
//   max_concurrent_requests, max_queued_requests, queue_timeout_s,
//   api_keys, api_key_env, metrics_require_auth, shutdown_grace_s, access_log
//
// Flags: the scalar keys with dashes (--listen, --workers a:1,b:2,
// --policy, --stall-timeout-s, --api-keys a,b, --access-log /
// --no-access-log, ...) and --config FILE. `models` is file-only.
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

// Routing policy names accepted by `policy` keys.
inline constexpr std::string_view kPolicyRoundRobin = "round_robin";
inline constexpr std::string_view kPolicyLeastLoad = "least_load";
inline constexpr std::string_view kPolicyPrefixAware = "prefix_aware";

// prefix_aware policy knobs. The pool is "imbalanced" when
// (max_load - min_load) > balance_abs_threshold AND
// max_load > balance_rel_threshold * min_load; then the least loaded worker
// wins over the longest cached prefix.
struct PrefixAwareConfig {
  double balance_abs_threshold = 8;
  double balance_rel_threshold = 1.5;
  int64_t max_blocks_per_worker = 65536;  // LRU bound per worker index.
};

// One `models:` entry: a named model and the workers that serve it.
struct ModelPoolConfig {
  std::string name;                  // The request's "model".
  std::vector<std::string> workers;  // Static "host:port" targets.
  std::string dns;     // "name:port" re-resolved every discovery_interval_s.
  std::string policy;  // "" = RouterConfig::policy.
  int64_t max_concurrent = 0;  // In-flight HTTP request limit (0 = none).
  PrefixAwareConfig prefix_aware;
};

struct RouterConfig {
  HostPort listen{"0.0.0.0", 8000};
  std::vector<std::string> workers;  // "host:port" gRPC targets.
  int64_t max_body_bytes = int64_t{4} << 20;
  int64_t max_tokens_cap = 0;  // 0 = no cap beyond the model context.
  double request_timeout_s = 600;
  double refresh_interval_s = 5;
  double model_info_timeout_s = 60;
  int http_threads = 4096;
  int max_worker_attempts = 3;
  std::string system_fingerprint = "fp_infernum";

  // Multi-model pools (may be combined with `workers`).
  std::vector<ModelPoolConfig> models;
  std::string policy = std::string(kPolicyRoundRobin);  // Default policy.
  double discovery_interval_s = 10;    // DNS re-resolution period.
  double eject_backoff_initial_s = 1;  // Circuit breaker: first probe delay,
  double eject_backoff_max_s = 30;     // doubling up to this.
  double stall_timeout_s = 30;  // Silent started stream = worker failure.
  int max_migrations = 3;       // Resumes after streamed tokens, per sequence.
  int64_t max_concurrent_requests = 0;  // Router-wide; 0 = unlimited.
  int64_t max_queued_requests = 0;      // Waiting beyond the limits -> 429.
  double queue_timeout_s = 30;          // Queued longer -> 429.
  std::vector<std::string> api_keys;    // Bearer keys; empty = see env.
  std::string api_key_env = "INFERNUM_API_KEYS";  // Comma-separated keys.
  bool metrics_require_auth = false;
  double shutdown_grace_s = 30;  // SIGTERM: open streams get this long.
  bool access_log = true;        // JSON access log lines on stderr.
};

// True for "round_robin", "least_load" and "prefix_aware".
bool IsKnownPolicy(std::string_view name);

// The policy that applies to `model` ("" = the top-level `workers` pool):
// the model's own policy, else config.policy.
std::string EffectivePolicy(const RouterConfig& config,
                            const ModelPoolConfig* model);

// config.api_keys plus the comma-separated keys in `env_value` (the value of
// the config.api_key_env variable; nullptr when unset), deduplicated in
// first-seen order. Empty result = auth off.
std::vector<std::string> MergeApiKeys(const RouterConfig& config,
                                      const char* env_value);

// The flags infernum-router accepts (for parsing and --help).
std::vector<cli::FlagSpec> RouterFlagSpecs();

// Reads the settings present in `root` (a YAML mapping) into `*config`.
absl::Status ApplyYaml(const YAML::Node& root, RouterConfig* config);

// Applies the flags present in `args` to `*config` (file values first, then
// these overrides).
absl::Status ApplyFlags(const cli::ParsedArgs& args, RouterConfig* config);

// Range checks (positive limits, valid worker addresses, known policies,
// unique non-empty model names, each model with `workers` or `dns`).
absl::Status ValidateRouterConfig(const RouterConfig& config);

// Full pipeline for main(): parses `args` (argv without the program name),
// loads --config if given, applies flag overrides, validates.
absl::StatusOr<RouterConfig> LoadRouterConfig(
    const std::vector<std::string>& args);

}  // namespace infernum::router
