#include "router/server/config.h"

#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/config.h"
#include "common/status.h"
#include "router/server/config_models.h"

namespace infernum::router {
namespace {

using cli::FlagType;
using config_internal::CheckKnownKeys;
using config_internal::ParseModels;
using config_internal::ValidateModel;
using config_internal::ValidateTargets;

// Scalar settings shared by the YAML file and the flags (flag name = key with
// dashes). Tables keep the two parsers and the key list in step.
struct DoubleField {
  const char* key;
  double RouterConfig::*member;
  const char* help;
};
struct IntField {  // Narrowed into `int` after a range check.
  const char* key;
  int RouterConfig::*member;
  int64_t min, max;
  const char* help;
};
struct Int64Field {
  const char* key;
  int64_t RouterConfig::*member;
  const char* help;
};
struct BoolField {
  const char* key;
  bool RouterConfig::*member;
  const char* help;
};
struct StringField {
  const char* key;
  std::string RouterConfig::*member;
  const char* help;
};

constexpr DoubleField kDoubleFields[] = {
    {"request_timeout_s", &RouterConfig::request_timeout_s,
     "per-request deadline, seconds"},
    {"refresh_interval_s", &RouterConfig::refresh_interval_s,
     "worker health / load poll period"},
    {"model_info_timeout_s", &RouterConfig::model_info_timeout_s,
     "GetModelInfo deadline"},
    {"discovery_interval_s", &RouterConfig::discovery_interval_s,
     "DNS re-resolution period"},
    {"eject_backoff_initial_s", &RouterConfig::eject_backoff_initial_s,
     "first probe delay of an ejected worker"},
    {"eject_backoff_max_s", &RouterConfig::eject_backoff_max_s,
     "longest probe delay of an ejected worker"},
    {"stall_timeout_s", &RouterConfig::stall_timeout_s,
     "silence on a started stream that counts as a worker failure"},
    {"queue_timeout_s", &RouterConfig::queue_timeout_s,
     "longest wait for an admission slot (then 429)"},
    {"shutdown_grace_s", &RouterConfig::shutdown_grace_s,
     "SIGTERM: time open streams get to finish"},
};
constexpr IntField kIntFields[] = {
    {"http_threads", &RouterConfig::http_threads, 1, 100000,
     "HTTP worker threads"},
    {"max_worker_attempts", &RouterConfig::max_worker_attempts, 1, 100,
     "tries per sequence before its first token"},
    {"max_migrations", &RouterConfig::max_migrations, 0, 100,
     "resumes per sequence after tokens were streamed"},
};
constexpr Int64Field kInt64Fields[] = {
    {"max_body_bytes", &RouterConfig::max_body_bytes,
     "request body limit (413 above)"},
    {"max_tokens_cap", &RouterConfig::max_tokens_cap,
     "upper bound on max_tokens (0=none)"},
    {"max_concurrent_requests", &RouterConfig::max_concurrent_requests,
     "router-wide in-flight generation requests (0=unlimited)"},
    {"max_queued_requests", &RouterConfig::max_queued_requests,
     "requests waiting for a slot (past it: 429)"},
};
constexpr BoolField kBoolFields[] = {
    {"metrics_require_auth", &RouterConfig::metrics_require_auth,
     "/metrics needs the API key too"},
    {"access_log", &RouterConfig::access_log, "JSON access log on stderr"},
};
constexpr StringField kStringFields[] = {
    {"system_fingerprint", &RouterConfig::system_fingerprint,
     "system_fingerprint value"},
    {"policy", &RouterConfig::policy,
     "default routing policy: round_robin | least_load | prefix_aware"},
    {"api_key_env", &RouterConfig::api_key_env,
     "env var with comma-separated API keys"},
};

std::string FlagName(const char* key) {
  return absl::StrReplaceAll(key, {{"_", "-"}});
}

const std::set<std::string>& KnownYamlKeys() {
  static const auto* const kKeys = [] {
    auto* keys =
        new std::set<std::string>{"listen", "workers", "models", "api_keys"};
    for (const auto& f : kDoubleFields) keys->insert(f.key);
    for (const auto& f : kIntFields) keys->insert(f.key);
    for (const auto& f : kInt64Fields) keys->insert(f.key);
    for (const auto& f : kBoolFields) keys->insert(f.key);
    for (const auto& f : kStringFields) keys->insert(f.key);
    return keys;
  }();
  return *kKeys;
}

std::vector<std::string> SplitList(std::string_view list) {
  std::vector<std::string> out;
  for (absl::string_view part :
       absl::StrSplit(absl::string_view(list.data(), list.size()), ',',
                      absl::SkipWhitespace())) {
    out.emplace_back(absl::StripAsciiWhitespace(part));
  }
  return out;
}

absl::Status CheckIntRange(const IntField& f, int64_t value) {
  if (value < f.min || value > f.max) {
    return absl::InvalidArgumentError(absl::StrCat(
        f.key, " must be in [", f.min, ", ", f.max, "], got ", value));
  }
  return absl::OkStatus();
}

absl::Status ApplyYamlScalars(const YAML::Node& root, RouterConfig* c) {
  for (const auto& f : kDoubleFields) {
    ASSIGN_OR_RETURN(c->*f.member, GetDouble(root, f.key, c->*f.member));
  }
  for (const auto& f : kIntFields) {
    ASSIGN_OR_RETURN(int64_t v, GetInt(root, f.key, c->*f.member));
    RETURN_IF_ERROR(CheckIntRange(f, v));
    c->*f.member = static_cast<int>(v);
  }
  for (const auto& f : kInt64Fields) {
    ASSIGN_OR_RETURN(c->*f.member, GetInt(root, f.key, c->*f.member));
  }
  for (const auto& f : kBoolFields) {
    ASSIGN_OR_RETURN(c->*f.member, GetBool(root, f.key, c->*f.member));
  }
  for (const auto& f : kStringFields) {
    ASSIGN_OR_RETURN(c->*f.member, GetString(root, f.key, c->*f.member));
  }
  return absl::OkStatus();
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

bool IsKnownPolicy(std::string_view name) {
  return name == kPolicyRoundRobin || name == kPolicyLeastLoad ||
         name == kPolicyPrefixAware;
}

std::string EffectivePolicy(const RouterConfig& config,
                            const ModelPoolConfig* model) {
  if (model != nullptr && !model->policy.empty()) return model->policy;
  return config.policy;
}

std::vector<std::string> MergeApiKeys(const RouterConfig& config,
                                      const char* env_value) {
  std::vector<std::string> all = config.api_keys;
  if (env_value != nullptr) {
    for (std::string& k : SplitList(env_value)) all.push_back(std::move(k));
  }
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (std::string& k : all) {
    if (!k.empty() && seen.insert(k).second) out.push_back(std::move(k));
  }
  return out;
}

std::vector<cli::FlagSpec> RouterFlagSpecs() {
  std::vector<cli::FlagSpec> specs = {
      {"config", FlagType::kString, "YAML settings file (flags override it)"},
      {"listen", FlagType::kString, "HTTP listen address HOST:PORT"},
      {"workers", FlagType::kString, "comma-separated worker host:port list"},
      {"api-keys", FlagType::kString, "comma-separated Bearer API keys"},
  };
  for (const auto& f : kDoubleFields) {
    specs.push_back({FlagName(f.key), FlagType::kFloat, f.help});
  }
  for (const auto& f : kIntFields) {
    specs.push_back({FlagName(f.key), FlagType::kInt, f.help});
  }
  for (const auto& f : kInt64Fields) {
    specs.push_back({FlagName(f.key), FlagType::kInt, f.help});
  }
  for (const auto& f : kBoolFields) {
    specs.push_back({FlagName(f.key), FlagType::kBool, f.help});
  }
  for (const auto& f : kStringFields) {
    specs.push_back({FlagName(f.key), FlagType::kString, f.help});
  }
  specs.push_back({"help", FlagType::kBool, "print this help", "h"});
  return specs;
}

absl::Status ApplyYaml(const YAML::Node& root, RouterConfig* c) {
  if (!root.IsMap()) {
    return absl::InvalidArgumentError("router config must be a mapping");
  }
  RETURN_IF_ERROR(CheckKnownKeys(root, KnownYamlKeys(), "router config"));
  ASSIGN_OR_RETURN(std::string listen, GetString(root, "listen", ""));
  if (!listen.empty()) {
    ASSIGN_OR_RETURN(c->listen, ParseHostPort(listen));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> workers,
                   GetStringList(root, "workers"));
  if (!workers.empty()) c->workers = std::move(workers);
  ASSIGN_OR_RETURN(std::vector<std::string> keys,
                   GetStringList(root, "api_keys"));
  if (!keys.empty()) c->api_keys = std::move(keys);
  ASSIGN_OR_RETURN(std::vector<ModelPoolConfig> models, ParseModels(root));
  if (!models.empty()) c->models = std::move(models);
  return ApplyYamlScalars(root, c);
}

absl::Status ApplyFlags(const cli::ParsedArgs& a, RouterConfig* c) {
  if (a.Has("listen")) {
    ASSIGN_OR_RETURN(c->listen, ParseHostPort(a.GetString("listen", "")));
  }
  if (a.Has("workers")) c->workers = SplitList(a.GetString("workers", ""));
  if (a.Has("api-keys")) c->api_keys = SplitList(a.GetString("api-keys", ""));
  for (const auto& f : kDoubleFields) {
    c->*f.member = a.GetFloat(FlagName(f.key), c->*f.member);
  }
  for (const auto& f : kIntFields) {
    const int64_t v = a.GetInt(FlagName(f.key), c->*f.member);
    const absl::Status range = CheckIntRange(f, v);
    if (!range.ok())
      return absl::InvalidArgumentError(absl::StrCat("--", range.message()));
    c->*f.member = static_cast<int>(v);
  }
  for (const auto& f : kInt64Fields) {
    c->*f.member = a.GetInt(FlagName(f.key), c->*f.member);
  }
  for (const auto& f : kBoolFields) {
    c->*f.member = a.GetBool(FlagName(f.key), c->*f.member);
  }
  for (const auto& f : kStringFields) {
    c->*f.member = a.GetString(FlagName(f.key), c->*f.member);
  }
  return absl::OkStatus();
}

absl::Status ValidateRouterConfig(const RouterConfig& c) {
  if (c.max_body_bytes < 1) {
    return absl::InvalidArgumentError("max_body_bytes must be >= 1");
  }
  if (c.max_tokens_cap < 0 || c.max_concurrent_requests < 0 ||
      c.max_queued_requests < 0) {
    return absl::InvalidArgumentError(
        "max_tokens_cap, max_concurrent_requests and max_queued_requests "
        "must be >= 0");
  }
  for (const auto& f : kDoubleFields) {
    const double v = c.*f.member;
    const bool zero_ok = f.member == &RouterConfig::shutdown_grace_s;
    if (!(zero_ok ? v >= 0 : v > 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          f.key, " must be ", zero_ok ? ">= 0" : "> 0", ", got ", v));
    }
  }
  if (c.eject_backoff_max_s < c.eject_backoff_initial_s) {
    return absl::InvalidArgumentError(
        "eject_backoff_max_s must be >= eject_backoff_initial_s");
  }
  if (!IsKnownPolicy(c.policy)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown policy '", c.policy,
                     "' (expected round_robin, least_load or prefix_aware)"));
  }
  RETURN_IF_ERROR(ValidateTargets(c.workers, "workers"));
  std::set<std::string> names;
  for (const ModelPoolConfig& m : c.models) {
    if (m.name.empty()) {
      return absl::InvalidArgumentError("every models entry needs a name");
    }
    if (!names.insert(m.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("model '", m.name, "' is listed twice"));
    }
    RETURN_IF_ERROR(ValidateModel(c, m));
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
