// The worker engine's public data types: configuration, a submitted request,
// the per-request output events and the sink that receives them, and the
// engine-wide statistics (for metrics and GetLoad).
//
// Output contract, per accepted request (Engine::AddRequest or
// EngineLoop::Submit returned OK):
//   zero or more RequestSink::OnToken, in generation order, then exactly one
//   RequestSink::OnFinish; nothing after OnFinish.
// A token that ends the request by being an EOS / stop id is NOT delivered
// through OnToken (as the worker proto says); FinalOutput::stop_token_id
// names it and num_output_tokens counts it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "worker/engine/request.h"
#include "worker/sampling/logprobs.h"
#include "worker/sampling/sampling_params.h"

namespace infernum::worker {

struct EngineConfig {
  int block_size = 16;  // KV block (page) size in tokens; > 0
  // KV cache size: num_blocks when > 0, else as many blocks as fit in
  // kv_cache_memory_bytes (one of the two must be positive).
  int num_blocks = 0;
  int64_t kv_cache_memory_bytes = 0;
  int max_num_seqs = 256;             // running requests at most
  int max_num_batched_tokens = 2048;  // token budget per step
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;
  // Prompt + max_tokens at most; 0 => the model's max_position_embeddings.
  // Must not exceed it.
  int max_model_len = 0;
  // CUDA backend: replay plain decode steps of up to max_num_seqs sequences
  // from CUDA graphs captured per batch and context bucket (the worker's
  // --no-cuda-graphs clears it). Ignored on other backends.
  bool cuda_graphs = true;
  // Tests: run the padded decode path of CUDA graphs eagerly on a backend
  // without graphs (see models::DecodeGraphOptions::pad_without_graphs).
  bool pad_decode_without_graphs = false;
};

struct EngineRequest {
  std::string request_id;  // non-empty, unique among live requests
  // Full prompt (BOS included where the model needs it); non-empty, ids in
  // [0, vocab_size). With num_previously_generated = K, its last K tokens
  // are outputs of an earlier attempt (resume; see worker.proto).
  std::vector<int32_t> prompt_token_ids;
  SamplingParams sampling;  // validated at submission
  // Most tokens to generate now (K excluded); 0 => until the context
  // (max_model_len) or the whole KV cache is full.
  int max_tokens = 16;
  // EOS / stop ids cannot end the request before this many outputs (counting
  // the K previous ones); their logits are masked to -inf until then.
  int min_tokens = 0;
  std::vector<int32_t> stop_token_ids;  // extra ids that end generation
  bool ignore_eos = false;  // the model's EOS ids do not stop (stop ids do)
  int priority = 0;         // lower = scheduled first; FCFS among equals
  int num_previously_generated = 0;  // K in [0, prompt length)
};

// One generated token.
struct TokenOutput {
  int32_t token_id = -1;
  int index = 0;  // 0-based among this request's new outputs
  // Present iff sampling.num_logprobs >= 0: log_softmax of the raw logits
  // at token_id, and the num_logprobs most likely tokens (most likely first).
  std::optional<float> logprob;
  std::vector<TokenLogprob> top_logprobs;
};

// Seconds, measured with std::chrono::steady_clock from submission.
struct RequestTimings {
  double queue_time = 0;  // submission -> first scheduled (0 if never)
  // submission -> first token (stop token included); -1 if none.
  double time_to_first_token = -1;
  // Between consecutive generated tokens (one fewer than the tokens).
  std::vector<double> inter_token_latencies;
  double e2e_latency = 0;  // submission -> finish
};

struct FinalOutput {
  // kStop (EOS / stop id), kLength (max_tokens, context or cache limit),
  // kAbort (Abort / shutdown) or kError (see `error`).
  FinishReason finish_reason = FinishReason::kNone;
  // OK for kStop / kLength; for kAbort why (Cancelled: Abort; Unavailable:
  // shutdown); for kError the failure.
  absl::Status error;
  std::optional<int32_t> stop_token_id;  // for kStop
  int num_prompt_tokens = 0;             // len(prompt_token_ids)
  // Prompt tokens served by the prefix cache (at the first admission).
  int num_cached_prompt_tokens = 0;
  // Prompt tokens actually run through the model, recomputation after a
  // preemption included (= prompt - cached without preemption).
  int num_computed_prompt_tokens = 0;
  int num_output_tokens = 0;  // new tokens generated, stop token included
  int num_preemptions = 0;
  RequestTimings timings;
};

// Receives one request's outputs. Called on the engine's thread (the
// EngineLoop thread for async use) while the engine is inside Step /
// AddRequest / Abort: implementations must be quick, must not block on the
// engine, and must not call the synchronous Engine back (calling
// EngineLoop::Abort is fine). Each sink serves one request.
class RequestSink {
 public:
  virtual ~RequestSink() = default;
  virtual void OnToken(const TokenOutput& token) = 0;
  virtual void OnFinish(const FinalOutput& final_output) = 0;
};

struct EngineStats {
  int num_running = 0;
  int num_waiting = 0;  // preempted included
  int num_blocks_total = 0;
  int num_blocks_used = 0;    // owned by live requests
  double kv_cache_usage = 0;  // num_blocks_used / num_blocks_total
  double peak_kv_cache_usage = 0;
  // Prefix cache, in tokens (vLLM's convention): looked up / found.
  int64_t prefix_cache_queries = 0;
  int64_t prefix_cache_hits = 0;
  int64_t num_preemptions = 0;
  int64_t num_steps = 0;              // non-empty model steps
  int64_t num_requests_finished = 0;  // any finish reason
  // Prompt tokens of accepted requests / prompt tokens actually computed
  // (cache hits excluded, recomputation included) / sampled tokens.
  int64_t prompt_tokens_total = 0;
  int64_t computed_prompt_tokens_total = 0;
  int64_t generation_tokens_total = 0;
};

}  // namespace infernum::worker
