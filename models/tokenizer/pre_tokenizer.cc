#include "models/tokenizer/pre_tokenizer.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status.h"
#include "models/tokenizer/normalizer.h"
#include "models/tokenizer/pattern.h"
#include "models/tokenizer/unicode.h"

namespace infernum::models::tokenizer_internal {
namespace {

// Splits every piece with `split`, which maps one piece to sub-pieces.
template <typename Fn>
void SplitEach(std::vector<std::string>* pieces, Fn split) {
  std::vector<std::string> out;
  out.reserve(pieces->size());
  for (const std::string& piece : *pieces) {
    if (!piece.empty()) split(piece, &out);
  }
  *pieces = std::move(out);
}

// Emits the non-empty byte ranges of `parts` over `text`.
void EmitParts(const std::string& text, const std::vector<SplitPart>& parts,
               std::vector<std::string>* out) {
  for (const SplitPart& p : parts) {
    if (p.end > p.begin) out->push_back(text.substr(p.begin, p.end - p.begin));
  }
}

// Matches of `m` in `text` plus the gaps between them, as byte ranges.
std::vector<SplitPart> MatchParts(const PatternMatcher& m,
                                  const std::string& text, bool invert) {
  const CodePoints cps = Decompose(text);
  std::vector<SplitPart> parts;
  size_t prev = 0;
  for (const Span& s : FindAll(m, cps)) {
    const size_t b = cps.offsets[s.begin];
    const size_t e = cps.offsets[s.end];
    if (b > prev) parts.push_back({prev, b, invert});
    parts.push_back({b, e, !invert});
    prev = e;
  }
  if (prev < text.size()) parts.push_back({prev, text.size(), invert});
  return parts;
}

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(std::unique_ptr<PatternMatcher> m, SplitBehavior behavior,
                    bool invert)
      : matcher_(std::move(m)), behavior_(behavior), invert_(invert) {}
  void PreTokenize(std::vector<std::string>* pieces, bool) const override {
    SplitEach(pieces,
              [&](const std::string& piece, std::vector<std::string>* out) {
                EmitParts(piece,
                          ApplySplitBehavior(
                              MatchParts(*matcher_, piece, invert_), behavior_),
                          out);
              });
  }

 private:
  std::unique_ptr<PatternMatcher> matcher_;
  SplitBehavior behavior_;
  bool invert_;
};

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space),
        matcher_(use_regex ? MakeGpt2Matcher() : nullptr) {}
  void PreTokenize(std::vector<std::string>* pieces, bool) const override {
    SplitEach(pieces,
              [&](const std::string& piece, std::vector<std::string>* out) {
                std::string text = piece;
                if (add_prefix_space_ && text[0] != ' ') text.insert(0, " ");
                if (matcher_ == nullptr) {
                  out->push_back(BytesToByteLevel(text));
                  return;
                }
                std::vector<std::string> parts;
                EmitParts(text, MatchParts(*matcher_, text, false), &parts);
                for (const std::string& p : parts)
                  out->push_back(BytesToByteLevel(p));
              });
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<PatternMatcher> matcher_;
};

class DigitsPreTokenizer : public PreTokenizer {
 public:
  explicit DigitsPreTokenizer(bool individual) : individual_(individual) {}
  void PreTokenize(std::vector<std::string>* pieces, bool) const override {
    SplitEach(pieces, [&](const std::string& piece,
                          std::vector<std::string>* out) {
      const CodePoints cps = Decompose(piece);
      std::vector<SplitPart> parts;
      for (size_t i = 0; i < cps.size(); ++i) {
        parts.push_back({cps.offsets[i], cps.offsets[i + 1], cps.Is(i, kN)});
      }
      EmitParts(piece,
                ApplySplitBehavior(std::move(parts),
                                   individual_ ? SplitBehavior::kIsolated
                                               : SplitBehavior::kContiguous),
                out);
    });
  }

 private:
  bool individual_;
};

