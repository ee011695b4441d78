// Hand-written matchers for the regular expressions that tokenizer.json
// "Split" pre-tokenizers use (Llama-3 / cl100k, Qwen2, GPT-OSS / o200k,
// DeepSeek-V3, GPT-2), plus literal-string patterns.
//
// Each matcher reproduces Oniguruma's leftmost, first-alternative-wins
// backtracking semantics for its one pattern, including the look-ahead in
// `\s+(?!\S)`, Unicode categories (ICU) and `(?i:...)` contractions (with
// Unicode simple case folding, so 'ſ' matches 's'). A pattern string that is
// not one of the known ones is rejected with an error, never approximated.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "models/tokenizer/unicode.h"

namespace infernum::models::tokenizer_internal {

// Half-open range of code point indices into a CodePoints.
struct Span {
  size_t begin = 0;
  size_t end = 0;
};

class PatternMatcher {
 public:
  virtual ~PatternMatcher() = default;
  // Returns the leftmost non-empty match starting at index >= `from`, or
  // nullopt if there is none.
  virtual std::optional<Span> FindNext(const CodePoints& text,
                                       size_t from) const = 0;
};

// Builds the matcher for a tokenizer.json `{"Regex": pattern}`; error if the
// pattern is not one this library knows.
absl::StatusOr<std::unique_ptr<PatternMatcher>> MakeRegexMatcher(
    std::string_view pattern);

// Builds a matcher for a literal `{"String": s}` pattern (s non-empty).
absl::StatusOr<std::unique_ptr<PatternMatcher>> MakeLiteralMatcher(
    std::string_view literal);

// The GPT-2 regex used by the ByteLevel pre-tokenizer when use_regex is true.
std::unique_ptr<PatternMatcher> MakeGpt2Matcher();

// All matches of `m` in `text`, in order, non-overlapping.
std::vector<Span> FindAll(const PatternMatcher& m, const CodePoints& text);

}  // namespace infernum::models::tokenizer_internal
