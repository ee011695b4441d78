#include "worker/engine/scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/logging.h"

namespace infernum::worker {
namespace {

absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

}  // namespace

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(
    const SchedulerConfig& config) {
  if (config.max_num_batched_tokens < 1 || config.max_num_seqs < 1 ||
      config.max_model_len < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Scheduler: max_num_batched_tokens (", config.max_num_batched_tokens,
        "), max_num_seqs (", config.max_num_seqs, ") and max_model_len (",
        config.max_model_len, ") must be positive"));
  }
  auto block_manager = BlockManager::Create(config.kv_cache);
  if (!block_manager.ok()) return block_manager.status();
  return std::unique_ptr<Scheduler>(
      new Scheduler(config, std::move(block_manager).value()));
}

Scheduler::Scheduler(const SchedulerConfig& config,
                     std::unique_ptr<BlockManager> block_manager)
    : config_(config), block_manager_(std::move(block_manager)) {}

Request* Scheduler::Find(std::string_view request_id) const {
  const auto it = requests_.find(ToAbsl(request_id));
  return it == requests_.end() ? nullptr : it->second.get();
}

const Request* Scheduler::GetRequest(std::string_view request_id) const {
  return Find(request_id);
}

absl::Status Scheduler::AddRequest(NewRequest request) {
  const std::string& id = request.request_id;
  if (id.empty()) return absl::InvalidArgumentError("request id is empty");
  if (Find(id) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("request ", id, " is live"));
  }
  const int64_t num_prompt = request.prompt_token_ids.size();
  if (num_prompt == 0) {
    return absl::InvalidArgumentError(absl::StrCat(id, ": empty prompt"));
  }
  for (int32_t token : request.prompt_token_ids) {
    if (token < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(id, ": negative token id ", token));
    }
  }
  if (request.max_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        id, ": max_tokens must be >= 1, got ", request.max_tokens));
  }
  const int64_t total = num_prompt + request.max_tokens;
  if (total > config_.max_model_len) {
    return absl::InvalidArgumentError(
        absl::StrCat(id, ": prompt (", num_prompt, " tokens) + max_tokens (",
                     request.max_tokens, ") exceeds the model context (",
                     config_.max_model_len, ")"));
  }
  if (!config_.enable_chunked_prefill &&
      num_prompt > config_.max_num_batched_tokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        id, ": prompt (", num_prompt,
        " tokens) exceeds max_num_batched_tokens (",
        config_.max_num_batched_tokens, ") and chunked prefill is disabled"));
  }
  // The KV of the final sampled token is never written.
  const int64_t needed = block_manager_->NumBlocksForTokens(total - 1);
  if (needed > block_manager_->num_blocks()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        id, ": prompt + max_tokens needs ", needed,
        " KV blocks but the cache has ", block_manager_->num_blocks()));
  }
  auto owned =
      std::make_unique<Request>(std::move(request), next_arrival_seq_++);
  Request* r = owned.get();
  requests_.emplace(r->request_id, std::move(owned));
  waiting_.insert(r);
  return absl::OkStatus();
}

absl::Status Scheduler::Abort(std::string_view request_id) {
  return Finish(request_id, FinishReason::kAbort);
}

absl::Status Scheduler::Finish(std::string_view request_id,
                               FinishReason reason) {
  if (reason == FinishReason::kNone) {
    return absl::InvalidArgumentError("Finish: reason must not be kNone");
  }
  Request* r = Find(request_id);
  if (r == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("request ", ToAbsl(request_id), " is not live"));
  }
  FinishRequest(r, reason);
  return absl::OkStatus();
}

void Scheduler::FinishRequest(Request* r, FinishReason reason) {
  r->block_table.Release();
  waiting_.erase(r);
  running_.erase(r);
  r->status = RequestStatus::kFinished;
  r->finish_reason = reason;
  finished_since_schedule_.push_back(r->request_id);
  requests_.erase(ToAbsl(r->request_id));  // destroys *r
}

bool Scheduler::MayChunk(const Request& r) const {
  // A resumed request must be able to recompute more than one budget.
  return config_.enable_chunked_prefill || r.num_preemptions > 0;
}

void Scheduler::Preempt(Request* victim) {
  victim->block_table.Release();
  victim->num_computed_tokens = 0;
  victim->num_cached_tokens = 0;
  victim->status = RequestStatus::kPreempted;
  ++victim->num_preemptions;
  ++num_preemptions_;
  running_.erase(victim);
  waiting_.insert(victim);
  const auto it = std::find_if(step_.begin(), step_.end(), [&](const auto& e) {
    return e.request == victim;
  });
  if (it != step_.end()) {  // already scheduled this step: refund it
    budget_ += it->num_new_tokens;
    step_.erase(it);
  }
  step_preempted_.push_back(victim->request_id);
}

void Scheduler::ScheduleRunning(Request* r, int num_new_tokens) {
  const int num_slots = r->num_computed_tokens + num_new_tokens;
  while (!block_manager_->CanGrow(r->block_table, num_slots)) {
    Request* victim = *running_.rbegin();
    Preempt(victim);
    if (victim == r) return;
  }
  CHECK_OK(block_manager_->Grow(r->block_table, num_slots));
  step_.push_back({r, num_new_tokens, /*newly_admitted=*/false});
  budget_ -= num_new_tokens;
}

