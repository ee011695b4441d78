#include "router/server/choice_decoder.h"

#include <algorithm>

namespace infernum::router {
namespace {

// Prompt ids kept as detokenization context: more than the detokenizer's
// own window, so the first output token decodes as in the full sequence.
constexpr size_t kPromptContext = 16;
// Ids of context for the logprob token texts.
constexpr size_t kLogprobContext = 4;

std::vector<int32_t> Tail(const std::vector<int32_t>& ids) {
  const size_t n = std::min(ids.size(), kPromptContext);
  return std::vector<int32_t>(ids.end() - n, ids.end());
}

}  // namespace

ChoiceDecoder::ChoiceDecoder(const models::Tokenizer& tokenizer,
                             const std::vector<int32_t>& prompt_ids,
                             Options options)
    : tokenizer_(tokenizer),
      options_(std::move(options)),
      detokenizer_(tokenizer, options_.skip_special_tokens, Tail(prompt_ids)),
      matcher_(options_.stop) {
  const size_t n = std::min(prompt_ids.size(), kLogprobContext);
  recent_.assign(prompt_ids.end() - n, prompt_ids.end());
}

std::string ChoiceDecoder::TokenText(int32_t id,
                                     const std::string& recent_text) const {
  std::vector<int32_t> ids = recent_;
  ids.push_back(id);
  auto text = tokenizer_.Decode(ids, /*skip_special_tokens=*/false);
  if (text.ok() && text->compare(0, recent_text.size(), recent_text) == 0) {
    return text->substr(recent_text.size());
  }
  const int32_t single[] = {id};
  text = tokenizer_.Decode(single, /*skip_special_tokens=*/false);
  return text.ok() ? *text : std::string();
}

TokenLogprob ChoiceDecoder::MakeLogprob(const v1::GeneratedToken& token) const {
  const std::string recent_text =
      tokenizer_.Decode(recent_, /*skip_special_tokens=*/false).value_or("");
  TokenLogprob lp;
  lp.token = TokenText(token.token_id(), recent_text);
  lp.logprob = token.logprob();
  for (const v1::TopLogprob& top : token.top_logprobs()) {
    lp.top_logprobs.push_back(
        {TokenText(top.token_id(), recent_text), top.logprob()});
  }
  return lp;
}

absl::StatusOr<ChoiceDecoder::Output> ChoiceDecoder::AddTokens(
    const v1::TokenChunk& chunk) {
  Output out;
  for (const v1::GeneratedToken& token : chunk.tokens()) {
    if (matcher_.stopped()) break;
    absl::StatusOr<std::string> delta = detokenizer_.Append(token.token_id());
    if (!delta.ok()) return delta.status();
    ++num_tokens_;
    if (options_.logprobs) {
      out.logprobs.push_back(MakeLogprob(token));
      recent_.push_back(token.token_id());
      if (recent_.size() > kLogprobContext) recent_.erase(recent_.begin());
    }
    StopMatcher::Result r = matcher_.Feed(*delta);
    out.text += r.text;
  }
  return out;
}

absl::StatusOr<std::string> ChoiceDecoder::Flush() {
  if (matcher_.stopped()) return std::string();
  absl::StatusOr<std::string> rest = detokenizer_.Flush();
  if (!rest.ok()) return rest.status();
  std::string out = matcher_.Feed(*rest).text;
  if (!matcher_.stopped()) out += matcher_.Flush();
  return out;
}

}  // namespace infernum::router
