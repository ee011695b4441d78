#include "models/tokenizer/normalizer.h"

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status.h"
#include "models/tokenizer/unicode.h"

namespace infernum::models::tokenizer_internal {
namespace {

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts)
      : parts_(std::move(parts)) {}
  absl::StatusOr<std::string> Normalize(std::string_view text) const override {
    std::string s(text);
    for (const auto& part : parts_) {
      ASSIGN_OR_RETURN(s, part->Normalize(s));
    }
    return s;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

class UnicodeFormNormalizer : public Normalizer {
 public:
  explicit UnicodeFormNormalizer(NormalForm form) : form_(form) {}
  absl::StatusOr<std::string> Normalize(std::string_view text) const override {
    return tokenizer_internal::Normalize(text, form_);
  }

 private:
  NormalForm form_;
};

// Prepends `prefix` to non-empty text (HF skips empty text).
class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  absl::StatusOr<std::string> Normalize(std::string_view text) const override {
    if (text.empty()) return std::string();
    return absl::StrCat(prefix_, AV(text));
  }

 private:
  std::string prefix_;
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(std::string from, std::string to)
      : from_(std::move(from)), to_(std::move(to)) {}
  absl::StatusOr<std::string> Normalize(std::string_view text) const override {
    return absl::StrReplaceAll(AV(text), {{from_, to_}});
  }

 private:
  std::string from_;
  std::string to_;
};

class LowercaseNormalizer : public Normalizer {
 public:
  absl::StatusOr<std::string> Normalize(std::string_view text) const override {
    return Lowercase(text);
  }
};

// Strips White_Space characters from the left and/or right.
class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  absl::StatusOr<std::string> Normalize(std::string_view text) const override {
    const CodePoints cps = Decompose(text);
    size_t b = 0;
    size_t e = cps.size();
    while (left_ && b < e && cps.Is(b, kWhiteSpace)) ++b;
    while (right_ && e > b && cps.Is(e - 1, kWhiteSpace)) --e;
    return std::string(
        text.substr(cps.offsets[b], cps.offsets[e] - cps.offsets[b]));
  }

 private:
  bool left_;
  bool right_;
};

absl::StatusOr<std::unique_ptr<Normalizer>> MakeSequence(const Json& j) {
  const Json* list = FindField(j, "normalizers");
  if (list == nullptr || !list->is_array()) {
    return absl::InvalidArgumentError(
        "Sequence normalizer: missing \"normalizers\" array");
  }
  std::vector<std::unique_ptr<Normalizer>> parts;
  for (const Json& item : *list) {
    ASSIGN_OR_RETURN(auto part, MakeNormalizer(item));
    if (part != nullptr) parts.push_back(std::move(part));
  }
  return std::make_unique<SequenceNormalizer>(std::move(parts));
}

}  // namespace

absl::StatusOr<std::string> GetStringPattern(const Json& j,
                                             std::string_view where) {
  const Json* pattern = FindField(j, "pattern");
  if (pattern == nullptr || !pattern->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(where), ": missing \"pattern\""));
  }
  if (FindField(*pattern, "String") == nullptr) {
    return absl::UnimplementedError(absl::StrCat(
        AV(where), ": only {\"String\": ...} patterns are supported"));
  }
  ASSIGN_OR_RETURN(std::string s, GetString(*pattern, "String", where));
  if (s.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(where), ": empty pattern"));
  }
  return s;
}

absl::StatusOr<std::unique_ptr<Normalizer>> MakeNormalizer(const Json& j) {
  if (j.is_null()) return std::unique_ptr<Normalizer>();
  ASSIGN_OR_RETURN(const std::string type, GetString(j, "type", "normalizer"));
  if (type == "Sequence") return MakeSequence(j);
  if (type == "NFC")
    return std::make_unique<UnicodeFormNormalizer>(NormalForm::kNfc);
  if (type == "NFD")
    return std::make_unique<UnicodeFormNormalizer>(NormalForm::kNfd);
  if (type == "NFKC")
    return std::make_unique<UnicodeFormNormalizer>(NormalForm::kNfkc);
  if (type == "NFKD")
    return std::make_unique<UnicodeFormNormalizer>(NormalForm::kNfkd);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Prepend") {
    ASSIGN_OR_RETURN(std::string prefix,
                     GetString(j, "prepend", "Prepend normalizer"));
    return std::make_unique<PrependNormalizer>(std::move(prefix));
  }
  if (type == "Replace") {
    ASSIGN_OR_RETURN(std::string from,
                     GetStringPattern(j, "Replace normalizer"));
    ASSIGN_OR_RETURN(std::string to,
                     GetString(j, "content", "Replace normalizer"));
    return std::make_unique<ReplaceNormalizer>(std::move(from), std::move(to));
  }
  if (type == "Strip") {
    ASSIGN_OR_RETURN(const bool left, GetBool(j, "strip_left", true, "Strip"));
    ASSIGN_OR_RETURN(const bool right,
                     GetBool(j, "strip_right", true, "Strip"));
    return std::make_unique<StripNormalizer>(left, right);
  }
  return absl::UnimplementedError(
      absl::StrCat("unsupported normalizer type: ", type));
}

}  // namespace infernum::models::tokenizer_internal
