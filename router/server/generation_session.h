// The Generate streams of one HTTP request (n choices x prompts), merged
// into one ordered event feed for the request's handler thread.
//
// Each sequence is one server-streaming Generate RPC on the gRPC callback
// API, so a request costs no extra threads. Events of a sequence arrive in
// stream order, and the caller sees each sequence as ONE uninterrupted
// stream even when it moves between workers:
//
// - Retry (nothing streamed yet): a worker failure (see below) sends the
//   sequence to another healthy worker of the model, up to max_attempts
//   dispatches in all.
// - Migration (tokens streamed): a worker failure resumes the sequence on
//   another healthy worker with MakeResumeRequest (original prompt + the K
//   tokens already passed to the caller, max_tokens - K,
//   num_previously_generated = K, same seed and sampling), up to
//   max_migrations times. Tokens of the failed attempt that the caller has
//   not received yet are dropped, so nothing is lost or duplicated. The
//   final message is rewritten to describe the whole sequence:
//   prompt_tokens = the original prompt, completion_tokens = K + the new
//   attempt's count, cached_prompt_tokens capped at the original prompt.
//   A failure after all max_tokens were streamed (before the final) ends
//   the sequence with a LENGTH final instead.
// - Worker failure: the stream ends with a status that is neither OK with
//   a final, nor a request error (INVALID_ARGUMENT, OUT_OF_RANGE,
//   FAILED_PRECONDITION, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED,
//   UNAUTHENTICATED, UNIMPLEMENTED), nor DEADLINE_EXCEEDED (the request's
//   own deadline, reported as a timeout); or it sends a FINISH_REASON_ABORT
//   final (drain); or it stalls: no message for stall_timeout on an open
//   stream (measured from dispatch, then from each message; before the
//   first message only while the pool also sees the worker unhealthy, since
//   a request may wait in a busy worker's queue). A stalled call
//   is cancelled. UNAVAILABLE and stalls also MarkUnavailable the worker in
//   the pool. A FINISH_REASON_ERROR final is not retried (reported as is).
// - Seeds: a request without a seed gets a random one here, before its
//   first dispatch, so a migrated random stream continues the same stream
//   (the worker would otherwise pick its own, unknown to the router).
//
// When no retry / migration is possible, the sequence ends with a kError
// event whose status keeps the failure's code (UNAVAILABLE -> 503, ...) and
// says why it could not be moved. Counters (when not null): retries,
// migrations, stalls, failed_sequences (a sequence ended by a worker
// failure it could not recover from).
//
// Threading: every method must be called from one thread (the owner);
// gRPC's threads only append to the internal queue. Stall checks run inside
// Next(), so the owner must keep calling it while streams are open. The
// destructor cancels every open stream and waits until gRPC is done with
// them, so the workers abort and free the sequences' KV cache at once.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "proto/infernum/v1/worker.pb.h"
#include "router/server/router_counters.h"
#include "router/server/wake_signal.h"
#include "router/server/worker_pool.h"

namespace infernum::router {

struct SequenceEvent {
  enum class Kind { kTokens, kFinal, kError };
  int sequence = 0;
  Kind kind = Kind::kTokens;
  v1::TokenChunk chunk;     // kTokens
  v1::GenerateFinal final;  // kFinal
  absl::Status error;       // kError (never OK)
  // kError only: nothing of this sequence had been streamed (the worker
  // rejected the request, or none was reachable).
  bool before_first_token = false;
};

class GenerationSession {
 public:
  struct Options {
    std::string model_id;
    // Candidates for the first dispatch (from ModelRegistry::Find); retries
    // and migrations ask the registry again, so workers discovered since
    // the request started can take over.
    std::vector<int> route_workers;
    absl::Time deadline = absl::InfiniteFuture();
    // Dispatches of a sequence before its first token (1 = no retry).
    int max_attempts = 3;
    // An open stream silent for this long is a stalled worker. Zero,
    // negative or infinite: no stall detection.
    absl::Duration stall_timeout = absl::Seconds(30);
    // Resumes of a sequence after tokens were streamed (0 = never).
    int max_migrations = 3;
    RouterCounters* counters = nullptr;  // May be null.
  };

