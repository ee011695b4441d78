#include "models/tokenizer/unicode.h"

#include <unicode/unistr.h>

#include <random>
#include <set>
#include <string>

#include "gtest/gtest.h"

namespace infernum::models::tokenizer_internal {
namespace {

// Independent reference for lossy decoding: ICU's UTF-8 -> UTF-16
// conversion, which also substitutes U+FFFD per maximal ill-formed subpart.
std::string IcuLossy(const std::string& bytes) {
  std::string out;
  icu::UnicodeString::fromUTF8(icu::StringPiece(bytes.data(), bytes.size()))
      .toUTF8String(out);
  return out;
}

TEST(Utf8Test, ValidityRejectsMalformedSequences) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("h\xC3\xA9llo \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xC0\x80"));          // overlong NUL
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xF0\x9F\x98"));      // truncated
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation
}

TEST(Utf8Test, LossyMatchesIcuOnRandomBytes) {
  std::mt19937 rng(7);
  // Bias towards bytes that form (broken) multi-byte sequences.
  const std::string alphabet =
      "a \x80\x9F\xA0\xBF\xC2\xC3\xDF\xE0\xE2\xED\xEF\xF0\xF4\xF5\xFF";
  for (int iter = 0; iter < 5000; ++iter) {
    std::string s;
    const int n = rng() % 12;
    for (int k = 0; k < n; ++k) s.push_back(alphabet[rng() % alphabet.size()]);
    EXPECT_EQ(Utf8Lossy(s), IcuLossy(s)) << "bytes of length " << s.size();
    EXPECT_TRUE(IsValidUtf8(Utf8Lossy(s)));
    EXPECT_EQ(IsValidUtf8(s), Utf8Lossy(s) == s);
  }
}

TEST(Utf8Test, EncodeDecodeRoundTrip) {
  for (const char32_t cp :
       {U'A', U'\u00e9', U'\u4e16', U'\U0001F600', U'\U0010FFFF'}) {
    std::string s;
    AppendUtf8(cp, &s);
    size_t pos = 0;
    EXPECT_EQ(NextCodePoint(s, &pos), cp);
    EXPECT_EQ(pos, s.size());
    EXPECT_TRUE(IsValidUtf8(s));
  }
}

TEST(ByteLevelTest, AlphabetIsABijectionWithGpt2Values) {
  std::set<char32_t> seen;
  for (int b = 0; b < 256; ++b) {
    const char32_t c = ByteToChar(static_cast<uint8_t>(b));
    EXPECT_TRUE(seen.insert(c).second);
    EXPECT_EQ(CharToByte(c), b);
  }
  EXPECT_EQ(ByteToChar(' '), U'\u0120');   // "Ġ"
  EXPECT_EQ(ByteToChar('\n'), U'\u010A');  // "Ċ"
  EXPECT_EQ(ByteToChar('A'), U'A');
  EXPECT_EQ(CharToByte(U'\u4e16'), -1);
  EXPECT_EQ(BytesToByteLevel(" a"),
            "\xC4\xA0"
            "a");
}

TEST(CharClassTest, CategoriesAndWhiteSpace) {
  EXPECT_TRUE(ClassOf(U'a') & kLl);
  EXPECT_TRUE(ClassOf(U'\u01c5') & kLt);
  EXPECT_TRUE(ClassOf(U'\u4e16') & kLo);
  EXPECT_TRUE(ClassOf(U'\u0301') & kM);
  EXPECT_TRUE(ClassOf(U'\u0663') & kNd);
  EXPECT_TRUE(ClassOf(U'\u00bd') & kNOther);
  EXPECT_TRUE(ClassOf(U'!') & kP);
  EXPECT_TRUE(ClassOf(U'\U0001F600') & kS);
  // White_Space includes U+0085 and U+3000 but not U+FEFF or U+200B.
  EXPECT_TRUE(ClassOf(U'\u0085') & kWhiteSpace);
  EXPECT_TRUE(ClassOf(U'\u3000') & kWhiteSpace);
  EXPECT_FALSE(ClassOf(U'\ufeff') & kWhiteSpace);
  EXPECT_FALSE(ClassOf(U'\u200b') & kWhiteSpace);
  EXPECT_TRUE(ClassOf(U'\n') & kCrLf);
  EXPECT_TRUE(ClassOf(U'_') & kWord);
  EXPECT_FALSE(ClassOf(U'-') & kWord);
}

TEST(NormalizeTest, NfcComposesAndNfdDecomposes) {
  auto nfc = Normalize("cafe\xCC\x81", NormalForm::kNfc);
  ASSERT_TRUE(nfc.ok());
  EXPECT_EQ(*nfc, "caf\xC3\xA9");
  auto nfd = Normalize("caf\xC3\xA9", NormalForm::kNfd);
  ASSERT_TRUE(nfd.ok());
  EXPECT_EQ(*nfd, "cafe\xCC\x81");
}

}  // namespace
}  // namespace infernum::models::tokenizer_internal
