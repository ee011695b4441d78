// From a parsed OpenAI request to worker GenerateRequests: prompt
// tokenization (chat template for chat), model-dependent validation (token
// ids, context length) and sampling parameters.
//
// Every error is an API error (router/api/errors.h) ready for the client:
// InvalidRequest naming the param, or ContextLengthExceeded whose message
// states both the prompt length and the requested completion length.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/infernum/v1/worker.pb.h"
#include "router/api/openai_request.h"
#include "router/server/model_assets.h"

namespace infernum::router {

// Chat: renders the template and tokenizes (BOS not doubled).
absl::StatusOr<std::vector<int32_t>> TokenizeChat(
    const ModelAssets& model, const ChatCompletionRequest& request);

// Completions: tokenizes text (with the tokenizer's special tokens, e.g.
// BOS) or checks pre-tokenized ids against the vocabulary. `index` is the
// prompt's position, for error params.
absl::StatusOr<std::vector<int32_t>> TokenizeCompletionPrompt(
    const ModelAssets& model, const CompletionPrompt& prompt, size_t index);

// Model-dependent option checks: stop_token_ids within the vocabulary.
absl::Status ValidateOptionsForModel(const RequestOptions& options,
                                     const ModelAssets& model);

// max_tokens for a prompt of `prompt_len` tokens. Explicit values must fit
// prompt_len + max_tokens <= context and `cap` (0 = no cap); the default is
// the rest of the context (capped). `noun` ("messages" / "prompt") is used
// in messages. Also checks min_tokens <= max_tokens.
absl::StatusOr<int32_t> ResolveMaxTokens(const RequestOptions& options,
                                         int64_t prompt_len,
                                         const ModelAssets& model, int64_t cap,
                                         std::string_view noun);

// The seed of sample `sample` (0-based, among the n of one prompt):
// `seed` itself for sample 0, a SplitMix64-derived value otherwise, so a
// seeded n > 1 request is reproducible and its choices differ.
int64_t SampleSeed(int64_t seed, int sample);

struct SequenceSpec {
  std::string request_id;
  std::vector<int32_t> prompt_ids;
  int32_t max_tokens = 0;
  int sample = 0;  // Index among the n samples of its prompt.
};

// One worker request: prompt, sampling, stop ids (request stop_token_ids
// plus, unless ignore_eos, the model's extra stop ids), logprobs.
v1::GenerateRequest MakeGenerateRequest(const RequestOptions& options,
                                        const ModelAssets& model,
                                        const SequenceSpec& spec);

// The request that resumes `original` on another worker after `generated`,
// the K output tokens already streamed to the client (worker.proto,
// GenerateRequest.num_previously_generated): prompt = original prompt +
// generated, max_tokens = original max_tokens - K (0 stays 0, "until the
// context is full"), num_previously_generated = original's + K; sampling
// (seed included), min_tokens, stop ids and logprob settings unchanged, so
// the worker continues the same seeded random stream at position K and
// penalizes the K tokens as output. The caller must not resume a request
// whose non-zero max_tokens is <= K (it is complete).
v1::GenerateRequest MakeResumeRequest(const v1::GenerateRequest& original,
                                      const std::vector<int32_t>& generated);

}  // namespace infernum::router
