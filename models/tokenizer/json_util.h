// Small helpers for reading tokenizer JSON with nlohmann::json without
// exceptions escaping: each returns a clear absl error on a missing field or
// a wrong type.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace infernum::models::tokenizer_internal {

using Json = nlohmann::json;

// Converts a std::string_view for absl APIs (Debian's absl::string_view is
// not std::string_view).
inline absl::string_view AV(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

// Returns j[key] if j is an object holding `key`, else nullptr.
inline const Json* FindField(const Json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  const auto it = j.find(std::string(key));
  return it == j.end() ? nullptr : &*it;
}

// Required string field.
inline absl::StatusOr<std::string> GetString(const Json& j,
                                             std::string_view key,
                                             std::string_view where) {
  const Json* f = FindField(j, key);
  if (f == nullptr || !f->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(where), ": missing string field \"", AV(key), "\""));
  }
  return f->get<std::string>();
}

// Optional bool field: `fallback` when absent or null; error on other types.
inline absl::StatusOr<bool> GetBool(const Json& j, std::string_view key,
                                    bool fallback, std::string_view where) {
  const Json* f = FindField(j, key);
  if (f == nullptr || f->is_null()) return fallback;
  if (!f->is_boolean()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(where), ": field \"", AV(key), "\" is not a bool"));
  }
  return f->get<bool>();
}

// Optional integer field: `fallback` when absent or null.
inline absl::StatusOr<int64_t> GetInt(const Json& j, std::string_view key,
                                      int64_t fallback,
                                      std::string_view where) {
  const Json* f = FindField(j, key);
  if (f == nullptr || f->is_null()) return fallback;
  if (!f->is_number_integer()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(where), ": field \"", AV(key), "\" is not an integer"));
  }
  return f->get<int64_t>();
}

}  // namespace infernum::models::tokenizer_internal
