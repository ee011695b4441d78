// Streaming detokenization: feed generated ids one at a time and get back
// only newly completed text.
//
// Uses the "prefix window" method of vLLM / TGI: it decodes a short window of
// recent ids twice (without and with the new ids) and emits the difference
// once the window's text no longer ends in U+FFFD. So it never emits half a
// UTF-8 character (a byte-fallback emoji arrives whole), and SentencePiece's
// leading-space stripping applies exactly as in a full Decode.
//
// Contract: the concatenation of everything Append and Flush return equals
// Decode(prompt + ids) minus the text of Decode(prompt) (with no prompt: all
// of Decode(ids)), whenever the ids hold no invalid byte sequence. Not
// thread-safe; one instance per sequence.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/tokenizer/tokenizer.h"

namespace infernum::models {

class IncrementalDetokenizer {
 public:
  // `tokenizer` must outlive this object. `prompt_ids` only give context
  // for the first generated tokens; their text is never emitted.
  IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens,
                         std::vector<int32_t> prompt_ids = {});

  // Adds one id; returns the text it completes (maybe ""). InvalidArgument
  // for an id outside the vocabulary (the id is then not added).
  absl::StatusOr<std::string> Append(int32_t id);

  // Returns all text still held back (e.g. an incomplete character, which
  // comes out as U+FFFD as in Decode). Call once at the end of the stream.
  absl::StatusOr<std::string> Flush();

  // All ids so far, prompt included.
  const std::vector<int32_t>& ids() const { return ids_; }

 private:
  // Decodes ids_[begin, end).
  absl::StatusOr<std::string> DecodeRange(size_t begin, size_t end) const;

  static constexpr size_t kPromptContext = 5;
  const Tokenizer& tokenizer_;
  bool skip_special_tokens_;
  std::vector<int32_t> ids_;
  size_t prefix_offset_;  // start of the decode window
  size_t read_offset_;    // end of the text already emitted
};

}  // namespace infernum::models
