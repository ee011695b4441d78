// Typed, non-throwing access to the fields of a JSON object, for the
// checkpoint parsers in this package. Every error is InvalidArgument naming
// the file and the field ("config.json: field 'rope_scaling.factor' ...").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace infernum::models {

// Debian's Abseil has its own string_view; StrCat needs this conversion.
inline absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

// Parses `text` as JSON. InvalidArgument "<where>: invalid JSON: ..." on a
// syntax error. Never throws.
absl::StatusOr<nlohmann::json> ParseJson(std::string_view text,
                                         std::string_view where);

// Short description of a JSON value's type for messages ("string \"abc\"").
std::string DescribeJson(const nlohmann::json& value);

// Reads fields of one JSON object. Holds a reference to `obj`, which must
// outlive it. `prefix` (e.g. "rope_scaling.") is prepended to field names in
// messages. Each Read leaves *out untouched when the key is absent or null,
// except the std::optional overload, which sets nullopt for an explicit null.
class JsonFields {
 public:
  JsonFields(const nlohmann::json& obj, std::string where,
             std::string prefix = "");

  // The value of `key`, or nullptr when absent or null.
  const nlohmann::json* Get(std::string_view key) const;
  bool Has(std::string_view key) const { return Get(key) != nullptr; }

  // Integers must be JSON integers within int32 range.
  absl::Status Read(std::string_view key, int* out) const;
  absl::Status Read(std::string_view key, std::optional<int>* out) const;
  // Any JSON number, converted to float; must be finite.
  absl::Status Read(std::string_view key, float* out) const;
  absl::Status Read(std::string_view key, bool* out) const;
  absl::Status Read(std::string_view key, std::string* out) const;
  // An integer or a list of integers. Sets *present to whether the key had a
  // non-null value; *out is replaced only then.
  absl::Status ReadIntList(std::string_view key, std::vector<int32_t>* out,
                           bool* present) const;

  // InvalidArgument "<where>: field '<prefix><key>' <message>".
  absl::Status Error(std::string_view key, std::string_view message) const;
  // Like Error, for a value of the wrong type: "... must be <expected>, got
  // ...".
  absl::Status TypeError(std::string_view key, std::string_view expected,
                         const nlohmann::json& got) const;

  const std::string& where() const { return where_; }

 private:
  absl::StatusOr<int32_t> ToInt(std::string_view key,
                                const nlohmann::json& v) const;

  const nlohmann::json& obj_;
  std::string where_;
  std::string prefix_;
};

}  // namespace infernum::models
