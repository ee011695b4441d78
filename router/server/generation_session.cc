#include "router/server/generation_session.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "common/error_codes.h"
#include "common/logging.h"
#include "router/api/errors.h"
#include "router/server/request_builder.h"

namespace infernum::router {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Statuses that describe the request, not the worker: moving the sequence
// to another worker would fail the same way.
bool IsRequestError(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kUnimplemented:
      return true;
    default:
      return false;
  }
}

}  // namespace

// One Generate attempt. Lives until the session's destructor; gRPC is done
// with it once OnDone has run.
class GenerationSession::Call final
    : public grpc::ClientReadReactor<v1::GenerateResponse> {
 public:
  Call(GenerationSession* session, int index, int sequence, absl::Time deadline,
       WorkerClient::InFlightGuard guard, v1::GenerateRequest request)
      : session_(session),
        index_(index),
        sequence_(sequence),
        guard_(std::move(guard)),
        request_(std::move(request)) {
    if (deadline != absl::InfiniteFuture()) {
      context_.set_deadline(absl::ToChronoTime(deadline));
    }
    Touch();
  }

  void Start(v1::Worker::Stub* stub) {
    stub->async()->Generate(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }

  // Safe at any time, also after OnDone (then a no-op).
  void Cancel() { context_.TryCancel(); }

  int sequence() const { return sequence_; }
  // The worker sent its final message (the stream is ending normally).
  bool final_seen() const { return final_seen_.load(); }
  // Some message arrived on this call.
  bool received_any() const { return received_any_.load(); }
  // When the call was started or last received something.
  SteadyClock::time_point last_event() const {
    return SteadyClock::time_point(SteadyClock::duration(last_event_.load()));
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // End of stream; OnDone follows.
    Touch();
    received_any_.store(true);
    if (response_.has_final()) final_seen_.store(true);
    Raw raw;
    raw.call = index_;
    raw.response = std::move(response_);
    response_.Clear();
    session_->Push(std::move(raw));
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    Touch();
    guard_.Release();
    Raw raw;
    raw.call = index_;
    raw.done = true;
    raw.status = status;
    session_->CallDone(std::move(raw));  // Last touch of the session.
  }

 private:
  void Touch() {
    last_event_.store(SteadyClock::now().time_since_epoch().count());
  }

  GenerationSession* session_;
  int index_;
  int sequence_;
  WorkerClient::InFlightGuard guard_;
  v1::GenerateRequest request_;
  grpc::ClientContext context_;
  v1::GenerateResponse response_;
  std::atomic<SteadyClock::rep> last_event_{0};
  std::atomic<bool> final_seen_{false};
  std::atomic<bool> received_any_{false};
};

GenerationSession::GenerationSession(WorkerPool* pool, Options options,
                                     std::vector<v1::GenerateRequest> requests)
    : pool_(pool),
      options_(std::move(options)),
      requests_(std::move(requests)),
      sequences_(requests_.size()) {
  absl::BitGen gen;
  for (v1::GenerateRequest& r : requests_) {
    if (!r.sampling().has_seed()) {
      r.mutable_sampling()->set_seed(
          static_cast<int64_t>(absl::Uniform<uint64_t>(gen)));
    }
  }
}

GenerationSession::~GenerationSession() {
  // A call whose final message arrived is ending normally: cancelling it
  // now would race its status and show the worker a spurious cancel, so it
  // gets a short wait first.
  for (auto& call : calls_) {
    if (!call->final_seen()) call->Cancel();
  }
  std::unique_lock<std::mutex> lock(mu_);
  auto all_done = [this] { return live_calls_ == 0; };
  if (!cv_.wait_for(lock, std::chrono::seconds(2), all_done)) {
    for (auto& call : calls_) call->Cancel();
    cv_.wait(lock, all_done);
  }
}

void GenerationSession::Push(Raw raw) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(raw));
  }
  // Outside the lock. Safe: this call's OnDone, and so the destructor's
  // return, cannot come before this reaction has ended.
  wake_.Notify();
}

void GenerationSession::CallDone(Raw raw) {
  // Notify under the lock: the destructor may run as soon as it is released.
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(std::move(raw));
  --live_calls_;
  wake_.Notify();
  cv_.notify_all();
}

void GenerationSession::Count(std::atomic<uint64_t> RouterCounters::*counter) {
  if (options_.counters != nullptr) {
    (options_.counters->*counter).fetch_add(1, std::memory_order_relaxed);
  }
}

