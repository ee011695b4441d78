#include "models/tokenizer/unicode.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <array>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace infernum::models::tokenizer_internal {
namespace {

// Length of a UTF-8 sequence from its lead byte; 0 for an invalid lead.
size_t SequenceLength(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// Valid range of the second byte given the lead (excludes overlongs,
// surrogates and code points above U+10FFFF); later bytes are 80..BF.
bool SecondByteOk(uint8_t lead, uint8_t b) {
  switch (lead) {
    case 0xE0:
      return b >= 0xA0 && b <= 0xBF;
    case 0xED:
      return b >= 0x80 && b <= 0x9F;
    case 0xF0:
      return b >= 0x90 && b <= 0xBF;
    case 0xF4:
      return b >= 0x80 && b <= 0x8F;
    default:
      return b >= 0x80 && b <= 0xBF;
  }
}

// Number of bytes of the longest valid prefix of a sequence starting at
// s[pos] (at most its full length); `complete` tells whether it is whole.
size_t ValidPrefix(std::string_view s, size_t pos, bool* complete) {
  const uint8_t lead = static_cast<uint8_t>(s[pos]);
  const size_t len = SequenceLength(lead);
  *complete = false;
  if (len == 0) return 0;
  size_t i = 1;
  for (; i < len && pos + i < s.size(); ++i) {
    const uint8_t b = static_cast<uint8_t>(s[pos + i]);
    const bool ok = i == 1 ? SecondByteOk(lead, b) : (b >= 0x80 && b <= 0xBF);
    if (!ok) return i;
  }
  *complete = i == len;
  return i;
}

uint32_t ComputeClass(char32_t cp) {
  const UChar32 c = static_cast<UChar32>(cp);
  uint32_t bits = 0;
  switch (u_charType(c)) {
    case U_UPPERCASE_LETTER:
      bits = kLu;
      break;
    case U_LOWERCASE_LETTER:
      bits = kLl;
      break;
    case U_TITLECASE_LETTER:
      bits = kLt;
      break;
    case U_MODIFIER_LETTER:
      bits = kLm;
      break;
    case U_OTHER_LETTER:
      bits = kLo;
      break;
    case U_NON_SPACING_MARK:
    case U_ENCLOSING_MARK:
    case U_COMBINING_SPACING_MARK:
      bits = kM;
      break;
    case U_DECIMAL_DIGIT_NUMBER:
      bits = kNd;
      break;
    case U_LETTER_NUMBER:
    case U_OTHER_NUMBER:
      bits = kNOther;
      break;
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_CONNECTOR_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION:
      bits = kP;
      break;
    case U_MATH_SYMBOL:
    case U_CURRENCY_SYMBOL:
    case U_MODIFIER_SYMBOL:
    case U_OTHER_SYMBOL:
      bits = kS;
      break;
    default:
      break;
  }
  if (u_hasBinaryProperty(c, UCHAR_WHITE_SPACE)) bits |= kWhiteSpace;
  if (cp == '\r' || cp == '\n') bits |= kCrLf;
  const bool pc = u_charType(c) == U_CONNECTOR_PUNCTUATION;
  if (u_hasBinaryProperty(c, UCHAR_ALPHABETIC) || (bits & (kM | kNd)) || pc ||
      u_hasBinaryProperty(c, UCHAR_JOIN_CONTROL)) {
    bits |= kWord;
  }
  return bits;
}

struct ByteMaps {
  std::array<char32_t, 256> to_char;
  std::array<int16_t, 324> to_byte;  // code points 0..323 cover the alphabet
};

ByteMaps BuildByteMaps() {
  ByteMaps m;
  m.to_byte.fill(-1);
  int next = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable =
        (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    m.to_char[b] = printable ? static_cast<char32_t>(b) : 256 + next++;
    m.to_byte[m.to_char[b]] = static_cast<int16_t>(b);
  }
  return m;
}

const ByteMaps& GetByteMaps() {
  static const ByteMaps maps = BuildByteMaps();
  return maps;
}

const std::array<uint32_t, 128>& AsciiClasses() {
  static const std::array<uint32_t, 128> table = [] {
    std::array<uint32_t, 128> t{};
    for (char32_t c = 0; c < 128; ++c) t[c] = ComputeClass(c);
    return t;
  }();
  return table;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    bool complete = false;
    const size_t n = ValidPrefix(s, pos, &complete);
    if (!complete) return false;
    pos += n;
  }
  return true;
}

char32_t NextCodePoint(std::string_view s, size_t* pos) {
  const uint8_t lead = static_cast<uint8_t>(s[*pos]);
  const size_t len = SequenceLength(lead);
  if (len <= 1) {
    ++*pos;
    return lead;
  }
  char32_t cp = lead & (0xFF >> (len + 1));
  for (size_t i = 1; i < len; ++i) {
    cp = (cp << 6) | (static_cast<uint8_t>(s[*pos + i]) & 0x3F);
  }
  *pos += len;
  return cp;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string Utf8Lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    bool complete = false;
    const size_t n = ValidPrefix(bytes, pos, &complete);
    if (complete) {
      out.append(bytes.substr(pos, n));
      pos += n;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD for the maximal invalid prefix.
      pos += n == 0 ? 1 : n;
    }
  }
  return out;
}

