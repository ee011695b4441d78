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
  setup.backend.cpu_matmul_precision = config.cpu_matmul_precision;
  setup.kv_cache_dtype = config.kv_cache_dtype;
  // A router needs tokenizer.json (sent in ModelInfo) to serve a real model;
  // random-weight benchmarks from a bare config.json have none.
  setup.need_tokenizer = config.load_format == "auto";
  setup.cuda_graphs = config.cuda_graphs;
  ASSIGN_OR_RETURN(loaded_, SetupModel(setup));
  model_name_ = ServedModelName(config);
  RETURN_IF_ERROR(StartEngine(config));
  RETURN_IF_ERROR(StartGrpc(config));
  return StartMetricsHttp(config);
}

absl::Status WorkerServer::StartEngine(const WorkerConfig& config) {
  EngineConfig ec;
  ec.block_size = config.block_size;
  ec.max_num_seqs = config.max_num_seqs;
  ec.max_num_batched_tokens = config.max_num_batched_tokens;
  ec.enable_prefix_caching = config.enable_prefix_caching;
  ec.enable_chunked_prefill = config.enable_chunked_prefill;
  ec.max_model_len = config.max_model_len;
  ec.cuda_graphs = loaded_.cuda_graphs;
  ec.kv_cache_memory_bytes = config.kv_cache_memory;
  if (ec.kv_cache_memory_bytes == 0 && config.backend == "cuda") {
    // vLLM-style: what is free after the weights and the largest step's
    // workspace, times gpu_memory_utilization; an error (exit 2) when not
    // even one max_model_len sequence fits.
    DeviceMemoryOptions mem;
    mem.gpu_memory_utilization = config.gpu_memory_utilization;
    mem.block_size = config.block_size;
    mem.max_model_len = config.max_model_len;
    mem.max_num_batched_tokens = config.max_num_batched_tokens;
    mem.max_num_seqs = config.max_num_seqs;
    ASSIGN_OR_RETURN(const KvCachePlan plan, PlanKvCacheOnDevice(loaded_, mem));
    ec.kv_cache_memory_bytes = plan.kv_cache_bytes;
  } else if (ec.kv_cache_memory_bytes == 0) {
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
  metrics_ = std::make_unique<WorkerMetrics>(
      model_name_, [loop = loop_.get()] { return loop->stats(); });
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
  service_ =
      std::make_unique<WorkerService>(*loop_, std::move(info), metrics_.get());

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
            << ec.num_blocks << " KV blocks of " << ec.block_size << ", "
            << kernels::DTypeName(loaded_.model->kv_cache_dtype())
            << ", max_model_len " << ec.max_model_len << ")";
  return absl::OkStatus();
}

absl::Status WorkerServer::StartMetricsHttp(const WorkerConfig& config) {
  if (config.metrics_listen.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(
      metrics_http_,
      MetricsHttpServer::Start(config.metrics_listen, &metrics_->registry()));
  return absl::OkStatus();
}

void WorkerServer::Shutdown(std::chrono::milliseconds grace) {
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  if (shut_down_ || server_ == nullptr) return;
  const auto deadline = std::chrono::steady_clock::now() + grace;
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health != nullptr) health->SetServingStatus(false);
  service_->BeginShutdown();
  // In flight = accepted by the engine, or finished there but still being
  // streamed to a client; both get the grace period.
  const bool engine_idle = loop_->Drain(grace);
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (!engine_idle) {
    LOG(WARNING)
        << "shutdown: " << loop_->num_unfinished()
        << " request(s) still running after the grace period; aborting them";
  } else if (!service_->WaitForGenerateHandlers(
                 std::max(left, std::chrono::milliseconds(0)))) {
    LOG(WARNING) << "shutdown: streams still being written after the grace "
                    "period";
  }
  loop_->Shutdown();  // Aborts what is left: streams end with
                      // FINISH_REASON_ABORT.
  // Handlers now return as soon as their final message is written; a slow
  // client gets a few more seconds, then its call is cancelled. The gRPC
  // deadline is short because grpc also waits for idle client connections
  // to close, which an idle client may never do.
  if (!service_->WaitForGenerateHandlers(std::chrono::seconds(5))) {
    LOG(WARNING) << "shutdown: cancelling streams a client is not reading";
  }
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(500));
  server_->Wait();
  if (metrics_http_ != nullptr) metrics_http_->Stop();
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
