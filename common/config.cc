#include "common/config.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace infernum {
namespace {

template <typename T>
absl::StatusOr<T> GetScalar(const YAML::Node& node, const std::string& key,
                            const T& fallback, const char* what) {
  const YAML::Node value = node[key];
  if (!value.IsDefined() || value.IsNull()) return fallback;
  if (!value.IsScalar()) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": expected ", what));
  }
  T out;
  if (!YAML::convert<T>::decode(value, out)) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": expected ", what, ", got '", value.Scalar(), "'"));
  }
  return out;
}

}  // namespace

absl::StatusOr<YAML::Node> ParseYaml(const std::string& text) {
  YAML::Node root;
  try {  // yaml-cpp reports parse errors by exception; contain them here.
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid YAML: ", e.what()));
  }
  if (root.IsNull()) return YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap())
    return absl::InvalidArgumentError("YAML top level must be a mapping");
  return root;
}

absl::StatusOr<YAML::Node> LoadYamlFile(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  auto parsed = ParseYaml(ss.str());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", parsed.status().message()));
  }
  return parsed;
}

absl::StatusOr<std::string> GetString(const YAML::Node& node,
                                      const std::string& key,
                                      const std::string& fallback) {
  return GetScalar<std::string>(node, key, fallback, "a string");
}
absl::StatusOr<int64_t> GetInt(const YAML::Node& node, const std::string& key,
                               int64_t fallback) {
  return GetScalar<int64_t>(node, key, fallback, "an integer");
}
absl::StatusOr<double> GetDouble(const YAML::Node& node, const std::string& key,
                                 double fallback) {
  return GetScalar<double>(node, key, fallback, "a number");
}
absl::StatusOr<bool> GetBool(const YAML::Node& node, const std::string& key,
                             bool fallback) {
  return GetScalar<bool>(node, key, fallback, "true or false");
}

absl::StatusOr<std::vector<std::string>> GetStringList(const YAML::Node& node,
                                                       const std::string& key) {
  std::vector<std::string> out;
  const YAML::Node value = node[key];
  if (!value.IsDefined() || value.IsNull()) return out;
  if (!value.IsSequence()) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": expected a list"));
  }
  for (const auto& item : value) {
    if (!item.IsScalar()) {
      return absl::InvalidArgumentError(
          absl::StrCat(key, ": expected a list of strings"));
    }
    out.push_back(item.Scalar());
  }
  return out;
}

}  // namespace infernum
