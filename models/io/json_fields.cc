#include "models/io/json_fields.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace infernum::models {

namespace {

// Deepest nesting of arrays/objects in `text` (strings skipped). Deeply
// nested input would overflow the stack in nlohmann's recursive code.
int NestingDepth(std::string_view text) {
  int depth = 0, max_depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

}  // namespace

absl::StatusOr<nlohmann::json> ParseJson(std::string_view text,
                                         std::string_view where) {
  constexpr int kMaxDepth = 64;
  if (NestingDepth(text) > kMaxDepth) {
    return absl::InvalidArgumentError(absl::StrCat(
        ToAbsl(where), ": invalid JSON: nested deeper than ", kMaxDepth));
  }
  try {  // nlohmann reports syntax errors by exception; contain them here.
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(where), ": invalid JSON: ", e.what()));
  }
}

std::string DescribeJson(const nlohmann::json& value) {
  std::string dumped = value.dump(-1, ' ', /*ensure_ascii=*/true,
                                  nlohmann::json::error_handler_t::replace);
  if (dumped.size() > 40) dumped = dumped.substr(0, 37) + "...";
  return absl::StrCat(value.type_name(), " ", dumped);
}

JsonFields::JsonFields(const nlohmann::json& obj, std::string where,
                       std::string prefix)
    : obj_(obj), where_(std::move(where)), prefix_(std::move(prefix)) {}

const nlohmann::json* JsonFields::Get(std::string_view key) const {
  if (!obj_.is_object()) return nullptr;
  auto it = obj_.find(std::string(key));
  if (it == obj_.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::Status JsonFields::Error(std::string_view key,
                               std::string_view message) const {
  return absl::InvalidArgumentError(absl::StrCat(
      where_, ": field '", prefix_, ToAbsl(key), "' ", ToAbsl(message)));
}

absl::Status JsonFields::TypeError(std::string_view key,
                                   std::string_view expected,
                                   const nlohmann::json& got) const {
  return Error(key, absl::StrCat("must be ", ToAbsl(expected), ", got ",
                                 DescribeJson(got)));
}

absl::StatusOr<int32_t> JsonFields::ToInt(std::string_view key,
                                          const nlohmann::json& v) const {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
      return Error(key,
                   absl::StrCat("is out of the 32-bit integer range: ", u));
    }
    return static_cast<int32_t>(u);
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i < std::numeric_limits<int32_t>::min() ||
        i > std::numeric_limits<int32_t>::max()) {
      return Error(key,
                   absl::StrCat("is out of the 32-bit integer range: ", i));
    }
    return static_cast<int32_t>(i);
  }
  return TypeError(key, "an integer", v);
}

absl::Status JsonFields::Read(std::string_view key, int* out) const {
  const nlohmann::json* v = Get(key);
  if (v == nullptr) return absl::OkStatus();
  absl::StatusOr<int32_t> i = ToInt(key, *v);
  if (!i.ok()) return i.status();
  *out = *i;
  return absl::OkStatus();
}

absl::Status JsonFields::Read(std::string_view key,
                              std::optional<int>* out) const {
  if (!obj_.is_object()) return absl::OkStatus();
  auto it = obj_.find(std::string(key));
  if (it == obj_.end()) return absl::OkStatus();
  if (it->is_null()) {
    *out = std::nullopt;
    return absl::OkStatus();
  }
  absl::StatusOr<int32_t> i = ToInt(key, *it);
  if (!i.ok()) return i.status();
  *out = *i;
  return absl::OkStatus();
}

absl::Status JsonFields::Read(std::string_view key, float* out) const {
  const nlohmann::json* v = Get(key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_number()) return TypeError(key, "a number", *v);
  const double d = v->get<double>();
  if (!std::isfinite(d) || std::fabs(d) > std::numeric_limits<float>::max()) {
    return Error(key, absl::StrCat("is not a finite 32-bit float: ", d));
  }
  *out = static_cast<float>(d);
  return absl::OkStatus();
}

absl::Status JsonFields::Read(std::string_view key, bool* out) const {
  const nlohmann::json* v = Get(key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_boolean()) return TypeError(key, "a boolean", *v);
  *out = v->get<bool>();
  return absl::OkStatus();
}

absl::Status JsonFields::Read(std::string_view key, std::string* out) const {
  const nlohmann::json* v = Get(key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_string()) return TypeError(key, "a string", *v);
  *out = v->get<std::string>();
  return absl::OkStatus();
}

absl::Status JsonFields::ReadIntList(std::string_view key,
                                     std::vector<int32_t>* out,
                                     bool* present) const {
  *present = false;
  const nlohmann::json* v = Get(key);
  if (v == nullptr) return absl::OkStatus();
  std::vector<int32_t> ids;
  if (v->is_array()) {
    for (const nlohmann::json& e : *v) {
      if (!e.is_number_integer()) {
        return TypeError(key, "an integer or a list of integers", *v);
      }
      absl::StatusOr<int32_t> i = ToInt(key, e);
      if (!i.ok()) return i.status();
      ids.push_back(*i);
    }
  } else {
    if (!v->is_number_integer())
      return TypeError(key, "an integer or a list of integers", *v);
    absl::StatusOr<int32_t> i = ToInt(key, *v);
    if (!i.ok()) return i.status();
    ids.push_back(*i);
  }
  *out = std::move(ids);
  *present = true;
  return absl::OkStatus();
}

}  // namespace infernum::models
