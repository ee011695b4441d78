// infernum tokenize / detokenize: line-oriented JSON filters over a tokenizer.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "models/tokenizer/tokenizer.h"

namespace infernum::cli {
namespace {

const std::vector<FlagSpec> kTokenizeFlags = {
    {"model", FlagType::kString, "directory with tokenizer.json (required)"},
    {"add-special-tokens", FlagType::kBool,
     "add BOS/EOS as the tokenizer does (default true)"},
    {"help", FlagType::kBool, "show this help"},
};

const std::vector<FlagSpec> kDetokenizeFlags = {
    {"model", FlagType::kString, "directory with tokenizer.json (required)"},
    {"skip-special-tokens", FlagType::kBool,
     "drop special tokens (default false)"},
    {"help", FlagType::kBool, "show this help"},
};

// Parses flags and loads the tokenizer; on failure prints and sets *exit_code.
std::unique_ptr<models::Tokenizer> Setup(const std::string& cmd,
                                         const std::vector<std::string>& args,
                                         const std::vector<FlagSpec>& specs,
                                         ParsedArgs* parsed, int* exit_code) {
  auto p = ParseArgs(args, specs);
  if (!p.ok()) {
    *exit_code = UsageError(cmd, std::string(p.status().message()));
    return nullptr;
  }
  *parsed = *p;
  if (parsed->GetBool("help", false)) {
    std::printf("usage: infernum %s --model DIR < input\n%s", cmd.c_str(),
                FlagHelp(specs).c_str());
    *exit_code = 0;
    return nullptr;
  }
  if (!parsed->Has("model")) {
    *exit_code = UsageError(cmd, "--model DIR is required");
    return nullptr;
  }
  auto tok = models::Tokenizer::FromDirectory(parsed->GetString("model", ""));
  if (!tok.ok()) {
    *exit_code = UsageError(cmd, std::string(tok.status().message()));
    return nullptr;
  }
  return std::move(tok).value();
}

}  // namespace

int UsageError(const std::string& command, const std::string& message) {
  std::fprintf(stderr, "infernum %s: %s\n", command.c_str(), message.c_str());
  return 2;
}

int TokenizeMain(const std::vector<std::string>& args) {
  ParsedArgs parsed;
  int code = 0;
  auto tokenizer = Setup("tokenize", args, kTokenizeFlags, &parsed, &code);
  if (!tokenizer) return code;
  const bool add_special = parsed.GetBool("add-special-tokens", true);
  std::string line;
  for (int64_t line_no = 1; std::getline(std::cin, line); ++line_no) {
    nlohmann::json value =
        nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded() || !value.is_string()) {
      return UsageError("tokenize",
                        absl::StrCat("line ", line_no,
                                     ": expected one JSON string per line"));
    }
    auto ids = tokenizer->Encode(value.get<std::string>(), add_special);
    if (!ids.ok()) {
      return UsageError("tokenize", absl::StrCat("line ", line_no, ": ",
                                                 ids.status().message()));
    }
    std::cout << nlohmann::json(*ids).dump() << "\n";
  }
  std::cout.flush();
  return 0;
}

int DetokenizeMain(const std::vector<std::string>& args) {
  ParsedArgs parsed;
  int code = 0;
  auto tokenizer = Setup("detokenize", args, kDetokenizeFlags, &parsed, &code);
  if (!tokenizer) return code;
  const bool skip_special = parsed.GetBool("skip-special-tokens", false);
  std::string line;
  for (int64_t line_no = 1; std::getline(std::cin, line); ++line_no) {
    nlohmann::json value = nlohmann::json::parse(line, nullptr, false);
    std::vector<int32_t> ids;
    bool ok = !value.is_discarded() && value.is_array();
    for (size_t i = 0; ok && i < value.size(); ++i) {
      const auto& v = value[i];
      ok = v.is_number_integer() && v.get<int64_t>() >= 0 &&
           v.get<int64_t>() <= INT32_MAX;
      if (ok) ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
    }
    if (!ok) {
      return UsageError("detokenize",
                        absl::StrCat("line ", line_no,
                                     ": expected a JSON array of token ids"));
    }
    auto text = tokenizer->Decode(ids, skip_special);
    if (!text.ok()) {
      return UsageError("detokenize", absl::StrCat("line ", line_no, ": ",
                                                   text.status().message()));
    }
    // Invalid UTF-8 (a partial byte sequence) is replaced rather than thrown.
    std::cout << nlohmann::json(*text).dump(
                     -1, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  }
  std::cout.flush();
  return 0;
}

}  // namespace infernum::cli