void Scheduler::AdmitWaiting() {
  while (!waiting_.empty() && budget_ > 0 &&
         static_cast<int>(running_.size()) < config_.max_num_seqs) {
    Request* r = *waiting_.begin();
    const int num_cached = block_manager_->NumCachedPrefixTokens(r->token_ids);
    const int remaining = r->num_tokens() - num_cached;
    const int num_new = std::min(remaining, budget_);
    if (num_new < remaining && !MayChunk(*r)) return;
    auto table = block_manager_->Allocate(r->token_ids, num_cached + num_new);
    if (!table.ok()) return;  // KV cache full: the head waits
    CHECK(table->num_cached_tokens() == num_cached);
    r->block_table = std::move(table).value();
    r->num_cached_tokens = num_cached;
    r->num_computed_tokens = num_cached;
    r->status = RequestStatus::kRunning;
    waiting_.erase(waiting_.begin());
    running_.insert(r);
    step_.push_back({r, num_new, /*newly_admitted=*/true});
    budget_ -= num_new;
  }
}

SchedulerOutput Scheduler::Schedule() {
  CHECK(!step_pending_) << "Schedule called before Update of step " << step_id_;
  step_.clear();
  step_preempted_.clear();
  budget_ = config_.max_num_batched_tokens;
  const std::vector<Request*> running(running_.begin(), running_.end());
  // 1. Decodes.
  for (Request* r : running) {
    if (budget_ == 0) break;
    if (r->status == RequestStatus::kRunning && r->num_uncomputed_tokens() == 1)
      ScheduleRunning(r, 1);
  }
  // 2. Chunked prefills in progress (and resumed recomputes).
  for (Request* r : running) {
    if (budget_ == 0) break;
    if (r->status != RequestStatus::kRunning) continue;
    const int remaining = r->num_uncomputed_tokens();
    if (remaining <= 1) continue;
    const int num_new = std::min(remaining, budget_);
    if (num_new < remaining && !MayChunk(*r)) continue;
    ScheduleRunning(r, num_new);
  }
  // 3. New admissions, unless this step had to preempt.
  if (step_preempted_.empty()) AdmitWaiting();
  return BuildOutput();
}

SchedulerOutput Scheduler::BuildOutput() {
  SchedulerOutput out;
  out.step_id = ++step_id_;
  out.block_size = block_manager_->block_size();
  out.seqs.reserve(step_.size());
  for (const StepEntry& e : step_) {
    const Request& r = *e.request;
    ScheduledSequence& s = out.seqs.emplace_back();
    s.request_id = r.request_id;
    s.start_position = r.num_computed_tokens;
    s.seq_len = r.num_computed_tokens + e.num_new_tokens;
    const auto first = r.token_ids.begin() + s.start_position;
    s.token_ids.assign(first, first + e.num_new_tokens);
    s.block_ids = r.block_table.block_ids();
    s.sample = s.seq_len == r.num_tokens();
    s.newly_admitted = e.newly_admitted;
    s.num_prompt_tokens = r.num_prompt_tokens;
    out.num_batched_tokens += e.num_new_tokens;
  }
  out.preempted_request_ids = std::move(step_preempted_);
  out.finished_request_ids = std::move(finished_since_schedule_);
  step_preempted_.clear();
  finished_since_schedule_.clear();
  step_.clear();
  step_pending_ = !out.empty();
  return out;
}

absl::StatusOr<std::vector<RequestUpdate>> Scheduler::Update(
    const SchedulerOutput& output, const ModelRunnerOutput& result) {
  std::vector<RequestUpdate> updates;
  if (output.empty()) return updates;
  if (!step_pending_ || output.step_id != step_id_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "Update: step ", output.step_id, " is not the pending step"));
  }
  if (result.sampled_token_ids.size() != output.seqs.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Update: ", result.sampled_token_ids.size(), " sampled tokens for ",
        output.seqs.size(), " scheduled sequences"));
  }
  for (size_t i = 0; i < output.seqs.size(); ++i) {
    if (output.seqs[i].sample && result.sampled_token_ids[i] < 0 &&
        Find(output.seqs[i].request_id) != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Update: no sampled token for ", output.seqs[i].request_id));
    }
  }
  step_pending_ = false;
  for (size_t i = 0; i < output.seqs.size(); ++i) {
    const ScheduledSequence& s = output.seqs[i];
    Request* r = Find(s.request_id);
    // Gone (aborted/finished after Schedule) or re-added since: skip.
    if (r == nullptr || r->status != RequestStatus::kRunning) continue;
    CHECK(r->num_computed_tokens == s.start_position) << r->request_id;
    r->num_computed_tokens = s.seq_len;
    block_manager_->CommitComputedTokens(r->block_table, r->token_ids,
                                         r->num_computed_tokens);
    if (!s.sample) continue;
    RequestUpdate& u = updates.emplace_back();
    u.request_id = r->request_id;
    u.new_token_id = result.sampled_token_ids[i];
    r->token_ids.push_back(u.new_token_id);
    u.num_output_tokens = r->num_output_tokens();
    if (u.num_output_tokens >= r->max_tokens) {
      u.finished = true;
      u.finish_reason = FinishReason::kLength;
      FinishRequest(r, FinishReason::kLength);
    }
  }
  return updates;
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats s;
  s.num_waiting = static_cast<int>(waiting_.size());
  s.num_running = static_cast<int>(running_.size());
  s.num_preemptions = num_preemptions_;
  s.num_steps = step_id_;
  s.kv_cache = block_manager_->stats();
  return s;
}

}  // namespace infernum::worker
