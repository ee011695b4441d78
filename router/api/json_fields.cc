#include "router/api/json_fields.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "router/api/errors.h"

namespace infernum::router {
namespace {

using nlohmann::json;

std::string_view ParamOr(std::string_view param, std::string_view key) {
  return param.empty() ? key : param;
}

absl::Status TypeError(std::string_view param, std::string_view what) {
  return InvalidParamError(
      param,
      absl::StrCat("'", absl::string_view(param.data(), param.size()),
                   "' must be ", absl::string_view(what.data(), what.size())));
}

std::string FormatReal(double v) {
  std::string s = json(v).dump();  // Shortest round-trip form.
  return s;
}

}  // namespace

const json* FindField(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(std::string(key));
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::Status JsonToInt(const json& value, std::string_view param,
                       IntRange range, int64_t* out) {
  int64_t v = 0;
  bool fits = true;
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    fits = u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    v = fits ? static_cast<int64_t>(u) : 0;
  } else if (value.is_number_integer()) {
    v = value.get<int64_t>();
  } else if (value.is_number_float()) {
    const double d = value.get<double>();
    if (!std::isfinite(d) || std::floor(d) != d) {
      return TypeError(param, "an integer");
    }
    // [-2^63, 2^63) is exactly representable at both ends as doubles.
    fits = d >= -9223372036854775808.0 && d < 9223372036854775808.0;
    v = fits ? static_cast<int64_t>(d) : 0;
  } else {
    return TypeError(param, "an integer");
  }
  if (!fits || v < range.min || v > range.max) {
    const std::string p(param);
    return InvalidParamError(
        param, absl::StrCat("'", p, "' must be an integer in [", range.min,
                            ", ", range.max, "], got ", value.dump()));
  }
  *out = v;
  return absl::OkStatus();
}

absl::Status JsonToReal(const json& value, std::string_view param,
                        RealRange range, double* out) {
  if (!value.is_number()) return TypeError(param, "a number");
  const double v = value.get<double>();
  const bool above_min = range.min_exclusive ? v > range.min : v >= range.min;
  if (!std::isfinite(v) || !above_min || v > range.max) {
    const std::string p(param);
    return InvalidParamError(
        param,
        absl::StrCat("'", p, "' must be in ", range.min_exclusive ? "(" : "[",
                     FormatReal(range.min), ", ", FormatReal(range.max),
                     "], got ", value.dump()));
  }
  *out = v;
  return absl::OkStatus();
}

absl::Status ReadBool(const json& obj, std::string_view key, bool* out,
                      std::string_view param) {
  const json* v = FindField(obj, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_boolean()) return TypeError(ParamOr(param, key), "a boolean");
  *out = v->get<bool>();
  return absl::OkStatus();
}

absl::Status ReadString(const json& obj, std::string_view key, std::string* out,
                        std::string_view param) {
  const json* v = FindField(obj, key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_string()) return TypeError(ParamOr(param, key), "a string");
  *out = v->get<std::string>();
  return absl::OkStatus();
}

absl::Status ReadInt(const json& obj, std::string_view key, IntRange range,
                     int64_t* out, std::string_view param) {
  const json* v = FindField(obj, key);
  if (v == nullptr) return absl::OkStatus();
  return JsonToInt(*v, ParamOr(param, key), range, out);
}

absl::Status ReadInt32(const json& obj, std::string_view key, IntRange range,
                       int32_t* out, std::string_view param) {
  range.min = std::max<int64_t>(range.min, std::numeric_limits<int32_t>::min());
  range.max = std::min<int64_t>(range.max, std::numeric_limits<int32_t>::max());
  int64_t wide = *out;
  const absl::Status st = ReadInt(obj, key, range, &wide, param);
  if (st.ok()) *out = static_cast<int32_t>(wide);
  return st;
}

absl::Status ReadOptionalInt(const json& obj, std::string_view key,
                             IntRange range, std::optional<int64_t>* out,
                             std::string_view param) {
  const json* v = FindField(obj, key);
  if (v == nullptr) return absl::OkStatus();
  int64_t value = 0;
  const absl::Status st = JsonToInt(*v, ParamOr(param, key), range, &value);
  if (st.ok()) *out = value;
  return st;
}

absl::Status ReadReal(const json& obj, std::string_view key, RealRange range,
                      double* out, std::string_view param) {
  const json* v = FindField(obj, key);
  if (v == nullptr) return absl::OkStatus();
  return JsonToReal(*v, ParamOr(param, key), range, out);
}

absl::Status ParseJsonObject(std::string_view text, json* out) {
  json parsed = json::parse(text.begin(), text.end(), /*cb=*/nullptr,
                            /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return MakeApiError(ErrorKind::kInvalidRequest,
                        "request body is not valid JSON");
  }
  if (!parsed.is_object()) {
    return MakeApiError(ErrorKind::kInvalidRequest,
                        "request body must be a JSON object");
  }
  *out = std::move(parsed);
  return absl::OkStatus();
}

}  // namespace infernum::router
