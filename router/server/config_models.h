// Internal to router/server/config.cc: parsing and validation of the
// `models:` entries of router.yaml. Not for other callers.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "router/server/config.h"
#include "yaml-cpp/yaml.h"

namespace infernum::router::config_internal {

// InvalidArgument naming the first key of `node` (a mapping) not in `known`;
// `where` names the mapping in the message.
absl::Status CheckKnownKeys(const YAML::Node& node,
                            const std::set<std::string>& known,
                            const std::string& where);

// The `models:` list of `root` (empty when absent); errors name the entry.
absl::StatusOr<std::vector<ModelPoolConfig>> ParseModels(
    const YAML::Node& root);

// Every target is HOST:PORT with a non-zero port.
absl::Status ValidateTargets(const std::vector<std::string>& targets,
                             const std::string& where);

// One model entry: targets, dns, policy and limits in range.
absl::Status ValidateModel(const RouterConfig& config,
                           const ModelPoolConfig& model);

}  // namespace infernum::router::config_internal
