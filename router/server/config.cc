#include "router/server/config.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/config.h"
#include "common/status.h"

namespace infernum::router {
namespace {

using cli::FlagType;

const std::set<std::string>& KnownYamlKeys() {
  static const auto* const kKeys =
      new std::set<std::string>{"listen",
                                "workers",
                                "max_body_bytes",
                                "max_tokens_cap",
                                "request_timeout_s",
                                "refresh_interval_s",
                                "model_info_timeout_s",
                                "http_threads",
                                "max_worker_attempts",
                                "system_fingerprint"};
  return *kKeys;
}

absl::Status CheckKnownKeys(const YAML::Node& root) {
  try {  // yaml-cpp throws on non-scalar keys; contain it here.
    for (const auto& kv : root) {
      const std::string key = kv.first.as<std::string>();
      if (KnownYamlKeys().count(key) == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown router config key '", key, "'"));
      }
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid router config: ", e.what()));
  }
  return absl::OkStatus();
}

std::vector<std::string> SplitWorkers(std::string_view list) {
  std::vector<std::string> out;
  for (absl::string_view part :
       absl::StrSplit(absl::string_view(list.data(), list.size()), ',',
                      absl::SkipWhitespace())) {
    out.emplace_back(absl::StripAsciiWhitespace(part));
  }
  return out;
}

}  // namespace

absl::StatusOr<HostPort> ParseHostPort(std::string_view text) {
  const std::string shown(text);
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected HOST:PORT, got '", shown, "'"));
  }
  HostPort out;
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "IPv6 addresses need brackets ([::1]:8000), got '", shown, "'"));
  }
  out.host = host.empty() ? "0.0.0.0" : std::string(host);
  const std::string port(text.substr(colon + 1));
  if (!absl::SimpleAtoi(port, &out.port) || out.port < 0 || out.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid port in '", shown, "'"));
  }
  return out;
}

std::vector<cli::FlagSpec> RouterFlagSpecs() {
  return {
      {"config", FlagType::kString, "YAML settings file (flags override it)"},
      {"listen", FlagType::kString, "HTTP listen address HOST:PORT"},
      {"workers", FlagType::kString, "comma-separated worker host:port list"},
      {"max-body-bytes", FlagType::kInt, "request body limit (413 above)"},
      {"max-tokens-cap", FlagType::kInt, "upper bound on max_tokens (0=none)"},
      {"request-timeout-s", FlagType::kFloat, "per-request deadline, seconds"},
      {"refresh-interval-s", FlagType::kFloat, "worker health poll period"},
      {"model-info-timeout-s", FlagType::kFloat, "GetModelInfo deadline"},
      {"http-threads", FlagType::kInt, "HTTP worker threads"},
      {"max-worker-attempts", FlagType::kInt, "tries per sequence"},
      {"system-fingerprint", FlagType::kString, "system_fingerprint value"},
      {"help", FlagType::kBool, "print this help", "h"},
  };
}

absl::Status ApplyYaml(const YAML::Node& root, RouterConfig* c) {
  RETURN_IF_ERROR(CheckKnownKeys(root));
  ASSIGN_OR_RETURN(std::string listen, GetString(root, "listen", ""));
  if (!listen.empty()) {
    ASSIGN_OR_RETURN(c->listen, ParseHostPort(listen));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> workers,
                   GetStringList(root, "workers"));
  if (!workers.empty()) c->workers = std::move(workers);
  ASSIGN_OR_RETURN(c->max_body_bytes,
                   GetInt(root, "max_body_bytes", c->max_body_bytes));
  ASSIGN_OR_RETURN(c->max_tokens_cap,
                   GetInt(root, "max_tokens_cap", c->max_tokens_cap));
  ASSIGN_OR_RETURN(c->request_timeout_s,
                   GetDouble(root, "request_timeout_s", c->request_timeout_s));
  ASSIGN_OR_RETURN(c->refresh_interval_s, GetDouble(root, "refresh_interval_s",
                                                    c->refresh_interval_s));
  ASSIGN_OR_RETURN(
      c->model_info_timeout_s,
      GetDouble(root, "model_info_timeout_s", c->model_info_timeout_s));
  ASSIGN_OR_RETURN(int64_t threads,
                   GetInt(root, "http_threads", c->http_threads));
  ASSIGN_OR_RETURN(int64_t attempts,
                   GetInt(root, "max_worker_attempts", c->max_worker_attempts));
  if (threads < 1 || threads > 100000 || attempts < 1 || attempts > 100) {
    return absl::InvalidArgumentError(
        "http_threads must be in [1, 100000], max_worker_attempts in [1, 100]");
  }
  c->http_threads = static_cast<int>(threads);
  c->max_worker_attempts = static_cast<int>(attempts);
  ASSIGN_OR_RETURN(c->system_fingerprint, GetString(root, "system_fingerprint",
                                                    c->system_fingerprint));
  return absl::OkStatus();
}

