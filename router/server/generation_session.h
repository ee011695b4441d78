// The Generate streams of one HTTP request (n choices x prompts), merged
// into one ordered event feed for the request's handler thread.
//
// Each sequence is one server-streaming Generate RPC on the gRPC callback
// API, so a request costs no extra threads. Events of a sequence arrive in
// stream order. A sequence whose worker answers UNAVAILABLE or
// RESOURCE_EXHAUSTED before streaming anything is retried on another healthy
// worker of the model (up to max_attempts; an UNAVAILABLE worker is also
// marked down in the pool); that is invisible to the caller.
//
// Threading: every method must be called from one thread (the owner);
// gRPC's threads only append to the internal queue. The destructor cancels
// every open stream and waits until gRPC is done with them, so the workers
// abort and free the sequences' KV cache at once.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "proto/infernum/v1/worker.pb.h"
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
    std::vector<int> route_workers;  // From ModelRegistry::Find.
    absl::Time deadline = absl::InfiniteFuture();
    int max_attempts = 3;
  };

  // `pool` must outlive the session. Nothing starts before Start().
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
  // nullopt on timeout. After a sequence's kFinal or kError (or Cancel) no
  // more events come for it.
  std::optional<SequenceEvent> Next(absl::Duration timeout);

  // Ends one sequence now (e.g. a stop string matched): cancels its stream.
  void Cancel(int sequence);
  void CancelAll();

  int num_sequences() const { return static_cast<int>(requests_.size()); }

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
    bool delivered = false;  // Some tokens were passed to the caller.
    bool finished = false;
    std::vector<int> excluded;  // Workers that refused it.
  };

  absl::Status StartAttempt(int sequence);
  // Handles OnDone of the sequence's current call; returns the event to
  // surface, or nullopt when the sequence was retried elsewhere.
  std::optional<SequenceEvent> OnCallDone(int sequence, const grpc::Status& s);
  void Push(Raw raw);
  void CallDone(Raw raw);

  WorkerPool* pool_;
  Options options_;
  std::vector<v1::GenerateRequest> requests_;
  std::vector<SequenceState> sequences_;
  std::vector<std::unique_ptr<Call>> calls_;  // Every attempt, owner-only.

  std::mutex mu_;  // Guards queue_ and live_calls_.
  std::condition_variable cv_;
  std::deque<Raw> queue_;
  int live_calls_ = 0;
};

}  // namespace infernum::router