  // `pool` must outlive the session. Nothing starts before Start().
  // Requests without a seed get a random one (see above).
  GenerationSession(WorkerPool* pool, Options options,
                    std::vector<v1::GenerateRequest> requests);
  ~GenerationSession();

  GenerationSession(const GenerationSession&) = delete;
  GenerationSession& operator=(const GenerationSession&) = delete;

  // Opens one stream per request. Error (kServiceUnavailable API error) when
  // no worker can take one; streams already opened are cancelled later by
  // the destructor.
  absl::Status Start();

  // The next event of any unfinished sequence, waiting at most `timeout`;
  // nullopt on timeout. Also detects stalls and moves failed sequences.
  // After a sequence's kFinal or kError (or Cancel) no more events come for
  // it.
  std::optional<SequenceEvent> Next(absl::Duration timeout);

  // Ends one sequence now (e.g. a stop string matched): cancels its stream;
  // it is never retried or migrated.
  void Cancel(int sequence);
  void CancelAll();

  // True when an event is waiting (Next would not block).
  bool HasQueued();

  int num_sequences() const { return static_cast<int>(requests_.size()); }
  // The request actually sent to the workers first (seed filled in).
  const v1::GenerateRequest& request(int sequence) const {
    return requests_.at(sequence);
  }
  // Addresses of every worker a stream was opened on (first use order;
  // retries and migrations included).
  const std::vector<std::string>& workers_used() const { return workers_used_; }

 private:
  class Call;
  struct Raw {
    int call = 0;
    bool done = false;  // OnDone: `status` is set, `response` unused.
    v1::GenerateResponse response;
    grpc::Status status;
  };
  struct SequenceState {
    int call = -1;    // Index into calls_ of the current attempt.
    int worker = -1;  // Its worker.
    int attempts = 0;
    int migrations = 0;
    bool finished = false;
    std::vector<int> excluded;       // Workers that failed it.
    std::vector<int32_t> generated;  // Token ids passed to the caller.
    int32_t resumed_from = 0;        // generated.size() at this dispatch.
  };

  // Picks a worker and opens a stream for `sequence` (its original request,
  // or the resume request when tokens were generated).
  absl::Status Dispatch(int sequence);
  // The current attempt of `sequence` failed with `cause` (a worker
  // failure): retries or migrates it, or returns the event that ends it.
  std::optional<SequenceEvent> Recover(int sequence, const absl::Status& cause,
                                       bool mark_down);
  // Handles OnDone of the sequence's current call.
  std::optional<SequenceEvent> OnCallDone(int sequence, const grpc::Status& s);
  std::optional<SequenceEvent> OnFinal(int sequence, v1::GenerateFinal final);
  // Cancels and recovers the first stalled sequence, if any; the event
  // that ends it when it cannot be moved.
  std::optional<SequenceEvent> CheckStalls();
  // When the next stall check is due (InfiniteFuture if none).
  absl::Time NextStallCheck() const;
  std::optional<SequenceEvent> Process(Raw raw);
  SequenceEvent Fail(int sequence, absl::Status status);
  void Count(std::atomic<uint64_t> RouterCounters::*counter);
  void Push(Raw raw);
  void CallDone(Raw raw);

  WorkerPool* pool_;
  Options options_;
  std::vector<v1::GenerateRequest> requests_;
  std::vector<SequenceState> sequences_;
  std::vector<std::unique_ptr<Call>> calls_;
  std::vector<std::string> workers_used_;  // Every attempt, owner-only.

  std::mutex mu_;               // Guards queue_ and live_calls_.
  std::condition_variable cv_;  // live_calls_ changed (the destructor).
  WakeSignal wake_;             // queue_ grew (Next).
  std::deque<Raw> queue_;
  int live_calls_ = 0;
};

}  // namespace infernum::router