enum class PrependScheme { kAlways, kFirst, kNever };

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme,
                        bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void PreTokenize(std::vector<std::string>* pieces,
                   bool at_text_start) const override {
    bool first = at_text_start;
    SplitEach(
        pieces, [&](const std::string& piece, std::vector<std::string>* out) {
          std::string text = absl::StrReplaceAll(piece, {{" ", replacement_}});
          const bool starts = absl::string_view(text).substr(
                                  0, replacement_.size()) == replacement_;
          if (!starts && (scheme_ == PrependScheme::kAlways ||
                          (scheme_ == PrependScheme::kFirst && first))) {
            text.insert(0, replacement_);
          }
          first = false;
          if (!split_) {
            out->push_back(std::move(text));
            return;
          }
          std::vector<SplitPart> parts;
          size_t prev = 0;
          for (size_t pos = text.find(replacement_); pos != std::string::npos;
               pos = text.find(replacement_, pos + replacement_.size())) {
            if (pos > prev) parts.push_back({prev, pos, false});
            parts.push_back({pos, pos + replacement_.size(), true});
            prev = pos + replacement_.size();
          }
          if (prev < text.size()) parts.push_back({prev, text.size(), false});
          EmitParts(text,
                    ApplySplitBehavior(std::move(parts),
                                       SplitBehavior::kMergedWithNext),
                    out);
        });
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(
      std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts_(std::move(parts)) {}
  void PreTokenize(std::vector<std::string>* pieces,
                   bool at_text_start) const override {
    for (const auto& p : parts_) p->PreTokenize(pieces, at_text_start);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

absl::StatusOr<SplitBehavior> ParseBehavior(const Json& j) {
  ASSIGN_OR_RETURN(const std::string b,
                   GetString(j, "behavior", "Split pre-tokenizer"));
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown Split behavior: ", b));
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> MakeSplit(const Json& j) {
  ASSIGN_OR_RETURN(const SplitBehavior behavior, ParseBehavior(j));
  ASSIGN_OR_RETURN(const bool invert, GetBool(j, "invert", false, "Split"));
  const Json* pattern = FindField(j, "pattern");
  std::unique_ptr<PatternMatcher> matcher;
  if (pattern != nullptr && FindField(*pattern, "Regex") != nullptr) {
    ASSIGN_OR_RETURN(const std::string re,
                     GetString(*pattern, "Regex", "Split"));
    ASSIGN_OR_RETURN(matcher, MakeRegexMatcher(re));
  } else {
    ASSIGN_OR_RETURN(const std::string s,
                     GetStringPattern(j, "Split pre-tokenizer"));
    ASSIGN_OR_RETURN(matcher, MakeLiteralMatcher(s));
  }
  return std::make_unique<SplitPreTokenizer>(std::move(matcher), behavior,
                                             invert);
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> MakeMetaspace(const Json& j) {
  ASSIGN_OR_RETURN(const std::string replacement,
                   GetString(j, "replacement", "Metaspace"));
  if (replacement.empty())
    return absl::InvalidArgumentError("Metaspace: empty replacement");
  PrependScheme scheme = PrependScheme::kAlways;
  if (const Json* s = FindField(j, "prepend_scheme");
      s != nullptr && s->is_string()) {
    const std::string v = s->get<std::string>();
    if (v == "first") {
      scheme = PrependScheme::kFirst;
    } else if (v == "never") {
      scheme = PrependScheme::kNever;
    } else if (v != "always") {
      return absl::InvalidArgumentError(
          absl::StrCat("Metaspace: bad prepend_scheme ", v));
    }
  } else {
    ASSIGN_OR_RETURN(const bool add,
                     GetBool(j, "add_prefix_space", true, "Metaspace"));
    if (!add) scheme = PrependScheme::kNever;
  }
  ASSIGN_OR_RETURN(const bool split, GetBool(j, "split", true, "Metaspace"));
  return std::make_unique<MetaspacePreTokenizer>(replacement, scheme, split);
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> MakeSequence(const Json& j) {
  const Json* list = FindField(j, "pretokenizers");
  if (list == nullptr || !list->is_array()) {
    return absl::InvalidArgumentError(
        "Sequence pre-tokenizer: missing \"pretokenizers\"");
  }
  std::vector<std::unique_ptr<PreTokenizer>> parts;
  for (const Json& item : *list) {
    ASSIGN_OR_RETURN(auto part, MakePreTokenizer(item));
    if (part != nullptr) parts.push_back(std::move(part));
  }
  return std::make_unique<SequencePreTokenizer>(std::move(parts));
}

}  // namespace

std::vector<SplitPart> ApplySplitBehavior(std::vector<SplitPart> parts,
                                          SplitBehavior behavior) {
  std::vector<SplitPart> out;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      return parts;
    case SplitBehavior::kRemoved:
      for (const SplitPart& p : parts) {
        if (!p.is_match) out.push_back(p);
      }
      return out;
    case SplitBehavior::kMergedWithPrevious:
      for (const SplitPart& p : parts) {
        if (p.is_match && !previous_match && !out.empty()) {
          out.back().end = p.end;
        } else {
          out.push_back(p);
        }
        previous_match = p.is_match;
      }
      return out;
    case SplitBehavior::kMergedWithNext:
      for (size_t k = parts.size(); k-- > 0;) {
        const SplitPart& p = parts[k];
        if (p.is_match && !previous_match && !out.empty()) {
          out.back().begin = p.begin;
        } else {
          out.push_back(p);
        }
        previous_match = p.is_match;
      }
      return {out.rbegin(), out.rend()};
    case SplitBehavior::kContiguous:
      for (size_t k = 0; k < parts.size(); ++k) {
        if (k > 0 && parts[k].is_match == previous_match) {
          out.back().end = parts[k].end;
        } else {
          out.push_back(parts[k]);
        }
        previous_match = parts[k].is_match;
      }
      return out;
  }
  return parts;
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> MakePreTokenizer(const Json& j) {
  if (j.is_null()) return std::unique_ptr<PreTokenizer>();
  ASSIGN_OR_RETURN(const std::string type,
                   GetString(j, "type", "pre_tokenizer"));
  if (type == "Sequence") return MakeSequence(j);
  if (type == "Split") return MakeSplit(j);
  if (type == "Metaspace") return MakeMetaspace(j);
  if (type == "ByteLevel") {
    ASSIGN_OR_RETURN(const bool prefix,
                     GetBool(j, "add_prefix_space", true, "ByteLevel"));
    ASSIGN_OR_RETURN(const bool use_regex,
                     GetBool(j, "use_regex", true, "ByteLevel"));
    return std::make_unique<ByteLevelPreTokenizer>(prefix, use_regex);
  }
  if (type == "Digits") {
    ASSIGN_OR_RETURN(const bool individual,
                     GetBool(j, "individual_digits", false, "Digits"));
    return std::make_unique<DigitsPreTokenizer>(individual);
  }
  return absl::UnimplementedError(
      absl::StrCat("unsupported pre_tokenizer type: ", type));
}

}  // namespace infernum::models::tokenizer_internal
