// Scheduler: decides, once per engine step, which tokens of which requests
// the model computes, within a token budget and the KV-cache capacity.
//
// Engine loop (single thread; Engine::Step = Schedule -> Execute -> Update):
//   SchedulerOutput out = scheduler.Schedule();
//   ModelRunnerOutput res = runner.Execute(out);   // builds a ForwardBatch
//   auto updates = scheduler.Update(out, res);     // appends sampled tokens
//   for each update: detokenize; on EOS/stop string -> scheduler.Finish(id,
//   FinishReason::kStop).
// AddRequest / Abort / Finish may be called between steps (also between
// Schedule and Update: Update then skips requests that are gone).
//
// Policy per step (after nano-vllm / vLLM v1):
//   1. running decodes (1 token each), in (priority, arrival) order;
//   2. running prefills continuing a chunked prompt, same order;
//   3. waiting requests, head first (FCFS within a priority), while the
//      budget, max_num_seqs and the KV cache allow; the head that does not
//      fit blocks the queue. Skipped in a step that preempted.
// When a running request needs a block and none is free, the running request
// with the largest (priority, arrival) is preempted by recompute: its blocks
// are freed, its outputs kept, and it re-enters the waiting queue at its
// original (priority, arrival) place; when re-admitted its prompt + outputs
// are prefilled again (mostly from the prefix cache).
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/engine/block_manager.h"
#include "worker/engine/request.h"

namespace infernum::worker {

struct SchedulerConfig {
  int max_num_batched_tokens = 2048;  // token budget per step; > 0
  int max_num_seqs = 256;             // running requests at most; > 0
  int max_model_len = 4096;           // prompt + max_tokens at most; > 0
  // Off: a prompt is scheduled only whole (and one longer than
  // max_num_batched_tokens is rejected at AddRequest). The recompute of a
  // preempted request is still chunked if it exceeds the budget.
  bool enable_chunked_prefill = true;
  BlockManagerConfig kv_cache;
};

inline constexpr int32_t kNoSampledToken = -1;

// One request's work in a step. The scheduler -> model-runner contract.
struct ScheduledSequence {
  std::string request_id;
  // Tokens to compute now: the request's tokens (prompt, then outputs)
  // [start_position, start_position + token_ids.size()). One token for a
  // decode; a prompt chunk (or a whole prompt) for a prefill.
  std::vector<int32_t> token_ids;
  // Tokens whose KV is already cached = num_computed_tokens (including a
  // prefix-cache hit). Row i is at position start_position + i: positions
  // are contiguous.
  int32_t start_position = 0;
  // Context after this step = start_position + token_ids.size(); attention
  // covers positions [0, seq_len).
  int32_t seq_len = 0;
  // Physical KV blocks; block_ids[j] holds positions [j * block_size,
  // (j + 1) * block_size); covers at least seq_len positions. The slot of
  // position p is block_ids[p / block_size] * block_size + p % block_size.
  // Blocks before start_position may be shared with other requests and are
  // only read; this step writes exactly the slots of its own rows.
  std::vector<int32_t> block_ids;
  // True when this step reaches the last known token (seq_len == all tokens):
  // the runner computes logits of the last row and samples one token. False
  // for a prefill chunk that stops short of the end of its prompt.
  bool sample = false;
  // First step since (re)admission: block table and prompt are new to the
  // runner (a resumed request has start_position > 0 only on a cache hit).
  bool newly_admitted = false;
  int32_t num_prompt_tokens = 0;  // of the request, for penalties/stats

  int num_new_tokens() const { return static_cast<int>(token_ids.size()); }
};

struct SchedulerOutput {
  int64_t step_id = 0;  // hand back unchanged to Update
  int block_size = 0;   // KV block size, for slot computation
  // Decodes first, then prefills; a request appears at most once.
  std::vector<ScheduledSequence> seqs;
  int num_batched_tokens = 0;  // sum of token_ids sizes (<= the budget)
  // Preempted during this Schedule: their KV is gone; drop runner state.
  std::vector<std::string> preempted_request_ids;
  // Finished or aborted since the previous Schedule; drop runner state.
  std::vector<std::string> finished_request_ids;

