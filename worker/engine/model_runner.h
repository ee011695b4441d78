// ModelRunner: executes one scheduler step on the model and samples.
//
// Per step (called by the Engine between Scheduler::Schedule and Update):
//   1. drops the sampler state of requests the scheduler preempted
//      (SchedulerOutput::preempted_request_ids; finished requests are
//      dropped by RemoveRequest, since a finished id may be reused at once);
//   2. (re)builds the sampler state of every newly admitted sequence from
//      the request's token history in the Scheduler: created on the first
//      admission, and after a preemption rebuilt by re-Appending the outputs
//      generated so far, so seeded sampling and penalties continue exactly;
//   3. flattens the step with BuildForwardBatch, runs the model;
//   4. samples one token (with logprobs when requested) for every sequence
//      with sample == true and Appends it to that sequence's sampler state.
//      On the CUDA backend the logits stay on the device and are sampled
//      there (device_sampling.h; only O(rows) bytes reach the host); if the
//      device sampler rejects a row (NaN logits, ...), the step's logits are
//      copied back and sampled on the host, which reports the error per
//      sequence. Elsewhere the logits come to the host.
//
// Not thread-safe: owned and called by the engine's thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/cuda/cuda_backend.h"
#include "models/kv_cache.h"
#include "models/llama/llama_model.h"
#include "worker/engine/device_sampling.h"
#include "worker/engine/scheduler.h"
#include "worker/sampling/sampler.h"

namespace infernum::worker {

// What the runner needs to know about a request for as long as it lives.
struct RunnerRequest {
  // Valid params. A missing seed should be filled in by the caller (the
  // Engine draws one at submission) so that a rebuild after preemption
  // continues the same random stream.
  SamplingParams sampling;
  // While the sequence has fewer than min_tokens outputs (counting the
  // num_previously_generated ones), the logits of `banned_until_min` (EOS
  // and stop ids) are set to -inf before sampling.
  int min_tokens = 0;
  std::vector<int32_t> banned_until_min;
  // The last K prompt tokens count as outputs for penalties, min_tokens and
  // the random stream's position (resume, see worker.proto).
  int num_previously_generated = 0;
};

// The result of one Execute.
struct RunnerStepResult {
  // Feed to Scheduler::Update. kNoSampledToken where sample is false or
  // sampling failed (see errors).
  ModelRunnerOutput output;
  // Parallel to SchedulerOutput::seqs: the sample (token, logprobs) where
  // one was drawn; nullopt elsewhere.
  std::vector<std::optional<SampleResult>> samples;
  // Parallel to SchedulerOutput::seqs: non-OK where this sequence could not
  // be sampled (bad logits, unknown request); the engine must end that
  // request before Update.
  std::vector<absl::Status> errors;
};

class ModelRunner {
 public:
  // `model` and `kv_cache` must outlive the runner.
  ModelRunner(models::LlamaModel& model, models::KvCache& kv_cache);

  // Registers a request before it is first scheduled. Replaces an earlier
  // registration of the same id.
  void AddRequest(const std::string& request_id, RunnerRequest request);
  // Forgets a request (finished or aborted). No-op if unknown.
  void RemoveRequest(std::string_view request_id);

  // Runs `output` (non-empty) through the model; `scheduler` is the one that
  // produced it (read for the token history of newly admitted sequences).
  // An error means the forward pass itself failed: nothing was sampled, and
  // the KV this step wrote is undefined (the engine fails those requests).
  absl::StatusOr<RunnerStepResult> Execute(const SchedulerOutput& output,
                                           const Scheduler& scheduler);

  // Requests with a live sampler state (admitted, not preempted).
  int num_sampler_states() const;
  int num_registered_requests() const {
    return static_cast<int>(requests_.size());
  }

 private:
  struct State {
    RunnerRequest request;
    std::unique_ptr<SequenceSamplerState> sampler;  // null unless admitted
  };

  State* Find(std::string_view request_id);
  absl::Status BuildSamplerState(const ScheduledSequence& seq,
                                 const Scheduler& scheduler);
  absl::StatusOr<SampleResult> SampleOne(State& state, float* logits);
  // Samples every sampled row of the step from host logits_.
  void SampleOnHost(const SchedulerOutput& output, RunnerStepResult& result);
  // Samples from the step's device logits; falls back to SampleOnHost.
  absl::Status SampleOnDevice(const SchedulerOutput& output,
                              const kernels::Tensor& logits,
                              RunnerStepResult& result);
  // Sets the logits of min_tokens-banned ids to -inf on the device.
  absl::Status MaskOnDevice(const SchedulerOutput& output,
                            const RunnerStepResult& result,
                            const kernels::Tensor& logits);

  models::LlamaModel& model_;
  models::KvCache& kv_cache_;
  kernels::CudaBackend* cuda_;  // Null unless the model runs on CUDA.
  DeviceSamplingBatch device_batch_;
  absl::flat_hash_map<std::string, State> requests_;
  std::vector<float> logits_;
  SamplerScratch scratch_;
};

}  // namespace infernum::worker
