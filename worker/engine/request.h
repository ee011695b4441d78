// Per-request state owned by the Scheduler. A request is a single sequence
// (n = 1); its token_ids are the prompt followed by the outputs so far.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "worker/engine/block_manager.h"

namespace infernum::worker {

enum class RequestStatus {
  kWaiting,    // queued, never scheduled (no KV blocks)
  kRunning,    // owns KV blocks; scheduled every step it fits
  kPreempted,  // evicted (KV freed), back in the waiting queue; outputs kept
  kFinished,   // done; removed from the scheduler
};

enum class FinishReason {
  kNone,
  kStop,    // stop token/string, decided by the engine (Scheduler::Finish)
  kLength,  // max_tokens reached (decided by Scheduler::Update)
  kAbort,   // cancelled (Scheduler::Abort)
  kError,   // failed after admission (engine: sampling/forward error)
};

std::string_view RequestStatusName(RequestStatus status);
std::string_view FinishReasonName(FinishReason reason);

// What a caller submits to Scheduler::AddRequest.
struct NewRequest {
  std::string request_id;  // unique among live requests; non-empty
  std::vector<int32_t> prompt_token_ids;  // non-empty, ids >= 0
  int max_tokens = 0;                     // > 0: most output tokens to generate
  // Lower value = more important (vLLM's convention): the waiting queue is
  // ordered by (priority, arrival) and preemption evicts the largest
  // (priority, arrival) first. Plain FCFS when every priority is equal.
  int priority = 0;
  double arrival_time = 0.0;  // caller's clock, seconds; informational only
};

struct Request {
  Request(NewRequest r, int64_t arrival_seq)
      : request_id(std::move(r.request_id)),
        token_ids(std::move(r.prompt_token_ids)),
        num_prompt_tokens(static_cast<int>(token_ids.size())),
        max_tokens(r.max_tokens),
        priority(r.priority),
        arrival_time(r.arrival_time),
        arrival_seq(arrival_seq) {}

  int num_tokens() const { return static_cast<int>(token_ids.size()); }
  int num_output_tokens() const { return num_tokens() - num_prompt_tokens; }
  // Known tokens whose KV is not yet in the cache (>= 1 while not finished:
  // the newest sampled token is computed by the next step).
  int num_uncomputed_tokens() const {
    return num_tokens() - num_computed_tokens;
  }
  std::span<const int32_t> prompt_token_ids() const {
    return std::span<const int32_t>(token_ids).first(num_prompt_tokens);
  }
  std::span<const int32_t> output_token_ids() const {
    return std::span<const int32_t>(token_ids).subspan(num_prompt_tokens);
  }

  const std::string request_id;
  std::vector<int32_t> token_ids;  // prompt, then outputs
  const int num_prompt_tokens;
  const int max_tokens;
  const int priority;
  const double arrival_time;
  const int64_t arrival_seq;  // submission order, unique per scheduler

  RequestStatus status = RequestStatus::kWaiting;
  FinishReason finish_reason = FinishReason::kNone;
  // Leading token_ids whose KV is in block_table (advanced by Update; reset
  // to 0 by preemption).
  int num_computed_tokens = 0;
  // Tokens served by the prefix cache at the latest admission.
  int num_cached_tokens = 0;
  int num_preemptions = 0;
  BlockTable block_table;  // empty unless kRunning
};

// Strict weak order of the queues: (priority, arrival_seq) ascending.
struct RequestOrder {
  bool operator()(const Request* a, const Request* b) const {
    return std::tie(a->priority, a->arrival_seq) <
           std::tie(b->priority, b->arrival_seq);
  }
};

}  // namespace infernum::worker
