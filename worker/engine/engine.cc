#include "worker/engine/engine.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/logging.h"
#include "common/status.h"

namespace infernum::worker {
namespace {

absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

double Seconds(std::chrono::steady_clock::time_point a,
               std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Seeds for requests without one: a per-engine random start, then a
// SplitMix64 sequence (distinct per request, fixed across preemptions).
uint64_t RandomSeedBase() {
  try {
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) | device();
  } catch (...) {
    return static_cast<uint64_t>(
        std::chrono::steady_clock::now().time_since_epoch().count());
  }
}

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(
    models::LlamaModel& model, const EngineConfig& config,
    std::vector<int32_t> eos_token_ids) {
  ASSIGN_OR_RETURN(const EngineConfig c, ResolveEngineConfig(config, model));
  SchedulerConfig sc;
  sc.max_num_batched_tokens = c.max_num_batched_tokens;
  sc.max_num_seqs = c.max_num_seqs;
  sc.max_model_len = c.max_model_len;
  sc.enable_chunked_prefill = c.enable_chunked_prefill;
  sc.kv_cache.num_blocks = c.num_blocks;
  sc.kv_cache.block_size = c.block_size;
  sc.kv_cache.enable_prefix_caching = c.enable_prefix_caching;
  ASSIGN_OR_RETURN(std::unique_ptr<Scheduler> scheduler, Scheduler::Create(sc));
  models::DecodeGraphOptions graphs;
  graphs.enabled = c.cuda_graphs;
  graphs.max_batch_size = c.max_num_seqs;
  graphs.max_context = c.max_model_len;
  graphs.block_size = c.block_size;
  graphs.pad_without_graphs = c.pad_decode_without_graphs;
  RETURN_IF_ERROR(model.ConfigureDecodeGraphs(graphs));
  ASSIGN_OR_RETURN(
      models::KvCache cache,
      models::KvCache::Create(
          model.backend(), model.MakeKvCacheShape(c.num_blocks, c.block_size)));
  return std::unique_ptr<Engine>(new Engine(model, c, std::move(eos_token_ids),
                                            std::move(cache),
                                            std::move(scheduler)));
}

Engine::Engine(models::LlamaModel& model, const EngineConfig& config,
               std::vector<int32_t> eos_token_ids, models::KvCache kv_cache,
               std::unique_ptr<Scheduler> scheduler)
    : model_(model),
      config_(config),
      eos_ids_(std::move(eos_token_ids)),
      kv_cache_(std::move(kv_cache)),
      scheduler_(std::move(scheduler)),
      runner_(std::make_unique<ModelRunner>(model_, kv_cache_)),
      next_seed_(RandomSeedBase()) {}

Engine::~Engine() { AbortAll(absl::UnavailableError("engine shut down")); }

absl::Status Engine::AddRequest(EngineRequest r,
                                std::shared_ptr<RequestSink> sink) {
  CHECK(sink != nullptr) << "Engine::AddRequest without a sink";
  if (Find(r.request_id) != nullptr) {
    return absl::AlreadyExistsError(
        absl::StrCat("request ", r.request_id, " is live"));
  }
  RETURN_IF_ERROR(ValidateRequest(r));
  NewRequest nr;
  nr.request_id = r.request_id;
  nr.prompt_token_ids = r.prompt_token_ids;
  nr.max_tokens = ResolveMaxTokens(r);
  nr.priority = r.priority;
  RETURN_IF_ERROR(scheduler_->AddRequest(std::move(nr)));

  RunnerRequest rr;
  rr.sampling = r.sampling;
  if (!rr.sampling.seed.has_value()) rr.sampling.seed = SplitMix64(next_seed_);
  rr.min_tokens = r.min_tokens;
  rr.banned_until_min = r.stop_token_ids;
  if (!r.ignore_eos) {
    rr.banned_until_min.insert(rr.banned_until_min.end(), eos_ids_.begin(),
                               eos_ids_.end());
  }
  rr.num_previously_generated = r.num_previously_generated;
  runner_->AddRequest(r.request_id, std::move(rr));

  LiveRequest& lr = live_[r.request_id];
  lr.sink = std::move(sink);
  lr.stop.eos_ids = eos_ids_;
  lr.stop.stop_token_ids = std::move(r.stop_token_ids);
  lr.stop.ignore_eos = r.ignore_eos;
  lr.min_tokens = r.min_tokens;
  lr.num_previously_generated = r.num_previously_generated;
  lr.num_prompt_tokens = static_cast<int>(r.prompt_token_ids.size());
  lr.want_logprobs = r.sampling.num_logprobs >= 0;
  lr.submitted = Clock::now();
  lr.final_output.num_prompt_tokens = lr.num_prompt_tokens;
  prompt_tokens_total_ += lr.num_prompt_tokens;
  return absl::OkStatus();
}

Engine::LiveRequest* Engine::Find(std::string_view request_id) {
  const auto it = live_.find(ToAbsl(request_id));
  return it == live_.end() ? nullptr : &it->second;
}

absl::Status Engine::Abort(std::string_view request_id, absl::Status reason) {
  if (Find(request_id) == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("request ", ToAbsl(request_id), " is not live"));
  }
  // Already gone from the scheduler only if a step failed half-way.
  scheduler_->Abort(request_id).IgnoreError();
  Finalize(request_id, FinishReason::kAbort, std::move(reason), std::nullopt);
  return absl::OkStatus();
}

void Engine::AbortAll(const absl::Status& reason) {
  EndAll(FinishReason::kAbort, reason);
}

void Engine::FailAll(const absl::Status& error) {
  EndAll(FinishReason::kError, error);
}

void Engine::EndAll(FinishReason reason, const absl::Status& status) {
  std::vector<std::string> ids;
  ids.reserve(live_.size());
  for (const auto& [id, lr] : live_) ids.push_back(id);
  for (const std::string& id : ids) {
    scheduler_->Finish(id, reason).IgnoreError();
    Finalize(id, reason, status, std::nullopt);
  }
}

void Engine::Finalize(std::string_view request_id, FinishReason reason,
                      absl::Status error, std::optional<int32_t> stop_token) {
  const auto it = live_.find(ToAbsl(request_id));
  CHECK(it != live_.end()) << "Finalize of unknown request " << request_id;
  LiveRequest lr = std::move(it->second);
  live_.erase(it);
  runner_->RemoveRequest(request_id);
  FinalOutput& f = lr.final_output;
  f.finish_reason = reason;
  f.error = std::move(error);
  f.stop_token_id = stop_token;
  f.timings.e2e_latency = Seconds(lr.submitted, Clock::now());
  ++num_finished_;
  lr.sink->OnFinish(f);
}

void Engine::RecordScheduled(const ScheduledSequence& seq,
                             Clock::time_point now) {
  LiveRequest* lr = Find(seq.request_id);
  if (lr == nullptr) return;
  FinalOutput& f = lr->final_output;
  if (!lr->scheduled) {
    lr->scheduled = true;
    f.timings.queue_time = Seconds(lr->submitted, now);
    f.num_cached_prompt_tokens =
        std::min(seq.start_position, lr->num_prompt_tokens);
  }
  const int computed =
      std::min(seq.seq_len, lr->num_prompt_tokens) - seq.start_position;
  if (computed > 0) {
    f.num_computed_prompt_tokens += computed;
    computed_prompt_tokens_total_ += computed;
  }
}

void Engine::HandleToken(const RequestUpdate& u, const SampleResult& sample,
                         Clock::time_point now) {
  LiveRequest* lr = Find(u.request_id);
  CHECK(lr != nullptr) << "update for unknown request " << u.request_id;
  FinalOutput& f = lr->final_output;
  f.num_output_tokens = u.num_output_tokens;
  ++generation_tokens_total_;
  if (f.timings.time_to_first_token < 0) {
    f.timings.time_to_first_token = Seconds(lr->submitted, now);
  } else {
    f.timings.inter_token_latencies.push_back(Seconds(lr->last_token, now));
  }
  lr->last_token = now;
  const int num_generated = lr->num_previously_generated + u.num_output_tokens;
  if (num_generated >= lr->min_tokens) {
    const StopDecision d = CheckStop(lr->stop, u.new_token_id, num_generated);
    if (d.reason == StopReason::kStop) {
      if (!u.finished)
        CHECK_OK(scheduler_->Finish(u.request_id, FinishReason::kStop));
      Finalize(u.request_id, FinishReason::kStop, absl::OkStatus(),
               u.new_token_id);
      return;
    }
  }
  TokenOutput t;
  t.token_id = u.new_token_id;
  t.index = u.num_output_tokens - 1;
  if (lr->want_logprobs) {
    t.logprob = sample.logprob;
    t.top_logprobs = sample.top_logprobs;
  }
  lr->sink->OnToken(t);
  if (u.finished) {
    Finalize(u.request_id, u.finish_reason, absl::OkStatus(), std::nullopt);
  }
}

void Engine::FailStep(const SchedulerOutput& output,
                      const absl::Status& error) {
  const absl::Status annotated = Annotate(error, "forward pass failed");
  for (const ScheduledSequence& seq : output.seqs) {
    if (Find(seq.request_id) == nullptr) continue;
    scheduler_->Finish(seq.request_id, FinishReason::kError).IgnoreError();
    Finalize(seq.request_id, FinishReason::kError, annotated, std::nullopt);
  }
}

absl::Status Engine::Step() {
  if (live_.empty()) return absl::OkStatus();
  const SchedulerOutput out = scheduler_->Schedule();
  for (const std::string& id : out.preempted_request_ids) {
    if (LiveRequest* lr = Find(id)) ++lr->final_output.num_preemptions;
  }
  peak_kv_usage_ =
      std::max(peak_kv_usage_, scheduler_->stats().kv_cache.usage());
  if (out.empty()) {
    return absl::InternalError(
        absl::StrCat("engine: the scheduler planned nothing with ",
                     live_.size(), " live requests"));
  }
  ++num_steps_;
  const Clock::time_point start = Clock::now();
  for (const ScheduledSequence& seq : out.seqs) RecordScheduled(seq, start);
  absl::StatusOr<RunnerStepResult> result = runner_->Execute(out, *scheduler_);
  ModelRunnerOutput runner_output;
  if (!result.ok()) {
    FailStep(out, result.status());
    runner_output.sampled_token_ids.assign(out.seqs.size(), kNoSampledToken);
  } else {
    for (size_t i = 0; i < out.seqs.size(); ++i) {
      if (result->errors[i].ok() || Find(out.seqs[i].request_id) == nullptr)
        continue;
      scheduler_->Finish(out.seqs[i].request_id, FinishReason::kError)
          .IgnoreError();
      Finalize(out.seqs[i].request_id, FinishReason::kError, result->errors[i],
               std::nullopt);
    }
    runner_output = result->output;
  }
  ASSIGN_OR_RETURN(const std::vector<RequestUpdate> updates,
                   scheduler_->Update(out, runner_output));
  const Clock::time_point now = Clock::now();
  size_t seq_index = 0;
  for (const RequestUpdate& u : updates) {
    // Updates follow seqs order (a subset of it).
    while (out.seqs[seq_index].request_id != u.request_id) ++seq_index;
    HandleToken(u, *result->samples[seq_index], now);
  }
  return absl::OkStatus();
}

EngineStats Engine::stats() const {
  const SchedulerStats s = scheduler_->stats();
  EngineStats e;
  e.num_running = s.num_running;
  e.num_waiting = s.num_waiting;
  e.num_blocks_total = s.kv_cache.num_blocks;
  e.num_blocks_used = s.kv_cache.num_used_blocks;
  e.kv_cache_usage = s.kv_cache.usage();
  e.peak_kv_cache_usage = std::max(peak_kv_usage_, e.kv_cache_usage);
  e.prefix_cache_queries = s.kv_cache.prefix_cache_query_tokens;
  e.prefix_cache_hits = s.kv_cache.prefix_cache_hit_tokens;
  e.num_preemptions = s.num_preemptions;
  e.num_steps = num_steps_;
  e.num_requests_finished = num_finished_;
  e.prompt_tokens_total = prompt_tokens_total_;
  e.computed_prompt_tokens_total = computed_prompt_tokens_total_;
  e.generation_tokens_total = generation_tokens_total_;
  return e;
}

}  // namespace infernum::worker
