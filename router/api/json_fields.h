// Typed, range-checked readers for fields of a parsed JSON request body.
//
// Each reader looks up `key` in the JSON object `obj`. A missing key or a JSON
// null leaves `*out` unchanged (so callers pre-fill defaults) and returns OK.
// A value of the wrong type or out of range returns InvalidParamError naming
// `param` (the full path of the field, e.g. "stream_options.include_usage";
// defaults to `key`). None of them throw, whatever the JSON holds: huge
// numbers (1e308, 2^70, 2^64-1) are range errors, never overflows.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace infernum::router {

// Closed integer interval [min, max].
struct IntRange {
  int64_t min;
  int64_t max;
};

// Interval of reals; `min_exclusive` makes it (min, max].
struct RealRange {
  double min;
  double max;
  bool min_exclusive = false;
};

// The value for `key`, or nullptr when absent or null. `obj` must be an object.
const nlohmann::json* FindField(const nlohmann::json& obj,
                                std::string_view key);

// Converts a JSON value to int64 if it is an integer (or a float with an
// integral value) within `range`; otherwise an error naming `param`.
absl::Status JsonToInt(const nlohmann::json& value, std::string_view param,
                       IntRange range, int64_t* out);

// Converts a JSON number within `range` to double.
absl::Status JsonToReal(const nlohmann::json& value, std::string_view param,
                        RealRange range, double* out);

absl::Status ReadBool(const nlohmann::json& obj, std::string_view key,
                      bool* out, std::string_view param = {});
absl::Status ReadString(const nlohmann::json& obj, std::string_view key,
                        std::string* out, std::string_view param = {});
absl::Status ReadInt(const nlohmann::json& obj, std::string_view key,
                     IntRange range, int64_t* out, std::string_view param = {});
absl::Status ReadInt32(const nlohmann::json& obj, std::string_view key,
                       IntRange range, int32_t* out,
                       std::string_view param = {});
// Sets `*out` (engaged) only when the field is present and valid.
absl::Status ReadOptionalInt(const nlohmann::json& obj, std::string_view key,
                             IntRange range, std::optional<int64_t>* out,
                             std::string_view param = {});
absl::Status ReadReal(const nlohmann::json& obj, std::string_view key,
                      RealRange range, double* out,
                      std::string_view param = {});

// Parses `text` into *out without exceptions. Errors: invalid JSON, or a
// top-level value that is not an object.
absl::Status ParseJsonObject(std::string_view text, nlohmann::json* out);

}  // namespace infernum::router
