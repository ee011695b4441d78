#include "models/tokenizer/pattern.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace infernum::models::tokenizer_internal {
namespace {

// A match function returns the end index of the match starting exactly at
// index i, or 0 when no alternative matches there (matches are non-empty, so
// a real end is always > i >= 0).
using MatchFn = size_t (*)(const CodePoints& t, size_t i);

// [^\s\p{L}\p{N}] is "not any of these".
constexpr uint32_t kSpaceLetterNumber = kWhiteSpace | kL | kN;
// Gpt-OSS's upper-ish and lower-ish letter classes.
constexpr uint32_t kUpperish = kLu | kLt | kLm | kLo | kM;
constexpr uint32_t kLowerish = kLl | kLm | kLo | kM;

bool IsCp(const CodePoints& t, size_t i, char32_t c) {
  return i < t.size() && t.cps[i] == c;
}

size_t RunEnd(const CodePoints& t, size_t i, uint32_t mask) {
  while (t.Is(i, mask)) ++i;
  return i;
}

size_t RunEndNot(const CodePoints& t, size_t i, uint32_t mask) {
  while (t.IsNot(i, mask)) ++i;
  return i;
}

size_t BoundedRunEnd(const CodePoints& t, size_t i, uint32_t mask, size_t max) {
  const size_t start = i;
  while (i - start < max && t.Is(i, mask)) ++i;
  return i;
}

// Unicode simple case folding restricted to what the contraction letters
// need: ASCII upper case, and U+017F LATIN SMALL LETTER LONG S -> 's'.
char32_t Fold(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + ('a' - 'A');
  if (c == 0x17F) return 's';
  return c;
}

// 's|'t|'re|'ve|'m|'ll|'d, optionally case-insensitive. Returns the end or 0.
size_t Contraction(const CodePoints& t, size_t i, bool ignore_case) {
  if (!IsCp(t, i, '\'')) return 0;
  static constexpr std::u32string_view kSuffixes[] = {U"s", U"t",  U"re", U"ve",
                                                      U"m", U"ll", U"d"};
  for (const std::u32string_view suffix : kSuffixes) {
    size_t k = 0;
    for (; k < suffix.size() && i + 1 + k < t.size(); ++k) {
      const char32_t c = t.cps[i + 1 + k];
      if ((ignore_case ? Fold(c) : c) != suffix[k]) break;
    }
    if (k == suffix.size()) return i + 1 + k;
  }
  return 0;
}

// The shared whitespace tail of every pattern:
//   [\s*[\r\n]+ |] \s+(?!\S) | \s+
size_t Whitespace(const CodePoints& t, size_t i, bool crlf_alternative) {
  if (!t.Is(i, kWhiteSpace)) return 0;
  const size_t e = RunEnd(t, i, kWhiteSpace);
  if (crlf_alternative) {
    // \s*[\r\n]+ backtracks \s* to the last CR/LF of the run.
    for (size_t k = e; k-- > i;) {
      if (t.Is(k, kCrLf)) return k + 1;
    }
  }
  // \s+(?!\S): the whole run at end of text, else the run minus its last
  // character; a one-character run falls through to \s+.
  if (e == t.size() || e - i == 1) return e;
  return e - 1;
}

// ' ?[^\s\p{L}\p{N}]+' followed by a run of `tail` characters.
size_t SpacePunct(const CodePoints& t, size_t i, bool slash_in_tail) {
  const size_t j =
      (IsCp(t, i, ' ') && t.IsNot(i + 1, kSpaceLetterNumber)) ? i + 1 : i;
  if (!t.IsNot(j, kSpaceLetterNumber)) return 0;
  size_t e = RunEndNot(t, j, kSpaceLetterNumber);
  while (t.Is(e, kCrLf) || (slash_in_tail && IsCp(t, e, '/'))) ++e;
  return e;
}

// Llama-3 / cl100k and Qwen2: identical but for \p{N}{1,3} vs \p{N}.
size_t Cl100k(const CodePoints& t, size_t i, size_t max_digits) {
  if (size_t e = Contraction(t, i, /*ignore_case=*/true)) return e;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (t.IsNot(i, kL | kN | kCrLf) && t.Is(i + 1, kL))
    return RunEnd(t, i + 1, kL);
  if (t.Is(i, kL)) return RunEnd(t, i, kL);
  if (t.Is(i, kN)) return BoundedRunEnd(t, i, kN, max_digits);
  if (size_t e = SpacePunct(t, i, /*slash_in_tail=*/false)) return e;
  return Whitespace(t, i, /*crlf_alternative=*/true);
}

size_t Llama3(const CodePoints& t, size_t i) { return Cl100k(t, i, 3); }
size_t Qwen2(const CodePoints& t, size_t i) { return Cl100k(t, i, 1); }

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
size_t Gpt2(const CodePoints& t, size_t i) {
  if (size_t e = Contraction(t, i, /*ignore_case=*/false)) return e;
  const size_t j = IsCp(t, i, ' ') ? i + 1 : i;
  if (t.Is(j, kL)) return RunEnd(t, j, kL);
  if (t.Is(j, kN)) return RunEnd(t, j, kN);
  if (t.IsNot(j, kSpaceLetterNumber))
    return RunEndNot(t, j, kSpaceLetterNumber);
  return Whitespace(t, i, /*crlf_alternative=*/false);
}

// [^\r\n\p{L}\p{N}]?[Upperish]*[Lowerish]+(?i:contraction)?  (o200k alt 1)
size_t O200kLowerWord(const CodePoints& t, size_t i) {
  for (const bool take_prefix : {true, false}) {
    if (take_prefix && !t.IsNot(i, kL | kN | kCrLf)) continue;
    const size_t j = i + (take_prefix ? 1 : 0);
    const size_t b = RunEnd(t, j, kUpperish);
    size_t c = 0;
    if (t.Is(b, kLowerish)) {
      c = RunEnd(t, b, kLowerish);
    } else {
      // Backtrack [Upperish]* to its last character that is also Lowerish.
      for (size_t k = b; k-- > j;) {
        if (t.Is(k, kLowerish)) {
          c = k + 1;
          break;
        }
      }
      if (c == 0) continue;
    }
    const size_t e = Contraction(t, c, /*ignore_case=*/true);
    return e != 0 ? e : c;
  }
  return 0;
}

// [^\r\n\p{L}\p{N}]?[Upperish]+[Lowerish]*(?i:contraction)?  (o200k alt 2)
size_t O200kUpperWord(const CodePoints& t, size_t i) {
  for (const bool take_prefix : {true, false}) {
    if (take_prefix && !t.IsNot(i, kL | kN | kCrLf)) continue;
    const size_t j = i + (take_prefix ? 1 : 0);
    const size_t b = RunEnd(t, j, kUpperish);
    if (b == j) continue;
    const size_t c = RunEnd(t, b, kLowerish);
    const size_t e = Contraction(t, c, /*ignore_case=*/true);
    return e != 0 ? e : c;
  }
  return 0;
}

size_t O200k(const CodePoints& t, size_t i) {
  if (size_t e = O200kLowerWord(t, i)) return e;
  if (size_t e = O200kUpperWord(t, i)) return e;
  if (t.Is(i, kN)) return BoundedRunEnd(t, i, kN, 3);
  if (size_t e = SpacePunct(t, i, /*slash_in_tail=*/true)) return e;
  return Whitespace(t, i, /*crlf_alternative=*/true);
}

size_t Digits1To3(const CodePoints& t, size_t i) {
  return t.Is(i, kN) ? BoundedRunEnd(t, i, kN, 3) : 0;
}

bool IsDeepSeekCjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FA5) || (c >= 0x3040 && c <= 0x309F) ||
         (c >= 0x30A0 && c <= 0x30FF);
}

