// tokenizer.json "pre_tokenizer" section: Split (known regexes or literal
// strings, every split behavior, invert), ByteLevel, Digits, Metaspace and
// Sequence. Pre-tokenizers cut normalized text into "words" that the model
// encodes independently.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/tokenizer/json_util.h"

namespace infernum::models::tokenizer_internal {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces every piece of *pieces (valid UTF-8) by its sub-pieces, in
  // order; empty pieces are dropped. `at_text_start` is true when the first
  // piece begins at offset 0 of the caller's input (Metaspace "first").
  virtual void PreTokenize(std::vector<std::string>* pieces,
                           bool at_text_start) const = 0;
};

// Builds a pre-tokenizer from its JSON; null JSON yields nullptr (none).
absl::StatusOr<std::unique_ptr<PreTokenizer>> MakePreTokenizer(const Json& j);

// How a Split keeps its matches (HF SplitDelimiterBehavior).
enum class SplitBehavior {
  kRemoved,
  kIsolated,
  kMergedWithPrevious,
  kMergedWithNext,
  kContiguous
};

// One piece of a split: [begin, end) byte offsets and whether it is a match.
struct SplitPart {
  size_t begin;
  size_t end;
  bool is_match;
};

// Applies a split behavior to parts that cover a text in order (matches and
// the gaps between them); returns the resulting pieces' byte ranges.
std::vector<SplitPart> ApplySplitBehavior(std::vector<SplitPart> parts,
                                          SplitBehavior behavior);

}  // namespace infernum::models::tokenizer_internal