uint32_t ClassOf(char32_t cp) {
  if (cp < 128) return AsciiClasses()[cp];
  return ComputeClass(cp);
}

CodePoints Decompose(std::string_view s) {
  CodePoints out;
  out.cps.reserve(s.size());
  out.classes.reserve(s.size());
  out.offsets.reserve(s.size() + 1);
  size_t pos = 0;
  while (pos < s.size()) {
    out.offsets.push_back(pos);
    const char32_t cp = NextCodePoint(s, &pos);
    out.cps.push_back(cp);
    out.classes.push_back(ClassOf(cp));
  }
  out.offsets.push_back(s.size());
  return out;
}

absl::StatusOr<std::string> Normalize(std::string_view s, NormalForm form) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* norm = nullptr;
  switch (form) {
    case NormalForm::kNfc:
      norm = icu::Normalizer2::getNFCInstance(status);
      break;
    case NormalForm::kNfd:
      norm = icu::Normalizer2::getNFDInstance(status);
      break;
    case NormalForm::kNfkc:
      norm = icu::Normalizer2::getNFKCInstance(status);
      break;
    case NormalForm::kNfkd:
      norm = icu::Normalizer2::getNFKDInstance(status);
      break;
  }
  if (U_FAILURE(status) || norm == nullptr) {
    return absl::InternalError(
        absl::StrCat("ICU normalizer: ", u_errorName(status)));
  }
  const icu::UnicodeString in = icu::UnicodeString::fromUTF8(
      icu::StringPiece(s.data(), static_cast<int32_t>(s.size())));
  if (norm->isNormalized(in, status) && U_SUCCESS(status))
    return std::string(s);
  const icu::UnicodeString normalized = norm->normalize(in, status);
  if (U_FAILURE(status)) {
    return absl::InternalError(
        absl::StrCat("ICU normalize: ", u_errorName(status)));
  }
  std::string out;
  normalized.toUTF8String(out);
  return out;
}

absl::StatusOr<std::string> Lowercase(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (pos < s.size()) {
    const char32_t cp = NextCodePoint(s, &pos);
    icu::UnicodeString one(static_cast<UChar32>(cp));
    one.toLower(icu::Locale::getRoot());
    one.toUTF8String(out);
  }
  return out;
}

char32_t ByteToChar(uint8_t b) { return GetByteMaps().to_char[b]; }

int CharToByte(char32_t cp) {
  const auto& m = GetByteMaps();
  return cp < m.to_byte.size() ? m.to_byte[cp] : -1;
}

std::string BytesToByteLevel(std::string_view s) {
  std::string out;
  out.reserve(s.size() * 2);
  for (const char c : s) AppendUtf8(ByteToChar(static_cast<uint8_t>(c)), &out);
  return out;
}

}  // namespace infernum::models::tokenizer_internal
