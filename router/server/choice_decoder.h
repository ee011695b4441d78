// Turns one sequence's streamed token ids into text for one choice:
// incremental detokenization (special tokens skipped), stop strings (held
// back across token boundaries and never emitted; StopMatcher) and
// per-token logprobs. Not thread-safe; one per sequence.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/tokenizer/incremental_detokenizer.h"
#include "models/tokenizer/tokenizer.h"
#include "proto/infernum/v1/worker.pb.h"
#include "router/api/openai_response.h"
#include "router/api/stop_matcher.h"

namespace infernum::router {

class ChoiceDecoder {
 public:
  struct Options {
    std::vector<std::string> stop;  // Stop strings.
    bool logprobs = false;          // Collect TokenLogprob per token.
    bool skip_special_tokens = true;
  };

  // `tokenizer` must outlive the decoder. `prompt_ids` give detokenization
  // context (only the last few are kept); their text is never emitted.
  ChoiceDecoder(const models::Tokenizer& tokenizer,
                const std::vector<int32_t>& prompt_ids, Options options);

  struct Output {
    std::string text;                    // Newly emittable text.
    std::vector<TokenLogprob> logprobs;  // One per consumed token.
  };

  // Consumes the chunk's tokens in order, stopping at the token that
  // completes a stop string (later tokens are ignored; stopped() turns
  // true). InvalidArgument for a token id the tokenizer does not know.
  absl::StatusOr<Output> AddTokens(const v1::TokenChunk& chunk);

  // End of the stream without a stop string: the text still held back.
  absl::StatusOr<std::string> Flush();

  // A stop string matched.
  bool stopped() const { return matcher_.stopped(); }
  // Tokens consumed so far (up to and including the stop-completing one).
  int64_t num_tokens() const { return num_tokens_; }

 private:
  TokenLogprob MakeLogprob(const v1::GeneratedToken& token) const;
  // Text `id` adds after the recent ids (so SentencePiece's "▁" shows as a
  // leading space); the token's own decode when that is not a clean suffix.
  std::string TokenText(int32_t id, const std::string& recent_text) const;

  const models::Tokenizer& tokenizer_;
  Options options_;
  models::IncrementalDetokenizer detokenizer_;
  StopMatcher matcher_;
  int64_t num_tokens_ = 0;
  std::vector<int32_t> recent_;  // Last few ids, context for TokenText.
};

}  // namespace infernum::router
