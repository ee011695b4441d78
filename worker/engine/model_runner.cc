#include "worker/engine/model_runner.h"

#include <limits>
#include <span>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/status.h"
#include "worker/engine/batch_builder.h"

namespace infernum::worker {
namespace {

absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

}  // namespace

ModelRunner::ModelRunner(models::LlamaModel& model, models::KvCache& kv_cache)
    : model_(model),
      kv_cache_(kv_cache),
      cuda_(kernels::AsCudaBackend(&model.backend())) {}

void ModelRunner::AddRequest(const std::string& request_id,
                             RunnerRequest request) {
  requests_[request_id] = State{std::move(request), nullptr};
}

void ModelRunner::RemoveRequest(std::string_view request_id) {
  requests_.erase(ToAbsl(request_id));
}

ModelRunner::State* ModelRunner::Find(std::string_view request_id) {
  const auto it = requests_.find(ToAbsl(request_id));
  return it == requests_.end() ? nullptr : &it->second;
}

int ModelRunner::num_sampler_states() const {
  int n = 0;
  for (const auto& [id, state] : requests_) n += state.sampler != nullptr;
  return n;
}

absl::Status ModelRunner::BuildSamplerState(const ScheduledSequence& seq,
                                            const Scheduler& scheduler) {
  State* state = Find(seq.request_id);
  const Request* r = scheduler.GetRequest(seq.request_id);
  if (state == nullptr || r == nullptr) {
    return absl::InternalError(absl::StrCat(
        "ModelRunner: request ", seq.request_id, " is not registered"));
  }
  // Prompt proper, then previous outputs (resume) and this run's outputs.
  const int num_prompt =
      r->num_prompt_tokens - state->request.num_previously_generated;
  const std::span<const int32_t> tokens(r->token_ids);
  state->sampler = std::make_unique<SequenceSamplerState>(
      state->request.sampling,
      absl::MakeConstSpan(tokens.data(), static_cast<size_t>(num_prompt)));
  for (size_t i = num_prompt; i < tokens.size(); ++i) {
    state->sampler->Append(tokens[i]);
  }
  return absl::OkStatus();
}

absl::StatusOr<SampleResult> ModelRunner::SampleOne(State& state,
                                                    float* logits) {
  const int vocab = model_.config().vocab_size;
  const RunnerRequest& req = state.request;
  if (state.sampler->num_output_tokens() < req.min_tokens) {
    for (int32_t id : req.banned_until_min) {
      if (id >= 0 && id < vocab) {
        logits[id] = -std::numeric_limits<float>::infinity();
      }
    }
  }
  ASSIGN_OR_RETURN(SampleResult result,
                   Sample(absl::MakeConstSpan(logits, vocab), req.sampling,
                          *state.sampler, &scratch_));
  state.sampler->Append(result.token);
  return result;
}

absl::StatusOr<RunnerStepResult> ModelRunner::Execute(
    const SchedulerOutput& output, const Scheduler& scheduler) {
  for (const std::string& id : output.preempted_request_ids) {
    if (State* s = Find(id)) s->sampler.reset();
  }
  // finished_request_ids are ignored: the owner calls RemoveRequest when a
  // request ends, and an id in that list may already belong to a new request.
  const size_t num_seqs = output.seqs.size();
  RunnerStepResult result;
  result.output.sampled_token_ids.assign(num_seqs, kNoSampledToken);
  result.samples.resize(num_seqs);
  result.errors.resize(num_seqs);
  for (size_t i = 0; i < num_seqs; ++i) {
    const ScheduledSequence& seq = output.seqs[i];
    const State* state = Find(seq.request_id);
    if (seq.newly_admitted || state == nullptr || state->sampler == nullptr) {
      result.errors[i] = BuildSamplerState(seq, scheduler);
    }
  }
  const models::ForwardBatch batch = BuildForwardBatch(output);
  if (cuda_ != nullptr) {
    ASSIGN_OR_RETURN(const kernels::Tensor logits,
                     model_.ForwardDevice(batch, kv_cache_, nullptr));
    RETURN_IF_ERROR(SampleOnDevice(output, logits, result));
    return result;
  }
  RETURN_IF_ERROR(model_.Forward(batch, kv_cache_, logits_, nullptr));
  SampleOnHost(output, result);
  return result;
}

void ModelRunner::SampleOnHost(const SchedulerOutput& output,
                               RunnerStepResult& result) {
  const size_t vocab = model_.config().vocab_size;
  size_t row = 0;
  for (size_t i = 0; i < output.seqs.size(); ++i) {
    const ScheduledSequence& seq = output.seqs[i];
    if (!seq.sample) continue;
    float* logits = logits_.data() + vocab * row++;
    if (!result.errors[i].ok()) continue;
    absl::StatusOr<SampleResult> sample =
        SampleOne(*Find(seq.request_id), logits);
    if (!sample.ok()) {
      result.errors[i] = Annotate(sample.status(), seq.request_id);
      continue;
    }
    result.output.sampled_token_ids[i] = sample->token;
    result.samples[i] = std::move(sample).value();
  }
}

absl::Status ModelRunner::MaskOnDevice(const SchedulerOutput& output,
                                       const RunnerStepResult& result,
                                       const kernels::Tensor& logits) {
  static constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const int64_t vocab = model_.config().vocab_size;
  int64_t row = 0;
  for (size_t i = 0; i < output.seqs.size(); ++i) {
    if (!output.seqs[i].sample) continue;
    const int64_t r = row++;
    if (!result.errors[i].ok()) continue;
    const State& state = *Find(output.seqs[i].request_id);
    if (state.sampler->num_output_tokens() >= state.request.min_tokens) {
      continue;
    }
    for (int32_t id : state.request.banned_until_min) {
      if (id < 0 || id >= vocab) continue;
      float* dst = logits.as<float>() + r * vocab + id;
      RETURN_IF_ERROR(cuda_->CopyToDevice(dst, &kNegInf, sizeof(float),
                                          cuda_->default_stream()));
    }
  }
  return absl::OkStatus();
}

absl::Status ModelRunner::SampleOnDevice(const SchedulerOutput& output,
                                         const kernels::Tensor& logits,
                                         RunnerStepResult& result) {
  RETURN_IF_ERROR(MaskOnDevice(output, result, logits));
  device_batch_.Clear();
  for (size_t i = 0; i < output.seqs.size(); ++i) {
    const ScheduledSequence& seq = output.seqs[i];
    if (!seq.sample) continue;
    if (!result.errors[i].ok()) {
      device_batch_.AddPlaceholderRow();
      continue;
    }
    const State& state = *Find(seq.request_id);
    device_batch_.AddRow(state.request.sampling, *state.sampler);
  }
  kernels::Stream* stream = cuda_->default_stream();
  absl::StatusOr<kernels::GpuSamplingResult> sampled =
      cuda_->Sample({logits, device_batch_.rows, device_batch_.penalty_tokens,
                     device_batch_.penalty_counts},
                    stream);
  if (!sampled.ok()) {
    if (!absl::IsInvalidArgument(sampled.status())) return sampled.status();
    // A bad row: the host sampler names it per sequence.
    logits_.resize(logits.numel());
    RETURN_IF_ERROR(cuda_->CopyToHost(logits_.data(), logits.data,
                                      logits.nbytes(), stream));
    RETURN_IF_ERROR(cuda_->Synchronize(stream));
    SampleOnHost(output, result);
    return absl::OkStatus();
  }
  int row = 0;
  for (size_t i = 0; i < output.seqs.size(); ++i) {
    const ScheduledSequence& seq = output.seqs[i];
    if (!seq.sample) continue;
    const int r = row++;
    if (!result.errors[i].ok()) continue;
    State& state = *Find(seq.request_id);
    SampleResult sample =
        ToSampleResult(*sampled, r, state.request.sampling.num_logprobs);
    state.sampler->Append(sample.token);
    result.output.sampled_token_ids[i] = sample.token;
    result.samples[i] = std::move(sample);
  }
  return absl::OkStatus();
}

}  // namespace infernum::worker
