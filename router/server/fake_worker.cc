#include "router/server/fake_worker.h"

#include <grpcpp/health_check_service_interface.h>

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
      const float lp = -(num_sent_ + 1) / 8.0f;
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
