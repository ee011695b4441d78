#include "router/server/fake_worker.h"

#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/testing.h"

namespace infernum::router::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int32_t FakeNextToken(const std::vector<int32_t>& sequence) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a over the ids' bytes.
  for (int32_t id : sequence) {
    for (int b = 0; b < 4; ++b) {
      h ^= (static_cast<uint32_t>(id) >> (8 * b)) & 0xFF;
      h *= 0x100000001b3ULL;
    }
  }
  h ^= h >> 29;
  return static_cast<int32_t>(259 + h % 253);
}

std::vector<int32_t> FakeContinuation(std::vector<int32_t> prompt, int n) {
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(FakeNextToken(prompt));
    prompt.push_back(out.back());
  }
  return out;
}

v1::ModelInfo Stories260KInfo() {
  const std::string dir =
      ::infernum::testing::SharedModelsDir() + "/stories260K";
  v1::ModelInfo info;
  info.set_model_id("stories260K");
  info.set_max_context_length(512);
  info.set_block_size(16);
  info.add_eos_token_ids(2);
  info.set_vocab_size(512);
  info.set_tokenizer_json(ReadFile(dir + "/tokenizer.json"));
  info.set_tokenizer_config_json(ReadFile(dir + "/tokenizer_config.json"));
  info.set_model_type("llama");
  info.set_max_num_seqs(8);
  return info;
}

FakeStream::FakeStream(grpc::ServerContext* context,
                       grpc::ServerWriter<v1::GenerateResponse>* writer,
                       const v1::GenerateRequest& request)
    : context_(context), writer_(writer), request_(request) {}

bool FakeStream::Send(const std::vector<int32_t>& ids) {
  if (context_->IsCancelled()) return false;
  v1::GenerateResponse resp;
  for (int32_t id : ids) {
    v1::GeneratedToken* t = resp.mutable_chunk()->add_tokens();
    t->set_token_id(id);
    if (request_.logprobs()) {
      const int k = request_.num_previously_generated() + num_sent_;
      const float lp = -(k + 1) / 8.0f;
      t->set_logprob(lp);
      for (int j = 0; j < request_.top_logprobs(); ++j) {
        v1::TopLogprob* top = t->add_top_logprobs();
        top->set_token_id((id + 1 + j) % 256 + 3);
        top->set_logprob(lp - (j + 1) / 4.0f);
      }
    }
    ++num_sent_;
  }
  return writer_->Write(resp);
}

bool FakeStream::SendFinal(v1::FinishReason reason, int completion_tokens,
                           const std::string& error_message) {
  v1::GenerateResponse resp;
  v1::GenerateFinal* f = resp.mutable_final();
  f->set_finish_reason(reason);
  f->set_prompt_tokens(request_.prompt_token_ids_size());
  f->set_completion_tokens(completion_tokens);
  f->set_error_message(error_message);
  return writer_->Write(resp);
}

bool FakeStream::SendAll(const std::vector<int32_t>& ids) {
  const int max = request_.max_tokens();
  for (size_t i = 0; i < ids.size(); ++i) {
    if (max > 0 && static_cast<int>(i) == max) {
      return SendFinal(v1::FINISH_REASON_LENGTH, max);
    }
    if (!Send({ids[i]})) return false;
  }
  return SendFinal(v1::FINISH_REASON_STOP, static_cast<int>(ids.size()) + 1);
}

bool FakeStream::WaitUntilCancelled(absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  while (!context_->IsCancelled()) {
    if (absl::Now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

FakeWorker::FakeWorker(v1::ModelInfo info) : info_(std::move(info)) {}

FakeWorker::~FakeWorker() { Shutdown(); }

std::string FakeWorker::Start(int wanted_port) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", wanted_port),
                           grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(this);
  server_ = builder.BuildAndStart();
  return absl::StrCat("127.0.0.1:", port);
}

void FakeWorker::Shutdown() {
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
  server_.reset();
}

void FakeWorker::SetScript(Script script) {
  std::lock_guard<std::mutex> lock(mu_);
  script_ = std::move(script);
}

void FakeWorker::ServeDeterministic(std::shared_ptr<FaultPlan> plan) {
  SetScript(
      [this, plan](const v1::GenerateRequest& request, FakeStream& stream) {
        return Deterministic(request, stream, plan.get());
      });
}

void FakeWorker::Kill() {
  dead_.store(true);
  if (server_ != nullptr) {
    server_->GetHealthCheckService()->SetServingStatus(false);
  }
}

grpc::Status FakeWorker::Deterministic(const v1::GenerateRequest& request,
                                       FakeStream& stream, FaultPlan* plan) {
  const grpc::Status died(grpc::StatusCode::UNAVAILABLE, "fake worker died");
  const bool faulty = plan != nullptr && plan->fault != Fault::kNone &&
                      plan->num_streams.fetch_sub(1) > 0;
  std::vector<int32_t> sequence(request.prompt_token_ids().begin(),
                                request.prompt_token_ids().end());
  const int budget =
      request.max_tokens() > 0
          ? request.max_tokens()
          : info_.max_context_length() - static_cast<int>(sequence.size());
  const auto& stops = request.stop_token_ids();
  for (int i = 0; i < budget; ++i) {
    if (faulty && i == plan->after_tokens) {
      if (plan->fault == Fault::kDie) {
        Kill();
        return died;
      }
      stream.WaitUntilCancelled(absl::Hours(1));
      return grpc::Status(grpc::StatusCode::CANCELLED, "stalled");
    }
    if (dead()) return died;
    const int32_t token = FakeNextToken(sequence);
    sequence.push_back(token);
    if (std::find(stops.begin(), stops.end(), token) != stops.end()) {
      stream.SendFinal(v1::FINISH_REASON_STOP, i + 1);
      return grpc::Status::OK;
    }
    if (!stream.Send({token})) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
  }
  stream.SendFinal(v1::FINISH_REASON_LENGTH, budget);
  return grpc::Status::OK;
}

std::vector<v1::GenerateRequest> FakeWorker::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

void FakeWorker::ClearRequests() {
  std::lock_guard<std::mutex> lock(mu_);
  requests_.clear();
}

int FakeWorker::num_cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return num_cancelled_;
}

bool FakeWorker::WaitForCancelled(int n, absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                      [&] { return num_cancelled_ >= n; });
}

grpc::Status FakeWorker::Generate(
    grpc::ServerContext* context, const v1::GenerateRequest* request,
    grpc::ServerWriter<v1::GenerateResponse>* writer) {
  Script script;
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(*request);
    script = script_;
  }
  if (dead()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake worker is dead");
  }
  FakeStream stream(context, writer, *request);
  grpc::Status status =
      script ? script(*request, stream)
             : grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no script");
  if (context->IsCancelled()) {
    std::lock_guard<std::mutex> lock(mu_);
    ++num_cancelled_;
    cv_.notify_all();
  }
  return status;
}

grpc::Status FakeWorker::GetModelInfo(grpc::ServerContext*,
                                      const v1::GetModelInfoRequest*,
                                      v1::ModelInfo* response) {
  if (dead()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake worker is dead");
  }
  *response = info_;
  return grpc::Status::OK;
}

grpc::Status FakeWorker::GetLoad(grpc::ServerContext*,
                                 const v1::GetLoadRequest*,
                                 v1::LoadReport* response) {
  response->set_num_running(0);
  return grpc::Status::OK;
}

}  // namespace infernum::router::testing
