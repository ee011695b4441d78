// The hand-written Split matchers are checked against ICU's backtracking
// regex engine running the very same pattern strings (with \s spelled as
// \p{White_Space}, which is what Oniguruma's \s means), on hand-picked and
// random strings.
#include "models/tokenizer/pattern.h"

#include <unicode/regex.h>
#include <unicode/unistr.h>

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "models/tokenizer/unicode.h"

namespace infernum::models::tokenizer_internal {
namespace {

const char* const kLlama3 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
const char* const kQwen =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
const char* const kO200k =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
const char* const kGpt2 =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re";
const char* const kDeepSeekDigits = R"re(\p{N}{1,3})re";
const char* const kDeepSeekCjk = "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+";
// As stored in DeepSeek-V3's tokenizer.json: raw CR/LF inside classes.
const char* const kDeepSeekMain =
    "[!\"#$%&'()*+,\\-./"
    ":;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}"
    "]+|"
    " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";

// Match spans (as UTF-8 substrings) according to ICU.
std::vector<std::string> IcuMatches(const std::string& pattern,
                                    const std::string& text) {
  std::string icu_pattern = absl::StrReplaceAll(
      pattern, {{"\\s", "\\p{White_Space}"}, {"\\S", "\\P{White_Space}"}});
  UErrorCode status = U_ZERO_ERROR;
  // RegexMatcher keeps a reference to the input: it must outlive `m`.
  const icu::UnicodeString input = icu::UnicodeString::fromUTF8(text);
  icu::RegexMatcher m(icu::UnicodeString::fromUTF8(icu_pattern), input, 0,
                      status);
  EXPECT_TRUE(U_SUCCESS(status)) << u_errorName(status) << " for " << pattern;
  std::vector<std::string> out;
  while (U_SUCCESS(status) && m.find(status)) {
    std::string s;
    m.group(status).toUTF8String(s);
    out.push_back(s);
  }
  return out;
}

std::vector<std::string> OurMatches(const PatternMatcher& m,
                                    const std::string& text) {
  const CodePoints cps = Decompose(text);
  std::vector<std::string> out;
  for (const Span& s : FindAll(m, cps)) {
    out.push_back(text.substr(cps.offsets[s.begin],
                              cps.offsets[s.end] - cps.offsets[s.begin]));
  }
  return out;
}

const std::vector<std::string>& Pool() {
  static const std::vector<std::string> pool = {"a",
                                                "Z",
                                                "hello",
                                                "World",
                                                "ABC",
                                                "\xC3\xA9",
                                                "\xC3\x89",
                                                "e\xCC\x81",
                                                "\xCC\x81",
                                                "1",
                                                "23",
                                                "\xD9\xA3",
                                                "\xC2\xBD",
                                                " ",
                                                " ",
                                                "  ",
                                                "\t",
                                                "\n",
                                                "\r\n",
                                                "\r",
                                                "\xC2\x85",
                                                "\xC2\xA0",
                                                "\xE3\x80\x80",
                                                "\xEF\xBB\xBF",
                                                "'",
                                                "'s",
                                                "'S",
                                                "'re",
                                                "'LL",
                                                "'d",
                                                "'ve",
                                                "'m",
                                                "'t",
                                                "'x",
                                                ".",
                                                ",",
                                                "!",
                                                "?",
                                                "/",
                                                "-",
                                                "_",
                                                "(",
                                                "\"",
                                                "$",
                                                "#",
                                                "\xE4\xB8\x96",
                                                "\xE3\x81\x82",
                                                "\xE3\x82\xA2",
                                                "\xEA\xB0\x80",
                                                "\xD8\xB9",
                                                "\xE0\xA4\x95\xE0\xA4\xBF",
                                                "\xF0\x9F\x98\x80",
                                                "\xE2\x80\x8D",
                                                "\xEF\xB8\x8F",
                                                "\xC7\x85",
                                                "\xCA\xB0",
                                                "\xE1\xBE\x88",
                                                "\x01",
                                                "\xC5\xBF",
                                                "\xE2\x84\xAA",
                                                "\xE2\x82\xAC",
                                                "\xE2\x80\x94"};
  return pool;
}

void CheckAgainstIcu(const char* pattern) {
  auto matcher = MakeRegexMatcher(pattern);
  ASSERT_TRUE(matcher.ok()) << matcher.status();
  const std::vector<std::string> fixed = {"",
                                          "Hello world",
                                          "  hello   world  ",
                                          "it's I'M we'RE",
                                          "x\n\n y \r\n z",
                                          "a   \n  b",
                                          "trailing  ",
                                          "123456789 12",
                                          "foo!!! bar...\n\n",
                                          "a/b/c\n/d",
                                          "CamelCaseHTTPServer",
                                          "\xCC\x81\xCC\x81x",
                                          "   ",
                                          "\t\tx",
                                          "\xE4\xB8\x96\xE7\x95\x8C!"};
  for (const std::string& text : fixed) {
    EXPECT_EQ(OurMatches(**matcher, text), IcuMatches(pattern, text)) << text;
  }
  std::mt19937 rng(42);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string text;
    const int n = rng() % 10;
    for (int k = 0; k < n; ++k) text += Pool()[rng() % Pool().size()];
    ASSERT_EQ(OurMatches(**matcher, text), IcuMatches(pattern, text))
        << "text: " << text;
  }
}

TEST(PatternTest, Llama3MatchesIcu) { CheckAgainstIcu(kLlama3); }
TEST(PatternTest, QwenMatchesIcu) { CheckAgainstIcu(kQwen); }
TEST(PatternTest, O200kMatchesIcu) { CheckAgainstIcu(kO200k); }
TEST(PatternTest, Gpt2MatchesIcu) { CheckAgainstIcu(kGpt2); }
TEST(PatternTest, DeepSeekDigitsMatchesIcu) {
  CheckAgainstIcu(kDeepSeekDigits);
}
TEST(PatternTest, DeepSeekCjkMatchesIcu) { CheckAgainstIcu(kDeepSeekCjk); }
TEST(PatternTest, DeepSeekMainMatchesIcu) { CheckAgainstIcu(kDeepSeekMain); }

TEST(PatternTest, LookaheadLeavesLastSpaceForTheWord) {
  auto m = MakeRegexMatcher(kLlama3);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(OurMatches(**m, "a   b"),
            (std::vector<std::string>{"a", "  ", " b"}));
  EXPECT_EQ(OurMatches(**m, "a   "), (std::vector<std::string>{"a", "   "}));
}

TEST(PatternTest, ContractionFoldsLongS) {
  // HF's Oniguruma applies Unicode case folding inside (?i:...): "'\u017f"
  // (long s) matches 's, so "it'\u017fa" splits as it | '\u017f | a.
  auto m = MakeRegexMatcher(kLlama3);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(OurMatches(**m,
                       "it'\xC5\xBF"
                       "a"),
            (std::vector<std::string>{"it", "'\xC5\xBF", "a"}));
}

TEST(PatternTest, RawAndEscapedNewlinesAreTheSamePattern) {
  std::string raw =
      absl::StrReplaceAll(kLlama3, {{"\\r", "\r"}, {"\\n", "\n"}});
  EXPECT_TRUE(MakeRegexMatcher(raw).ok());
}

TEST(PatternTest, UnknownPatternIsAnError) {
  auto m = MakeRegexMatcher("\\w+|[^\\w\\s]+");
  EXPECT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kUnimplemented);
}

TEST(PatternTest, LiteralMatcher) {
  auto m = MakeLiteralMatcher("\xE2\x96\x81");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(OurMatches(**m,
                       "a\xE2\x96\x81"
                       "b\xE2\x96\x81\xE2\x96\x81"),
            (std::vector<std::string>{"\xE2\x96\x81", "\xE2\x96\x81",
                                      "\xE2\x96\x81"}));
  EXPECT_FALSE(MakeLiteralMatcher("").ok());
}

}  // namespace
}  // namespace infernum::models::tokenizer_internal