absl::Status GenerationSession::Start() {
  for (int i = 0; i < num_sequences(); ++i) {
    absl::Status st = Dispatch(i);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status GenerationSession::Dispatch(int seq) {
  SequenceState& s = sequences_[seq];
  v1::GenerateRequest request =
      s.generated.empty() ? requests_[seq]
                          : MakeResumeRequest(requests_[seq], s.generated);
  const PickRequest pick{
      options_.model_id,
      absl::MakeConstSpan(request.prompt_token_ids().data(),
                          request.prompt_token_ids().size())};
  std::vector<int> route = options_.route_workers;
  if (s.attempts > 0) {  // Workers may have come and gone since the start.
    absl::StatusOr<ModelRegistry::Route> now =
        pool_->registry().Find(options_.model_id);
    if (now.ok()) route = std::move(now->workers);
  }
  std::optional<int> worker = pool_->PickWorker(pick, route, s.excluded);
  if (!worker.has_value()) {
    return MakeApiError(ErrorKind::kServiceUnavailable,
                        absl::StrCat("no healthy worker can serve model '",
                                     options_.model_id, "'; try again later"));
  }
  ++s.attempts;
  s.worker = *worker;
  s.resumed_from = static_cast<int32_t>(s.generated.size());
  const WorkerClient& client = pool_->client(*worker);
  if (std::find(workers_used_.begin(), workers_used_.end(), client.address()) ==
      workers_used_.end()) {
    workers_used_.push_back(client.address());
  }
  s.call = static_cast<int>(calls_.size());
  calls_.push_back(std::make_unique<Call>(this, s.call, seq, options_.deadline,
                                          client.TrackInFlight(),
                                          std::move(request)));
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++live_calls_;
  }
  calls_.back()->Start(client.stub());
  return absl::OkStatus();
}

SequenceEvent GenerationSession::Fail(int seq, absl::Status status) {
  SequenceState& s = sequences_[seq];
  s.finished = true;
  SequenceEvent ev;
  ev.sequence = seq;
  ev.kind = SequenceEvent::Kind::kError;
  ev.before_first_token = s.generated.empty();
  ev.error = std::move(status);
  return ev;
}

std::optional<SequenceEvent> GenerationSession::Recover(
    int seq, const absl::Status& cause, bool mark_down) {
  SequenceState& s = sequences_[seq];
  calls_[s.call]->Cancel();
  if (mark_down) pool_->MarkUnavailable(s.worker);
  s.excluded.push_back(s.worker);
  const int64_t k = static_cast<int64_t>(s.generated.size());
  const int32_t max_tokens = requests_[seq].max_tokens();
  std::string why;
  if (k == 0) {
    if (s.attempts >= options_.max_attempts) {
      why = absl::StrCat("gave up after ", s.attempts, " attempts");
    } else if (Dispatch(seq).ok()) {
      Count(&RouterCounters::retries);
      return std::nullopt;
    }
  } else if (max_tokens > 0 && k >= max_tokens) {
    // Everything was streamed; only the final was lost.
    s.finished = true;
    SequenceEvent ev;
    ev.sequence = seq;
    ev.kind = SequenceEvent::Kind::kFinal;
    ev.final.set_finish_reason(v1::FINISH_REASON_LENGTH);
    ev.final.set_prompt_tokens(requests_[seq].prompt_token_ids_size());
    ev.final.set_completion_tokens(static_cast<int32_t>(k));
    return ev;
  } else if (s.migrations >= options_.max_migrations) {
    why = absl::StrCat("gave up after ", s.migrations,
                       " migrations (max_migrations)");
  } else {
    ++s.migrations;
    if (Dispatch(seq).ok()) {
      Count(&RouterCounters::migrations);
      LOG(WARNING) << "request " << requests_[seq].request_id()
                   << ": resumed after " << k << " tokens on worker "
                   << pool_->client(s.worker).address() << " ("
                   << cause.message() << ")";
      return std::nullopt;
    }
  }
  if (why.empty()) why = "no other healthy worker serves the model";
  Count(&RouterCounters::failed_sequences);
  return Fail(seq, absl::Status(cause.code(),
                                absl::StrCat(cause.message(), "; ", why)));
}

std::optional<SequenceEvent> GenerationSession::OnCallDone(
    int seq, const grpc::Status& grpc_status) {
  const SequenceState& s = sequences_[seq];
  const std::string& address = pool_->client(s.worker).address();
  const absl::Status status = FromGrpcStatus(grpc_status);
  if (status.ok()) {
    return Recover(
        seq,
        absl::InternalError(absl::StrCat(
            "worker ", address, " closed the stream without a final message")),
        /*mark_down=*/false);
  }
  const std::string message =
      absl::StrCat("worker ", address, ": ", status.message());
  if (status.code() == absl::StatusCode::kDeadlineExceeded) {
    return Fail(seq, MakeApiError(ErrorKind::kTimeout,
                                  absl::StrCat("the request timed out (",
                                               message, ")")));
  }
  if (IsRequestError(status.code())) {
    return Fail(seq, absl::Status(status.code(), message));
  }
  return Recover(seq, absl::Status(status.code(), message),
                 status.code() == absl::StatusCode::kUnavailable);
}

std::optional<SequenceEvent> GenerationSession::OnFinal(
    int seq, v1::GenerateFinal final) {
  SequenceState& s = sequences_[seq];
  if (final.finish_reason() == v1::FINISH_REASON_ABORT) {  // E.g. drain.
    return Recover(seq,
                   absl::UnavailableError(absl::StrCat(
                       "the worker ", pool_->client(s.worker).address(),
                       " aborted the request: ",
                       final.error_message().empty() ? "no details"
                                                     : final.error_message())),
                   /*mark_down=*/false);
  }
  s.finished = true;
  if (s.resumed_from > 0) {  // Describe the whole sequence.
    const int32_t prompt = requests_[seq].prompt_token_ids_size();
    final.set_prompt_tokens(prompt);
    final.set_completion_tokens(final.completion_tokens() + s.resumed_from);
    final.set_cached_prompt_tokens(
        std::min(final.cached_prompt_tokens(), prompt));
  }
  SequenceEvent ev;
  ev.sequence = seq;
  ev.kind = SequenceEvent::Kind::kFinal;
  ev.final = std::move(final);
  return ev;
}

std::optional<SequenceEvent> GenerationSession::Process(Raw raw) {
  const int seq = calls_[raw.call]->sequence();
  SequenceState& s = sequences_[seq];
  if (raw.call != s.call || s.finished) return std::nullopt;  // Stale.
  if (raw.done) return OnCallDone(seq, raw.status);
  if (raw.response.has_final()) {
    return OnFinal(seq, std::move(*raw.response.mutable_final()));
  }
  if (!raw.response.has_chunk()) return std::nullopt;  // Carries nothing.
  SequenceEvent ev;
  ev.sequence = seq;
  ev.kind = SequenceEvent::Kind::kTokens;
  ev.chunk = std::move(*raw.response.mutable_chunk());
  for (const v1::GeneratedToken& t : ev.chunk.tokens()) {
    s.generated.push_back(t.token_id());
  }
  return ev;
}

namespace {

// The stall timeout as a clock duration; nullopt when detection is off.
std::optional<SteadyClock::duration> StallTimeout(absl::Duration timeout) {
  if (timeout <= absl::ZeroDuration() || timeout == absl::InfiniteDuration()) {
    return std::nullopt;
  }
  return std::chrono::duration_cast<SteadyClock::duration>(
      absl::ToChronoNanoseconds(timeout));
}

}  // namespace

absl::Time GenerationSession::NextStallCheck() const {
  const std::optional<SteadyClock::duration> stall =
      StallTimeout(options_.stall_timeout);
  if (!stall.has_value()) return absl::InfiniteFuture();
  SteadyClock::time_point earliest = SteadyClock::time_point::max();
  const SteadyClock::time_point now = SteadyClock::now();
  for (const SequenceState& s : sequences_) {
    if (s.finished || s.call < 0) continue;
    SteadyClock::time_point due = calls_[s.call]->last_event() + *stall;
    // Overdue but waiting in a healthy worker's queue: look again soon.
    if (due <= now)
      due = now + std::min<SteadyClock::duration>(
                      *stall, std::chrono::milliseconds(500));
    earliest = std::min(earliest, due);
  }
  if (earliest == SteadyClock::time_point::max()) return absl::InfiniteFuture();
  return absl::Now() + absl::FromChrono(earliest - SteadyClock::now());
}

std::optional<SequenceEvent> GenerationSession::CheckStalls() {
  const std::optional<SteadyClock::duration> stall =
      StallTimeout(options_.stall_timeout);
  if (!stall.has_value()) return std::nullopt;
  for (int seq = 0; seq < num_sequences(); ++seq) {
    const SequenceState& s = sequences_[seq];
    if (s.finished || s.call < 0) continue;
    const Call& call = *calls_[s.call];
    if (SteadyClock::now() - call.last_event() < *stall) continue;
    // Before its first message a stream may simply wait in the worker's
    // queue: silence is a stall only once the worker also fails its health
    // checks (a stopped or hung process). After that, any silence is.
    if (!call.received_any() && pool_->registry().IsHealthy(s.worker)) {
      continue;
    }
    Count(&RouterCounters::stalls);
    const std::string message =
        absl::StrCat("worker ", pool_->client(s.worker).address(),
                     " stalled: nothing received for ",
                     absl::FormatDuration(options_.stall_timeout));
    LOG(WARNING) << "request " << requests_[seq].request_id() << ": "
                 << message;
    std::optional<SequenceEvent> ev =
        Recover(seq, absl::UnavailableError(message), /*mark_down=*/true);
    if (ev.has_value()) return ev;
  }
  return std::nullopt;
}

std::optional<SequenceEvent> GenerationSession::Next(absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  while (true) {
    std::optional<Raw> raw;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!queue_.empty()) {
        raw = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    if (raw.has_value()) {
      std::optional<SequenceEvent> ev = Process(std::move(*raw));
      if (ev.has_value()) return ev;
      continue;
    }
    // Caught up with every stream: now silence means a stall.
    std::optional<SequenceEvent> ev = CheckStalls();
    if (ev.has_value()) return ev;
    if (absl::Now() >= until) return std::nullopt;
    wake_.Wait(std::min(until, NextStallCheck()));
  }
}

void GenerationSession::Cancel(int seq) {
  SequenceState& s = sequences_.at(seq);
  s.finished = true;
  if (s.call >= 0) calls_[s.call]->Cancel();
}

bool GenerationSession::HasQueued() {
  std::lock_guard<std::mutex> lock(mu_);
  return !queue_.empty();
}

void GenerationSession::CancelAll() {
  for (int i = 0; i < num_sequences(); ++i) Cancel(i);
}

}  // namespace infernum::router
