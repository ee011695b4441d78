#include "cli/args.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace infernum::cli {
namespace {

const FlagSpec* FindSpec(const std::vector<FlagSpec>& specs,
                         const std::string& name) {
  for (const auto& s : specs) {
    if (s.name == name || (!s.short_name.empty() && s.short_name == name))
      return &s;
  }
  return nullptr;
}

absl::Status ValidateValue(const FlagSpec& spec, const std::string& value) {
  switch (spec.type) {
    case FlagType::kInt: {
      int64_t v;
      if (!absl::SimpleAtoi(value, &v)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--", spec.name, ": expected an integer, got '", value, "'"));
      }
      return absl::OkStatus();
    }
    case FlagType::kFloat: {
      double v;
      if (!absl::SimpleAtod(value, &v) || !std::isfinite(v)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--", spec.name, ": expected a number, got '", value, "'"));
      }
      return absl::OkStatus();
    }
    case FlagType::kBool:
      if (value != "true" && value != "false" && value != "1" && value != "0") {
        return absl::InvalidArgumentError(absl::StrCat(
            "--", spec.name, ": expected true or false, got '", value, "'"));
      }
      return absl::OkStatus();
    case FlagType::kString:
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                                     const std::vector<FlagSpec>& specs) {
  ParsedArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 2 || arg[0] != '-' || arg == "-") {
      out.positional_.push_back(arg);
      continue;
    }
    std::string body = arg.substr(arg[1] == '-' ? 2 : 1);
    std::string name = body, value;
    bool has_value = false;
    if (size_t eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    const FlagSpec* spec = FindSpec(specs, name);
    if (spec == nullptr && !has_value && name.rfind("no-", 0) == 0) {
      const FlagSpec* neg = FindSpec(specs, name.substr(3));
      if (neg != nullptr && neg->type == FlagType::kBool) {
        out.values_[neg->name] = "false";
        continue;
      }
    }
    if (spec == nullptr)
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", arg));
    if (!has_value) {
      if (spec->type == FlagType::kBool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("--", spec->name, " needs a value"));
      }
    }
    if (absl::Status st = ValidateValue(*spec, value); !st.ok()) return st;
    out.values_[spec->name] = value;
  }
  return out;
}

std::string ParsedArgs::GetString(const std::string& name,
                                  const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

int64_t ParsedArgs::GetInt(const std::string& name, int64_t fallback) const {
  auto it = values_.find(name);
  int64_t v = fallback;
  if (it != values_.end() && !absl::SimpleAtoi(it->second, &v)) return fallback;
  return v;
}

double ParsedArgs::GetFloat(const std::string& name, double fallback) const {
  auto it = values_.find(name);
  double v = fallback;
  if (it != values_.end() && !absl::SimpleAtod(it->second, &v)) return fallback;
  return v;
}

bool ParsedArgs::GetBool(const std::string& name, bool fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  return it->second == "true" || it->second == "1";
}

std::string FlagHelp(const std::vector<FlagSpec>& specs) {
  std::string out;
  for (const auto& s : specs) {
    std::string left = absl::StrCat("  --", s.name);
    if (!s.short_name.empty()) absl::StrAppend(&left, ", -", s.short_name);
    if (left.size() < 28) left.resize(28, ' ');
    absl::StrAppend(&out, left, " ", s.help, "\n");
  }
  return out;
}

}  // namespace infernum::cli
