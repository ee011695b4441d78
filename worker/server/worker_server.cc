#include "worker/server/worker_server.h"

#include <grpcpp/health_check_service_interface.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status.h"
#include "worker/server/model_info.h"

namespace infernum::worker {
namespace {

constexpr char kServiceName[] = "infernum.v1.Worker";

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0')
    return "localhost";
  return buf;
}

}  // namespace

int64_t DefaultKvCacheBytes(int64_t bytes_per_block, int block_size,
                            int max_model_len, int max_num_seqs) {
  const int64_t blocks_per_seq = (max_model_len + block_size - 1) / block_size;
  const int64_t wanted = blocks_per_seq * max_num_seqs * bytes_per_block;
  // Never below one full-length sequence, even if that exceeds the cap.
  const int64_t floor = blocks_per_seq * bytes_per_block;
  return std::max(floor, std::min(wanted, kDefaultKvCacheCap));
}

absl::StatusOr<std::unique_ptr<WorkerServer>> WorkerServer::Start(
    const WorkerConfig& config) {
  RETURN_IF_ERROR(ValidateWorkerConfig(config));
  std::unique_ptr<WorkerServer> server(new WorkerServer());
  RETURN_IF_ERROR(server->Init(config));
  return server;
}

absl::Status WorkerServer::Init(const WorkerConfig& config) {
  ModelSetupOptions setup;
  setup.model_dir = config.model;
  setup.config_path = config.model.empty() ? config.model_config : "";
  setup.load_format = config.load_format;
  setup.dummy_dtype = config.dummy_dtype;
  setup.backend.name = config.backend;
  setup.backend.num_threads = config.threads;
  // A router needs tokenizer.json (sent in ModelInfo) to serve a real model;
  // random-weight benchmarks from a bare config.json have none.
  setup.need_tokenizer = config.load_format == "auto";
  ASSIGN_OR_RETURN(loaded_, SetupModel(setup));
  model_name_ = ServedModelName(config);
  RETURN_IF_ERROR(StartEngine(config));
  return StartGrpc(config);
}

absl::Status WorkerServer::StartEngine(const WorkerConfig& config) {
  EngineConfig ec;
  ec.block_size = config.block_size;
  ec.max_num_seqs = config.max_num_seqs;
  ec.max_num_batched_tokens = config.max_num_batched_tokens;
  ec.enable_prefix_caching = config.enable_prefix_caching;
  ec.enable_chunked_prefill = config.enable_chunked_prefill;
  ec.max_model_len = config.max_model_len;
  ec.kv_cache_memory_bytes = config.kv_cache_memory;
  if (ec.kv_cache_memory_bytes == 0) {
    const int64_t per_block =
        loaded_.model->MakeKvCacheShape(1, config.block_size).BytesPerBlock();
    const int max_len = config.max_model_len > 0
                            ? config.max_model_len
                            : loaded_.config.max_position_embeddings;
    ec.kv_cache_memory_bytes = DefaultKvCacheBytes(
        per_block, config.block_size, max_len, config.max_num_seqs);
  }
  ASSIGN_OR_RETURN(auto engine, Engine::Create(*loaded_.model, ec,
                                               DefaultStopTokenIds(loaded_)));
  loop_ = std::make_unique<EngineLoop>(std::move(engine));
  return absl::OkStatus();
}

absl::Status WorkerServer::StartGrpc(const WorkerConfig& config) {
  const EngineConfig& ec = loop_->config();
  ModelInfoParams params;
  params.model_dir = config.model;
  params.served_model_name = model_name_;
  params.max_context_length = ec.max_model_len;
  params.block_size = ec.block_size;
  params.max_num_seqs = ec.max_num_seqs;
  ASSIGN_OR_RETURN(v1::ModelInfo info, BuildModelInfo(loaded_, params));
  service_ = std::make_unique<WorkerService>(*loop_, std::move(info));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials(),
                           &port_);
  builder.RegisterService(service_.get());
  builder.SetMaxSendMessageSize(256
                                << 20);  // ModelInfo carries tokenizer.json.
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    server_.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config.listen));
  }
  address_ = absl::StrCat(config.listen.substr(0, config.listen.rfind(':')),
                          ":", port_);
  worker_id_ = config.worker_id.empty() ? absl::StrCat(HostName(), ":", port_)
                                        : config.worker_id;
  service_->SetWorkerId(worker_id_);
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health != nullptr) {
    health->SetServingStatus(kServiceName, true);
    health->SetServingStatus(true);
  }
  LOG(INFO) << "serving " << model_name_ << " on " << address_ << " ("
            << ec.num_blocks << " KV blocks of " << ec.block_size
            << ", max_model_len " << ec.max_model_len << ")";
  return absl::OkStatus();
}

void WorkerServer::Shutdown(std::chrono::milliseconds grace) {
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  if (shut_down_ || server_ == nullptr) return;
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health != nullptr) health->SetServingStatus(false);
  service_->BeginShutdown();
  if (!loop_->Drain(grace)) {
    LOG(WARNING)
        << "shutdown: " << loop_->num_unfinished()
        << " request(s) still running after the grace period; aborting them";
  }
  loop_->Shutdown();  // Aborts what is left: streams end with
                      // FINISH_REASON_ABORT.
  // Handlers return within a poll interval now; the deadline only bounds
  // calls stuck on a slow client.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server_->Wait();
  shut_down_ = true;
}

void WorkerServer::Wait() {
  // Shutdown holds shutdown_mu_ until it is done; Wait also has to block
  // when Shutdown has not started yet, so it uses the server's own Wait.
  if (server_ != nullptr) server_->Wait();
  std::lock_guard<std::mutex> lock(shutdown_mu_);
}

WorkerServer::~WorkerServer() { Shutdown(std::chrono::milliseconds(0)); }

}  // namespace infernum::worker