absl::Status ApplyFlags(const cli::ParsedArgs& a, RouterConfig* c) {
  if (a.Has("listen")) {
    ASSIGN_OR_RETURN(c->listen, ParseHostPort(a.GetString("listen", "")));
  }
  if (a.Has("workers")) {
    c->workers = SplitWorkers(a.GetString("workers", ""));
  }
  c->max_body_bytes = a.GetInt("max-body-bytes", c->max_body_bytes);
  c->max_tokens_cap = a.GetInt("max-tokens-cap", c->max_tokens_cap);
  c->request_timeout_s = a.GetFloat("request-timeout-s", c->request_timeout_s);
  c->refresh_interval_s =
      a.GetFloat("refresh-interval-s", c->refresh_interval_s);
  c->model_info_timeout_s =
      a.GetFloat("model-info-timeout-s", c->model_info_timeout_s);
  const int64_t threads = a.GetInt("http-threads", c->http_threads);
  const int64_t attempts =
      a.GetInt("max-worker-attempts", c->max_worker_attempts);
  if (threads < 1 || threads > 100000 || attempts < 1 || attempts > 100) {
    return absl::InvalidArgumentError(
        "--http-threads must be in [1, 100000], --max-worker-attempts in "
        "[1, 100]");
  }
  c->http_threads = static_cast<int>(threads);
  c->max_worker_attempts = static_cast<int>(attempts);
  c->system_fingerprint =
      a.GetString("system-fingerprint", c->system_fingerprint);
  return absl::OkStatus();
}

absl::Status ValidateRouterConfig(const RouterConfig& c) {
  if (c.max_body_bytes < 1) {
    return absl::InvalidArgumentError("max_body_bytes must be >= 1");
  }
  if (c.max_tokens_cap < 0) {
    return absl::InvalidArgumentError("max_tokens_cap must be >= 0");
  }
  if (!(c.request_timeout_s > 0) || !(c.refresh_interval_s > 0) ||
      !(c.model_info_timeout_s > 0)) {
    return absl::InvalidArgumentError(
        "request_timeout_s, refresh_interval_s and model_info_timeout_s must "
        "be > 0");
  }
  for (const std::string& w : c.workers) {
    ASSIGN_OR_RETURN(HostPort hp, ParseHostPort(w));
    if (hp.port == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("worker '", w, "' needs a non-zero port"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<RouterConfig> LoadRouterConfig(
    const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(cli::ParsedArgs parsed,
                   cli::ParseArgs(args, RouterFlagSpecs()));
  if (!parsed.positional().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", parsed.positional()[0], "'"));
  }
  RouterConfig config;
  if (parsed.Has("config")) {
    ASSIGN_OR_RETURN(YAML::Node root,
                     LoadYamlFile(parsed.GetString("config", "")));
    RETURN_IF_ERROR(ApplyYaml(root, &config));
  }
  RETURN_IF_ERROR(ApplyFlags(parsed, &config));
  RETURN_IF_ERROR(ValidateRouterConfig(config));
  return config;
}

}  // namespace infernum::router
