// Test helpers for the engine: models (stories260K and a random-weight
// Llama), an independent single-sequence greedy reference (SimpleGenerate,
// which bypasses the scheduler, block manager and model runner), random
// prompts, and leak checks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "models/llama/llama_model.h"
#include "worker/engine/engine.h"
#include "worker/engine/output_sink.h"

namespace infernum::worker::testing {

// A model together with the backend that holds its weights.
struct TestModel {
  std::unique_ptr<kernels::Backend> backend;
  std::unique_ptr<models::LlamaModel> model;
};

// stories260K (f32) from the shared models folder, on a CPU backend with
// `num_threads` threads.
TestModel LoadStories(int num_threads);
// A random-weight Llama with bf16 weights (2 layers, hidden 96, GQA 4/2
// heads of 24, vocab 1000, context 2048), deterministic in `seed`.
TestModel LoadDummy(int num_threads, uint64_t seed = 7);

// One reference output token.
struct RefToken {
  int32_t token;
  float logprob;  // log_softmax of the raw logits at token
};

// Greedy generation of `prompt` alone, with SimpleGenerate: up to
// max_tokens tokens, stopping after (and including) a token in stop_ids.
std::vector<RefToken> GreedyReference(
    models::LlamaModel& model, const std::vector<int32_t>& prompt,
    int max_tokens, const std::vector<int32_t>& stop_ids = {});

// `count` prompts with lengths uniform in [min_len, max_len] and ids in
// [first_id, vocab); prompts with an even index start with a common prefix
// of `shared_prefix` ids when shared_prefix > 0.
std::vector<std::vector<int32_t>> RandomPrompts(uint64_t seed, int count,
                                                int min_len, int max_len,
                                                int first_id, int vocab,
                                                int shared_prefix = 0);

// A greedy request with logprobs (num_logprobs = 0) and ignore_eos.
EngineRequest GreedyRequest(const std::string& id, std::vector<int32_t> prompt,
                            int max_tokens);

// Steps until no request is live; Internal after `max_steps` steps.
absl::Status RunToCompletion(Engine& engine, int max_steps = 100000);

// OK iff no KV block is owned by anyone (all free or cached-evictable), the
// block manager is consistent, and the runner holds no request state.
absl::Status CheckNoLeaks(const Engine& engine);

// One engine configuration of the batch-invariance workload (32 mixed
// requests): batched with chunked prefill and prefix caching, one at a
// time, without chunking, without prefix caching, tiny odd budgets, and
// forced preemption (with and without chunking/caching).
struct Variant {
  std::string name;
  EngineConfig config;
  bool expect_preemption = false;
  // Prefix-cache hits need a shared prefix computed in an earlier step than
  // the admission of the request that reuses it.
  bool expect_prefix_hits = true;
};
std::vector<Variant> InvarianceVariants();

}  // namespace infernum::worker::testing
