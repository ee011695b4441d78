// Unicode helpers for the tokenizer: UTF-8 coding, character classes (ICU),
// normalization forms, and GPT-2's byte <-> printable-character map.
//
// Everything here is stateless and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace infernum::models::tokenizer_internal {

// True if `s` is well-formed UTF-8 (no surrogates, no overlongs, <= U+10FFFF).
bool IsValidUtf8(std::string_view s);

// Decodes the code point starting at s[*pos] and advances *pos past it.
// Precondition: `s` is valid UTF-8 and *pos is a character boundary.
char32_t NextCodePoint(std::string_view s, size_t* pos);

// Appends the UTF-8 encoding of `cp` to `out`.
void AppendUtf8(char32_t cp, std::string* out);

// Converts arbitrary bytes to valid UTF-8 the way Rust's
// String::from_utf8_lossy does: each maximal invalid subsequence becomes one
// U+FFFD.
std::string Utf8Lossy(std::string_view bytes);

// Character class bits, combinable. Categories follow Unicode general
// categories; kWhiteSpace is the White_Space property (what Oniguruma's \s
// matches); kWord is what Rust regex's \w matches.
enum CharClass : uint32_t {
  kLu = 1u << 0,
  kLl = 1u << 1,
  kLt = 1u << 2,
  kLm = 1u << 3,
  kLo = 1u << 4,
  kL = kLu | kLl | kLt | kLm | kLo,
  kM = 1u << 5,
  kNd = 1u << 6,
  kNOther = 1u << 7,  // Nl, No
  kN = kNd | kNOther,
  kP = 1u << 8,
  kS = 1u << 9,
  kWhiteSpace = 1u << 10,
  kCrLf = 1u << 11,  // '\r' or '\n'
  kWord = 1u << 12,
};

// Returns the CharClass bits of `cp`.
uint32_t ClassOf(char32_t cp);

// Text decoded into code points with their classes and byte offsets, the
// input of the hand-written pattern matchers. offsets has size()+1 entries.
struct CodePoints {
  std::vector<char32_t> cps;
  std::vector<uint32_t> classes;
  std::vector<size_t> offsets;
  size_t size() const { return cps.size(); }
  // True if index i exists and its class intersects `mask`.
  bool Is(size_t i, uint32_t mask) const {
    return i < cps.size() && (classes[i] & mask) != 0;
  }
  // True if index i exists and its class does not intersect `mask`.
  bool IsNot(size_t i, uint32_t mask) const {
    return i < cps.size() && (classes[i] & mask) == 0;
  }
};

// Decodes valid UTF-8 `s` into CodePoints.
CodePoints Decompose(std::string_view s);

enum class NormalForm { kNfc, kNfd, kNfkc, kNfkd };

// Applies a Unicode normalization form via ICU. Fails only on ICU errors.
absl::StatusOr<std::string> Normalize(std::string_view s, NormalForm form);

// Lower-cases per code point with the full Unicode mapping (like Rust's
// char::to_lowercase, no locale).
absl::StatusOr<std::string> Lowercase(std::string_view s);

// GPT-2 byte-level alphabet: each byte maps to one printable code point.
char32_t ByteToChar(uint8_t b);
// Inverse of ByteToChar; returns -1 for code points outside the alphabet.
int CharToByte(char32_t cp);

// Maps every byte of `s` through ByteToChar (the ByteLevel pre-tokenizer).
std::string BytesToByteLevel(std::string_view s);

}  // namespace infernum::models::tokenizer_internal
