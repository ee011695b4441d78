// Engine: the synchronous core of a worker. Owns the paged KV cache, the
// Scheduler (block manager, prefix cache, continuous batching with chunked
// prefill and preemption) and the ModelRunner, and delivers every request's
// outputs to its RequestSink (engine_types.h).
//
// One iteration (nano-vllm style):
//   Step() = Scheduler::Schedule -> ModelRunner::Execute -> Scheduler::Update
//            -> stop checks (EOS unless ignore_eos, stop ids, min_tokens;
//               Scheduler::Finish(id, kStop)) -> sinks.
// Length limits (max_tokens) are decided by the Scheduler.
//
// Not thread-safe: one thread drives it (the CLI and tests directly; the
// server through EngineLoop, engine_loop.h). Sinks are called from inside
// Step, Abort, AbortAll, FailAll and the destructor, never from AddRequest.
//
// Batch invariance: a request's greedy output does not depend on what else
// is in the batch, on chunking, on prefix-cache hits or on preemption, as
// long as the backend's kernels compute each row independently of the
// others (engine_invariance_test checks this on the CPU backend).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/kv_cache.h"
#include "models/llama/llama_model.h"
#include "worker/engine/engine_types.h"
#include "worker/engine/model_runner.h"
#include "worker/engine/scheduler.h"
#include "worker/sampling/stop_conditions.h"

namespace infernum::worker {

// The config with num_blocks (from kv_cache_memory_bytes when 0) and
// max_model_len (the model's context when 0) filled in. InvalidArgument for
// a non-positive size, max_model_len over the context, or a KV cache
// smaller than one block.
absl::StatusOr<EngineConfig> ResolveEngineConfig(
    const EngineConfig& config, const models::LlamaModel& model);

class Engine {
 public:
  // Allocates the KV cache on the model's backend. `model` must outlive the
  // engine. `eos_token_ids` end generation unless a request sets ignore_eos
  // (normally DefaultStopTokenIds). InvalidArgument for a bad config (or
  // a KV cache of less than one block); ResourceExhausted if the cache does
  // not fit in device memory.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(
      models::LlamaModel& model, const EngineConfig& config,
      std::vector<int32_t> eos_token_ids);
  // Live requests get OnFinish(kAbort, Unavailable).
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Everything AddRequest checks except id uniqueness; no side effects.
  // Safe to call from any thread (reads only immutable configuration).
  // InvalidArgument: empty id or prompt, token / stop id out of range,
  //   bad sampling params, negative max_tokens / min_tokens, bad
  //   num_previously_generated, or (chunking off) a prompt over
  //   max_num_batched_tokens.
  // OutOfRange: prompt + max_tokens exceeds max_model_len.
  // ResourceExhausted: prompt + max_tokens can never fit in the KV cache.
  absl::Status ValidateRequest(const EngineRequest& request) const;

  // Validates and queues a request; its outputs go to `sink` (non-null).
  // On error nothing is queued and the sink is never called. AlreadyExists
  // if the id is live; else the errors of ValidateRequest.
  absl::Status AddRequest(EngineRequest request,
                          std::shared_ptr<RequestSink> sink);

  // Ends a live request now: frees its KV blocks and delivers
  // OnFinish(kAbort, reason). NotFound if it is not live. `reason` should
  // be non-OK (Cancelled by default).
  absl::Status Abort(std::string_view request_id,
                     absl::Status reason = absl::CancelledError("aborted"));
  // Aborts every live request with `reason`.
  void AbortAll(const absl::Status& reason);
  // Ends every live request with kError and `error` (after a failed Step).
  void FailAll(const absl::Status& error);

  // One iteration; a no-op without live requests. A failure of the model
  // (or of sampling) ends the affected requests with kError and is not an
  // error of Step; a non-OK return means the engine's state is broken
  // (a bug): the caller should AbortAll and stop.
  absl::Status Step();

  bool HasUnfinishedRequests() const { return !live_.empty(); }
  int num_live_requests() const { return static_cast<int>(live_.size()); }
  EngineStats stats() const;
  // The resolved config: num_blocks and max_model_len are filled in.
  const EngineConfig& config() const { return config_; }
  const std::vector<int32_t>& eos_token_ids() const { return eos_ids_; }
  const Scheduler& scheduler() const { return *scheduler_; }
  const ModelRunner& runner() const { return *runner_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct LiveRequest {
    std::shared_ptr<RequestSink> sink;
    StopConditions stop;  // max_tokens unused: the scheduler decides length
    int min_tokens = 0;
    int num_previously_generated = 0;
    int num_prompt_tokens = 0;
    bool want_logprobs = false;
    Clock::time_point submitted;
    Clock::time_point last_token;
    bool scheduled = false;
    FinalOutput final_output;  // counters and timings, filled as it runs
  };

  Engine(models::LlamaModel& model, const EngineConfig& config,
         std::vector<int32_t> eos_token_ids, models::KvCache kv_cache,
         std::unique_ptr<Scheduler> scheduler);
  int ResolveMaxTokens(const EngineRequest& request) const;
  LiveRequest* Find(std::string_view request_id);
  void RecordScheduled(const ScheduledSequence& seq, Clock::time_point now);
  void HandleToken(const RequestUpdate& update, const SampleResult& sample,
                   Clock::time_point now);
  // Removes a live request (already gone from the scheduler) and delivers
  // its final output.
  void Finalize(std::string_view request_id, FinishReason reason,
                absl::Status error, std::optional<int32_t> stop_token);
  void FailStep(const SchedulerOutput& output, const absl::Status& error);
  void EndAll(FinishReason reason, const absl::Status& status);

  models::LlamaModel& model_;
  const EngineConfig config_;
  const std::vector<int32_t> eos_ids_;
  models::KvCache kv_cache_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<ModelRunner> runner_;
  absl::flat_hash_map<std::string, LiveRequest> live_;
  uint64_t next_seed_;
  // Counters for stats().
  double peak_kv_usage_ = 0;
  int64_t num_steps_ = 0;
  int64_t num_finished_ = 0;
  int64_t prompt_tokens_total_ = 0;
  int64_t computed_prompt_tokens_total_ = 0;
  int64_t generation_tokens_total_ = 0;
};

}  // namespace infernum::worker