  bool empty() const { return seqs.empty(); }
};

// What the runner returns for one SchedulerOutput.
struct ModelRunnerOutput {
  // Parallel to SchedulerOutput::seqs: the sampled token where sample is
  // true (>= 0); ignored (use kNoSampledToken) where it is false.
  std::vector<int32_t> sampled_token_ids;
};

// Per request that sampled a token in Update.
struct RequestUpdate {
  std::string request_id;
  int32_t new_token_id = kNoSampledToken;
  int num_output_tokens = 0;  // including new_token_id
  bool finished = false;      // only kLength is decided here
  FinishReason finish_reason = FinishReason::kNone;
};

struct SchedulerStats {
  int num_waiting = 0;  // including preempted
  int num_running = 0;
  int64_t num_preemptions = 0;
  int64_t num_steps = 0;
  BlockManagerStats kv_cache;
};

class Scheduler {
 public:
  // InvalidArgument for a bad config.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(
      const SchedulerConfig& config);

  // Validates and queues a request. InvalidArgument: empty id, empty prompt,
  // negative token id, max_tokens < 1, prompt + max_tokens > max_model_len, or
  // (chunking off) prompt longer than max_num_batched_tokens. AlreadyExists: id
  // already live. ResourceExhausted: prompt + max_tokens can never fit in the
  // whole cache.
  absl::Status AddRequest(NewRequest request);

  // Removes a request (waiting or running) and frees its blocks at once.
  // NotFound if it is not live.
  absl::Status Abort(std::string_view request_id);
  // Same with an explicit reason (kStop from the engine). InvalidArgument
  // for kNone.
  absl::Status Finish(std::string_view request_id, FinishReason reason);

  // Plans one step (see the policy above); allocates/grows block tables and
  // may preempt. Must be followed by Update(output) before the next Schedule
  // unless the output is empty (CHECKed).
  SchedulerOutput Schedule();

  // Applies a step's results: advances num_computed_tokens, caches newly
  // full blocks, appends sampled tokens and finishes requests at max_tokens.
  // Returns one RequestUpdate per token appended. FailedPrecondition if
  // `output` is not the pending step; InvalidArgument (nothing changed) on a
  // size mismatch or a missing token where sample is true.
  absl::StatusOr<std::vector<RequestUpdate>> Update(
      const SchedulerOutput& output, const ModelRunnerOutput& result);

  bool HasUnfinishedRequests() const { return !requests_.empty(); }
  // nullptr if not live. Valid until the next mutating call.
  const Request* GetRequest(std::string_view request_id) const;
  SchedulerStats stats() const;
  const SchedulerConfig& config() const { return config_; }
  const BlockManager& block_manager() const { return *block_manager_; }

 private:
  struct StepEntry {
    Request* request;
    int num_new_tokens;
    bool newly_admitted;
  };

  Scheduler(const SchedulerConfig& config,
            std::unique_ptr<BlockManager> block_manager);
  Request* Find(std::string_view request_id) const;
  bool MayChunk(const Request& r) const;
  void ScheduleRunning(Request* r, int num_new_tokens);
  void AdmitWaiting();
  void Preempt(Request* victim);
  void FinishRequest(Request* r, FinishReason reason);
  SchedulerOutput BuildOutput();

  const SchedulerConfig config_;
  // Declared before requests_: BlockTables must die before their manager.
  std::unique_ptr<BlockManager> block_manager_;
  absl::flat_hash_map<std::string, std::unique_ptr<Request>> requests_;
  std::set<Request*, RequestOrder> waiting_;
  std::set<Request*, RequestOrder> running_;
  int64_t next_arrival_seq_ = 0;
  int64_t step_id_ = 0;
  bool step_pending_ = false;
  std::vector<std::string> finished_since_schedule_;
  int64_t num_preemptions_ = 0;
  // Scratch of the Schedule call in progress.
  std::vector<StepEntry> step_;
  int budget_ = 0;
  std::vector<std::string> step_preempted_;
};

}  // namespace infernum::worker
