// YAML configuration loading (yaml-cpp). Components read their settings from
// a YAML mapping; command-line flags override file values (see worker/router).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "yaml-cpp/yaml.h"

namespace infernum {

// Parses a YAML file. NotFound if it cannot be read, InvalidArgument with the
// line number if it does not parse or its top level is not a mapping.
absl::StatusOr<YAML::Node> LoadYamlFile(const std::string& path);
absl::StatusOr<YAML::Node> ParseYaml(const std::string& text);

// Typed field access with clear errors. Each returns `fallback` when `key` is
// absent and InvalidArgument ("key: expected an integer, got 'abc'") when the
// value has the wrong type.
absl::StatusOr<std::string> GetString(const YAML::Node& node,
                                      const std::string& key,
                                      const std::string& fallback);
absl::StatusOr<int64_t> GetInt(const YAML::Node& node, const std::string& key,
                               int64_t fallback);
absl::StatusOr<double> GetDouble(const YAML::Node& node, const std::string& key,
                                 double fallback);
absl::StatusOr<bool> GetBool(const YAML::Node& node, const std::string& key,
                             bool fallback);
absl::StatusOr<std::vector<std::string>> GetStringList(const YAML::Node& node,
                                                       const std::string& key);

}  // namespace infernum
