#include "router/server/config_models.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "common/status.h"

namespace infernum::router::config_internal {
namespace {

absl::StatusOr<PrefixAwareConfig> ParsePrefixAware(const YAML::Node& node,
                                                   PrefixAwareConfig out) {
  if (!node.IsDefined() || node.IsNull()) return out;
  if (!node.IsMap()) {
    return absl::InvalidArgumentError("prefix_aware: expected a mapping");
  }
  RETURN_IF_ERROR(
      CheckKnownKeys(node,
                     {"balance_abs_threshold", "balance_rel_threshold",
                      "max_blocks_per_worker"},
                     "prefix_aware"));
  ASSIGN_OR_RETURN(
      out.balance_abs_threshold,
      GetDouble(node, "balance_abs_threshold", out.balance_abs_threshold));
  ASSIGN_OR_RETURN(
      out.balance_rel_threshold,
      GetDouble(node, "balance_rel_threshold", out.balance_rel_threshold));
  ASSIGN_OR_RETURN(
      out.max_blocks_per_worker,
      GetInt(node, "max_blocks_per_worker", out.max_blocks_per_worker));
  return out;
}

absl::StatusOr<ModelPoolConfig> ParseModel(const YAML::Node& node) {
  if (!node.IsMap()) return absl::InvalidArgumentError("expected a mapping");
  RETURN_IF_ERROR(CheckKnownKeys(
      node,
      {"name", "workers", "dns", "policy", "max_concurrent", "prefix_aware"},
      "model"));
  ModelPoolConfig m;
  ASSIGN_OR_RETURN(m.name, GetString(node, "name", ""));
  ASSIGN_OR_RETURN(m.workers, GetStringList(node, "workers"));
  ASSIGN_OR_RETURN(m.dns, GetString(node, "dns", ""));
  ASSIGN_OR_RETURN(m.policy, GetString(node, "policy", ""));
  ASSIGN_OR_RETURN(m.max_concurrent, GetInt(node, "max_concurrent", 0));
  ASSIGN_OR_RETURN(m.prefix_aware,
                   ParsePrefixAware(node["prefix_aware"], m.prefix_aware));
  return m;
}

}  // namespace

absl::StatusOr<std::vector<ModelPoolConfig>> ParseModels(
    const YAML::Node& root) {
  std::vector<ModelPoolConfig> out;
  const YAML::Node models = root["models"];
  if (!models.IsDefined() || models.IsNull()) return out;
  if (!models.IsSequence()) {
    return absl::InvalidArgumentError("models: expected a list of mappings");
  }
  for (size_t i = 0; i < models.size(); ++i) {
    absl::StatusOr<ModelPoolConfig> m = ParseModel(models[i]);
    if (!m.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("models[", i, "]: ", m.status().message()));
    }
    out.push_back(*std::move(m));
  }
  return out;
}

// InvalidArgument naming the first key of `node` (a mapping) not in `known`.
absl::Status CheckKnownKeys(const YAML::Node& node,
                            const std::set<std::string>& known,
                            const std::string& where) {
  try {  // yaml-cpp throws on non-scalar keys; contain it here.
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      if (known.count(key) == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown ", where, " key '", key, "'"));
      }
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ", where, ": ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status ValidateTargets(const std::vector<std::string>& targets,
                             const std::string& where) {
  for (const std::string& w : targets) {
    absl::StatusOr<HostPort> hp = ParseHostPort(w);
    if (!hp.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", hp.status().message()));
    }
    if (hp->port == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": worker '", w, "' needs a non-zero port"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateModel(const RouterConfig& c, const ModelPoolConfig& m) {
  const std::string where = absl::StrCat("model '", m.name, "'");
  if (m.workers.empty() && m.dns.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " needs `workers` or `dns`"));
  }
  RETURN_IF_ERROR(ValidateTargets(m.workers, where));
  if (!m.dns.empty()) {
    RETURN_IF_ERROR(ValidateTargets({m.dns}, absl::StrCat(where, " dns")));
  }
  const std::string policy = EffectivePolicy(c, &m);
  if (!IsKnownPolicy(policy)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": unknown policy '", policy, "'"));
  }
  const PrefixAwareConfig& p = m.prefix_aware;
  if (m.max_concurrent < 0 || !(p.balance_abs_threshold >= 0) ||
      !(p.balance_rel_threshold >= 1) || p.max_blocks_per_worker < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        where,
        ": max_concurrent must be >= 0, balance_abs_threshold >= 0, "
        "balance_rel_threshold >= 1, max_blocks_per_worker >= 1"));
  }
  return absl::OkStatus();
}

}  // namespace infernum::router::config_internal
