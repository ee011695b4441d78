// tokenizer.json "normalizer" section: NFC/NFD/NFKC/NFKD, Prepend, Replace
// (string pattern), Lowercase, Strip and Sequence.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "models/tokenizer/json_util.h"

namespace infernum::models::tokenizer_internal {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Returns the normalized form of valid UTF-8 `text`.
  virtual absl::StatusOr<std::string> Normalize(
      std::string_view text) const = 0;
};

// Builds a normalizer from its JSON; null JSON yields nullptr (no
// normalizer). Unknown types or malformed fields are errors.
absl::StatusOr<std::unique_ptr<Normalizer>> MakeNormalizer(const Json& j);

// Reads a `{"String": s}` pattern; Regex patterns are rejected (none of the
// supported families use them in normalizers or decoders).
absl::StatusOr<std::string> GetStringPattern(const Json& j,
                                             std::string_view where);

}  // namespace infernum::models::tokenizer_internal
