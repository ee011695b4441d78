#include "router/server/generation_session.h"

#include <grpcpp/grpcpp.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/error_codes.h"
#include "router/api/errors.h"

namespace infernum::router {

// One Generate attempt. Lives until the session's destructor; gRPC is done
// with it once OnDone has run.
class GenerationSession::Call final
    : public grpc::ClientReadReactor<v1::GenerateResponse> {
 public:
  Call(GenerationSession* session, int index, absl::Time deadline,
       WorkerClient::InFlightGuard guard)
      : session_(session), index_(index), guard_(std::move(guard)) {
    if (deadline != absl::InfiniteFuture()) {
      context_.set_deadline(absl::ToChronoTime(deadline));
    }
  }

  void Start(v1::Worker::Stub* stub, const v1::GenerateRequest* request) {
    stub->async()->Generate(&context_, request, this);
    StartRead(&response_);
    StartCall();
  }

  void Cancel() { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // End of stream; OnDone follows.
    Raw raw;
    raw.call = index_;
    raw.response = std::move(response_);
    response_.Clear();
    session_->Push(std::move(raw));
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    guard_.Release();
    Raw raw;
    raw.call = index_;
    raw.done = true;
    raw.status = status;
    session_->CallDone(std::move(raw));  // Last touch of the session.
  }

  int sequence = 0;

 private:
  GenerationSession* session_;
  int index_;
  WorkerClient::InFlightGuard guard_;
  grpc::ClientContext context_;
  v1::GenerateResponse response_;
};

GenerationSession::GenerationSession(WorkerPool* pool, Options options,
                                     std::vector<v1::GenerateRequest> requests)
    : pool_(pool),
      options_(std::move(options)),
      requests_(std::move(requests)),
      sequences_(requests_.size()) {}

GenerationSession::~GenerationSession() {
  for (auto& call : calls_) call->Cancel();
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return live_calls_ == 0; });
}

void GenerationSession::Push(Raw raw) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(std::move(raw));
  cv_.notify_all();
}

void GenerationSession::CallDone(Raw raw) {
  // Notify under the lock: the destructor may run as soon as it is released.
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(std::move(raw));
  --live_calls_;
  cv_.notify_all();
}

absl::Status GenerationSession::Start() {
  for (int i = 0; i < num_sequences(); ++i) {
    absl::Status st = StartAttempt(i);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status GenerationSession::StartAttempt(int seq) {
  SequenceState& s = sequences_[seq];
  const v1::GenerateRequest& request = requests_[seq];
  const PickRequest pick{
      options_.model_id,
      absl::MakeConstSpan(request.prompt_token_ids().data(),
                          request.prompt_token_ids().size())};
  std::optional<int> worker =
      s.attempts >= options_.max_attempts
          ? std::nullopt
          : pool_->PickWorker(pick, options_.route_workers, s.excluded);
  if (!worker.has_value()) {
    return MakeApiError(ErrorKind::kServiceUnavailable,
                        absl::StrCat("no healthy worker can serve model '",
                                     options_.model_id, "'; try again later"));
  }
  ++s.attempts;
  s.worker = *worker;
  const WorkerClient& client = pool_->client(*worker);
  auto call = std::make_unique<Call>(this, static_cast<int>(calls_.size()),
                                     options_.deadline, client.TrackInFlight());
  call->sequence = seq;
  s.call = static_cast<int>(calls_.size());
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++live_calls_;
  }
  calls_.push_back(std::move(call));
  calls_.back()->Start(client.stub(), &request);
  return absl::OkStatus();
}

std::optional<SequenceEvent> GenerationSession::OnCallDone(
    int seq, const grpc::Status& grpc_status) {
  SequenceState& s = sequences_[seq];
  SequenceEvent ev;
  ev.sequence = seq;
  ev.kind = SequenceEvent::Kind::kError;
  ev.before_first_token = !s.delivered;
  const absl::Status status = FromGrpcStatus(grpc_status);
  const bool retryable = status.code() == absl::StatusCode::kUnavailable ||
                         status.code() == absl::StatusCode::kResourceExhausted;
  if (retryable && !s.delivered) {
    if (status.code() == absl::StatusCode::kUnavailable) {
      pool_->MarkUnavailable(s.worker);
    }
    s.excluded.push_back(s.worker);
    if (s.attempts < options_.max_attempts && StartAttempt(seq).ok()) {
      return std::nullopt;
    }
  }
  s.finished = true;
  const std::string& address = pool_->client(s.worker).address();
  if (status.ok()) {
    ev.error = absl::InternalError(absl::StrCat(
        "worker ", address, " closed the stream without a final message"));
  } else {
    ev.error =
        absl::Status(status.code(),
                     absl::StrCat("worker ", address, ": ", status.message()));
  }
  return ev;
}

std::optional<SequenceEvent> GenerationSession::Next(absl::Duration timeout) {
  const auto until = absl::ToChronoTime(absl::Now() + timeout);
  while (true) {
    Raw raw;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (!cv_.wait_until(lock, until, [this] { return !queue_.empty(); })) {
        return std::nullopt;
      }
      raw = std::move(queue_.front());
      queue_.pop_front();
    }
    const int seq = calls_[raw.call]->sequence;
    SequenceState& s = sequences_[seq];
    if (raw.call != s.call || s.finished) continue;  // Stale or cancelled.
    if (raw.done) {
      std::optional<SequenceEvent> ev = OnCallDone(seq, raw.status);
      if (ev.has_value()) return ev;
      continue;
    }
    SequenceEvent ev;
    ev.sequence = seq;
    if (raw.response.has_chunk()) {
      s.delivered = true;
      ev.kind = SequenceEvent::Kind::kTokens;
      ev.chunk = std::move(*raw.response.mutable_chunk());
      return ev;
    }
    if (raw.response.has_final()) {
      s.finished = true;
      ev.kind = SequenceEvent::Kind::kFinal;
      ev.final = std::move(*raw.response.mutable_final());
      return ev;
    }
    // An empty message carries nothing; skip it.
  }
}

void GenerationSession::Cancel(int seq) {
  SequenceState& s = sequences_.at(seq);
  s.finished = true;
  if (s.call >= 0) calls_[s.call]->Cancel();
}

void GenerationSession::CancelAll() {
  for (int i = 0; i < num_sequences(); ++i) Cancel(i);
}

}  // namespace infernum::router
