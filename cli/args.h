// Command-line flag parsing for the infernum CLI and the servers.
//
// Flags are declared up front; `--name value`, `--name=value` and, for bool
// flags, bare `--name` / `--no-name` / `--name=true|false` are accepted.
// Unknown flags, missing values and malformed numbers are errors (the caller
// prints one line and exits 2).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace infernum::cli {

enum class FlagType { kString, kInt, kFloat, kBool };

struct FlagSpec {
  std::string name;  // Without the leading "--".
  FlagType type;
  std::string help;
  std::string short_name = "";  // Optional single-dash alias, e.g. "i".
};

class ParsedArgs {
 public:
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string GetString(const std::string& name,
                        const std::string& fallback) const;
  int64_t GetInt(const std::string& name, int64_t fallback) const;
  double GetFloat(const std::string& name, double fallback) const;
  bool GetBool(const std::string& name, bool fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>&,
                                              const std::vector<FlagSpec>&);
  std::map<std::string, std::string> values_;  // Validated textual values.
  std::vector<std::string> positional_;
};

// Parses args (without the program and subcommand names) against specs.
absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args,
                                     const std::vector<FlagSpec>& specs);

// "  --name  help" lines for a usage message.
std::string FlagHelp(const std::vector<FlagSpec>& specs);

}  // namespace infernum::cli
