#include "models/tokenizer/incremental_detokenizer.h"

#include <algorithm>
#include <utility>

#include "common/status.h"

namespace infernum::models {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

bool EndsWithReplacement(const std::string& s) {
  return s.size() >= kReplacement.size() &&
         std::string_view(s).substr(s.size() - kReplacement.size()) ==
             kReplacement;
}

// Length of the longest common prefix of a and b that ends on a UTF-8
// character boundary of both.
size_t CommonPrefix(std::string_view a, std::string_view b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  while (n > 0 && n < b.size() && (static_cast<uint8_t>(b[n]) & 0xC0) == 0x80)
    --n;
  return n;
}

}  // namespace

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer,
                                               bool skip_special_tokens,
                                               std::vector<int32_t> prompt_ids)
    : tokenizer_(tokenizer),
      skip_special_tokens_(skip_special_tokens),
      ids_(std::move(prompt_ids)),
      prefix_offset_(ids_.size() > kPromptContext ? ids_.size() - kPromptContext
                                                  : 0),
      read_offset_(ids_.size()) {}

absl::StatusOr<std::string> IncrementalDetokenizer::DecodeRange(
    size_t begin, size_t end) const {
  return tokenizer_.Decode(
      absl::MakeConstSpan(ids_).subspan(begin, end - begin),
      skip_special_tokens_);
}

absl::StatusOr<std::string> IncrementalDetokenizer::Append(int32_t id) {
  const int32_t one[] = {id};
  RETURN_IF_ERROR(tokenizer_.Decode(one, false).status());  // range check
  ids_.push_back(id);
  ASSIGN_OR_RETURN(const std::string prefix_text,
                   DecodeRange(prefix_offset_, read_offset_));
  ASSIGN_OR_RETURN(const std::string new_text,
                   DecodeRange(prefix_offset_, ids_.size()));
  if (new_text.size() <= prefix_text.size() || EndsWithReplacement(new_text) ||
      new_text.compare(0, prefix_text.size(), prefix_text) != 0) {
    return std::string();  // Nothing complete yet: keep widening the window.
  }
  prefix_offset_ = read_offset_;
  read_offset_ = ids_.size();
  return new_text.substr(prefix_text.size());
}

absl::StatusOr<std::string> IncrementalDetokenizer::Flush() {
  if (read_offset_ == ids_.size()) return std::string();
  ASSIGN_OR_RETURN(const std::string prefix_text,
                   DecodeRange(prefix_offset_, read_offset_));
  ASSIGN_OR_RETURN(const std::string new_text,
                   DecodeRange(prefix_offset_, ids_.size()));
  prefix_offset_ = read_offset_;
  read_offset_ = ids_.size();
  return new_text.substr(CommonPrefix(prefix_text, new_text));
}

}  // namespace infernum::models