size_t DeepSeekCjk(const CodePoints& t, size_t i) {
  size_t e = i;
  while (e < t.size() && IsDeepSeekCjk(t.cps[e])) ++e;
  return e == i ? 0 : e;
}

bool IsAsciiPunct(char32_t c) {
  return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') ||
         (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
}

bool IsAsciiAlpha(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// [ascii punct][A-Za-z]+ | [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+ |
// ' ?[\p{P}\p{S}]+[\r\n]*' | \s*[\r\n]+ | \s+(?!\S) | \s+
size_t DeepSeekMain(const CodePoints& t, size_t i) {
  const size_t n = t.size();
  if (i + 1 < n && IsAsciiPunct(t.cps[i]) && IsAsciiAlpha(t.cps[i + 1])) {
    size_t e = i + 1;
    while (e < n && IsAsciiAlpha(t.cps[e])) ++e;
    return e;
  }
  if (t.IsNot(i, kCrLf | kL | kP | kS) && t.Is(i + 1, kL | kM)) {
    return RunEnd(t, i + 1, kL | kM);
  }
  if (t.Is(i, kL | kM)) return RunEnd(t, i, kL | kM);
  const size_t j = (IsCp(t, i, ' ') && t.Is(i + 1, kP | kS)) ? i + 1 : i;
  if (t.Is(j, kP | kS)) return RunEnd(t, RunEnd(t, j, kP | kS), kCrLf);
  return Whitespace(t, i, /*crlf_alternative=*/true);
}

class FnMatcher : public PatternMatcher {
 public:
  explicit FnMatcher(MatchFn fn) : fn_(fn) {}
  std::optional<Span> FindNext(const CodePoints& text,
                               size_t from) const override {
    for (size_t i = from; i < text.size(); ++i) {
      if (const size_t e = fn_(text, i); e > i) return Span{i, e};
    }
    return std::nullopt;
  }

 private:
  MatchFn fn_;
};

class LiteralMatcher : public PatternMatcher {
 public:
  explicit LiteralMatcher(std::u32string literal)
      : literal_(std::move(literal)) {}
  std::optional<Span> FindNext(const CodePoints& text,
                               size_t from) const override {
    const size_t m = literal_.size();
    for (size_t i = from; i + m <= text.size(); ++i) {
      size_t k = 0;
      while (k < m && text.cps[i + k] == literal_[k]) ++k;
      if (k == m) return Span{i, i + m};
    }
    return std::nullopt;
  }

 private:
  std::u32string literal_;
};

// Writes raw CR / LF characters as the escapes \r / \n so both spellings of
// a pattern compare equal.
std::string Canonical(std::string_view pattern) {
  std::string out;
  for (const char c : pattern) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

struct KnownPattern {
  const char* pattern;
  MatchFn fn;
};

constexpr KnownPattern kKnownPatterns[] = {
    {R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re",
     Llama3},
    {R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re",
     Qwen2},
    {R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re",
     O200k},
    {R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re",
     Gpt2},
    {R"re(\p{N}{1,3})re", Digits1To3},
    {"[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+", DeepSeekCjk},
    {R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re",
     DeepSeekMain},
};

}  // namespace

absl::StatusOr<std::unique_ptr<PatternMatcher>> MakeRegexMatcher(
    std::string_view pattern) {
  const std::string canonical = Canonical(pattern);
  for (const KnownPattern& known : kKnownPatterns) {
    if (canonical == known.pattern)
      return std::make_unique<FnMatcher>(known.fn);
  }
  return absl::UnimplementedError(
      absl::StrCat("unsupported Split regex (no hand-written matcher): ",
                   absl::string_view(pattern.data(), pattern.size())));
}

absl::StatusOr<std::unique_ptr<PatternMatcher>> MakeLiteralMatcher(
    std::string_view literal) {
  if (literal.empty()) return absl::InvalidArgumentError("empty Split string");
  if (!IsValidUtf8(literal)) {
    return absl::InvalidArgumentError("Split string is not valid UTF-8");
  }
  const CodePoints cps = Decompose(literal);
  return std::make_unique<LiteralMatcher>(
      std::u32string(cps.cps.begin(), cps.cps.end()));
}

std::unique_ptr<PatternMatcher> MakeGpt2Matcher() {
  return std::make_unique<FnMatcher>(Gpt2);
}

std::vector<Span> FindAll(const PatternMatcher& m, const CodePoints& text) {
  std::vector<Span> out;
  size_t from = 0;
  while (auto span = m.FindNext(text, from)) {
    out.push_back(*span);
    from = span->end;
  }
  return out;
}

}  // namespace infernum::models::tokenizer_internal
