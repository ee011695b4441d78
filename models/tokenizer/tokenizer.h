// Hugging Face tokenizer.json tokenizer (BPE family), written from scratch.
//
// Loads tokenizer.json (+ tokenizer_config.json) and encodes / decodes with
// the ids and text of HF's Rust `tokenizers` crate as transformers drives it:
//   Encode: added tokens are cut out of the raw text; each remaining piece is
//   normalized, normalized added tokens are cut out, the rest is
//   pre-tokenized and BPE-encoded; then the post-processor adds BOS/EOS.
//   Like transformers' Llama/Gemma fast tokenizers, tokenizer_config.json's
//   add_bos_token / add_eos_token (when present) replace the post-processor
//   with "[bos] $A [eos]" (DeepSeek-V3's config adds BOS that way).
//   Decode: ids -> token strings (added tokens by content) -> decoder chain.
//   clean_up_tokenization_spaces is not applied (HF's Rust decode does not);
//   call CleanUpTokenizationSpaces() for transformers' Python behaviour.
//
// A Tokenizer is immutable after loading; all methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace infernum::models {

namespace tokenizer_internal {
class AddedVocabulary;
class BpeModel;
class Decoder;
class Normalizer;
class PostProcessor;
class PreTokenizer;
}  // namespace tokenizer_internal

class Tokenizer {
 public:
  // Reads <dir>/tokenizer.json and, if present, <dir>/tokenizer_config.json
  // and <dir>/chat_template.jinja (used when the config has no template).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromDirectory(
      const std::string& dir);

  // Builds from file contents; `tokenizer_config_json` may be "" (no config).
  // Malformed JSON, missing fields and unsupported components are errors.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(
      const std::string& tokenizer_json,
      const std::string& tokenizer_config_json);

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Encodes UTF-8 text; InvalidArgument if `text` is not valid UTF-8.
  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text,
                                              bool add_special_tokens) const;

  // Decodes ids; InvalidArgument on an id outside the vocabulary.
  // Special added tokens are dropped when skip_special_tokens is true.
  absl::StatusOr<std::string> Decode(absl::Span<const int32_t> ids,
                                     bool skip_special_tokens) const;

  // Size of the id space: one past the largest model or added-token id.
  int vocab_size() const;
  // Added tokens first, then the model vocab (HF order).
  std::optional<int32_t> TokenToId(std::string_view token) const;
  // The raw token string ("" for an unknown id).
  std::string IdToToken(int32_t id) const;
  // True for added tokens marked special.
  bool IsSpecial(int32_t id) const;

  // From tokenizer_config.json (the token strings resolved to ids).
  std::optional<int32_t> bos_token_id() const { return bos_id_; }
  std::optional<int32_t> eos_token_id() const { return eos_id_; }
  std::optional<int32_t> pad_token_id() const { return pad_id_; }
  std::optional<int32_t> unk_token_id() const { return unk_id_; }
  // Raw Jinja chat template, "" if none.
  const std::string& chat_template() const { return chat_template_; }
  // tokenizer_config.json's clean_up_tokenization_spaces (default false).
  bool clean_up_tokenization_spaces() const { return clean_up_spaces_; }

 private:
  Tokenizer();
  absl::Status LoadConfig(const std::string& config_json);
  absl::Status EncodeSegment(std::string_view text, bool at_text_start,
                             std::vector<int32_t>* ids) const;

  std::unique_ptr<tokenizer_internal::Normalizer> normalizer_;
  std::unique_ptr<tokenizer_internal::PreTokenizer> pre_tokenizer_;
  std::unique_ptr<tokenizer_internal::BpeModel> model_;
  std::unique_ptr<tokenizer_internal::PostProcessor> post_processor_;
  std::unique_ptr<tokenizer_internal::Decoder> decoder_;
  std::unique_ptr<tokenizer_internal::AddedVocabulary> added_;
  std::optional<int32_t> bos_id_, eos_id_, pad_id_, unk_id_;
  std::string chat_template_;
  bool clean_up_spaces_ = false;
  int vocab_size_ = 0;
};

// transformers' clean_up_tokenization: removes the space before . ? ! , and
// English contractions (" n't", " 'm", " 's", " 've", " 're", " ' ").
std::string CleanUpTokenizationSpaces(std::string_view text);

}  // namespace infernum::models
