#include "cli/bench_device_run.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/bench_device_cost.h"
#include "cli/bench_device_model.h"
#include "common/status.h"
#include "nlohmann/json.hpp"

namespace infernum::cli {
namespace {

using nlohmann::json;

constexpr double kDecodeTarget = 0.85;   // issue 6: of the roofline
constexpr double kPrefillTarget = 0.60;  // issue 6: of the GEMM peak

// The JSON document, rewritten (via a temporary file) after each phase.
class JsonFile {
 public:
  explicit JsonFile(std::string path) : path_(std::move(path)) {}
  json& doc() { return doc_; }
  absl::Status Write() const {
    if (path_.empty()) return absl::OkStatus();
    const std::string tmp = path_ + ".tmp";
    {
      std::ofstream f(tmp, std::ios::trunc);
      f << doc_.dump(1) << "\n";
      if (!f.good()) return absl::InternalError("cannot write " + tmp);
    }
    if (std::rename(tmp.c_str(), path_.c_str()) != 0)
      return absl::InternalError("cannot rename " + tmp + " to " + path_);
    return absl::OkStatus();
  }

 private:
  std::string path_;
  json doc_ = json::object();
};

json CopyJson(const CopyBandwidth& c, const std::string& method) {
  return {{"bytes_per_s", c.bytes_per_s},
          {"gb_s", c.bytes_per_s / 1e9},
          {"convention", "bytes read + bytes written per second"},
          {"method", method},
          {"buffer_bytes", c.buffer_bytes},
          {"copies_per_rep", c.copies_per_rep},
          {"reps", c.reps}};
}

// Phase 1a: returns the roofline's bandwidth (bytes/s).
absl::StatusOr<double> BandwidthPhase(kernels::Backend& b,
                                      const DeviceBenchOptions& o,
                                      JsonFile& out) {
  const bool cpu = b.device_type() == kernels::DeviceType::kCpu;
  const long long mib = static_cast<long long>(o.copy_bytes >> 20);
  ASSIGN_OR_RETURN(const CopyBandwidth dev,
                   MeasureDeviceCopyBandwidth(b, o.copy_bytes, cpu ? 1 : 10,
                                              /*reps=*/8));
  double bw = dev.bytes_per_s;
  std::string how = absl::StrFormat("device copy of %d MiB", mib);
  out.doc()["copy_bandwidth"] = CopyJson(dev, "Backend::CopyOnDevice");
  if (cpu) {
    const int threads = std::max(1u, std::thread::hardware_concurrency());
    ASSIGN_OR_RETURN(const CopyBandwidth host,
                     MeasureHostCopyBandwidth(o.copy_bytes, threads, 8));
    out.doc()["host_copy_bandwidth"] =
        CopyJson(host, absl::StrCat("std::memcpy on ", threads, " threads"));
    if (host.bytes_per_s >= bw) {
      bw = host.bytes_per_s;
      how = absl::StrFormat("parallel memcpy of %d MiB", mib);
    }
  }
  out.doc()["roofline_bandwidth_bytes_per_s"] = bw;
  std::printf("memory bandwidth %.2f GB/s (%s, read+write)\n", bw / 1e9,
              how.c_str());
  std::printf(
      "device copy      %.2f GB/s (Backend::CopyOnDevice of %lld MiB, "
      "read+write, best of %d x %d copies)\n",
      dev.bytes_per_s / 1e9, mib, dev.reps, dev.copies_per_rep);
  return bw;
}

// Phase 1b: returns the GEMM rate (FLOP/s).
absl::StatusOr<double> GemmPhase(kernels::Backend& b,
                                 const DeviceBenchOptions& o, JsonFile& out) {
  const bool cpu = b.device_type() == kernels::DeviceType::kCpu;
  const GemmShape shape =
      o.gemm_shape.value_or(DefaultGemmShape(b.device_type()));
  ASSIGN_OR_RETURN(const GemmPeak g,
                   MeasureGemmPeak(b, shape, cpu ? 1 : 10, cpu ? 3 : 5));
  out.doc()["gemm_peak"] = {
      {"flop_per_s", g.flops_per_s},
      {"tflop_s", g.flops_per_s / 1e12},
      {"m", shape.m},
      {"n", shape.n},
      {"k", shape.k},
      {"weight_dtype", kernels::DTypeName(g.weight_dtype)},
      {"activation_dtype", kernels::DTypeName(g.activation_dtype)},
      {"method", "Backend::Matmul"},
      {"iters_per_rep", g.iters_per_rep},
      {"reps", g.reps}};
  std::printf(
      "GEMM peak        %.3f TFLOP/s (Backend::Matmul, %s weights x %s "
      "activations, %s, best of %d x %d)\n",
      g.flops_per_s / 1e12, kernels::DTypeName(g.weight_dtype),
      kernels::DTypeName(g.activation_dtype), shape.ToString().c_str(), g.reps,
      g.iters_per_rep);
  return g.flops_per_s;
}

void ReportPrefill(const models::ModelConfig& c, int tokens, double seconds,
                   double gemm_peak, JsonFile& out) {
  const double flops = PrefillFlops(c, tokens, /*num_logit_rows=*/1);
  const double rate = flops / std::max(seconds, 1e-12);
  out.doc()["prefill"] = {{"tokens", tokens},
                          {"seconds", seconds},
                          {"tok_s", tokens / std::max(seconds, 1e-12)},
                          {"flops", flops},
                          {"tflop_s", rate / 1e12},
                          {"gemm_peak_fraction", rate / gemm_peak},
                          {"target_fraction", kPrefillTarget}};
  std::printf("prefill          %.1f tokens/s (%d tokens, batch 1)\n",
              tokens / std::max(seconds, 1e-12), tokens);
  std::printf(
      "prefill compute  %.3f TFLOP/s = %.1f%% of the GEMM peak (%.4g TFLOP "
      "per pass: matmuls + causal attention)\n",
      rate / 1e12, 100.0 * rate / gemm_peak, flops / 1e12);
}

void ReportDecode(const worker::LoadedModel& loaded,
                  const DeviceBenchOptions& o, double tok_s, double bandwidth,
                  JsonFile& out) {
  DecodeTraffic t;
  t.weight_bytes = DecodeWeightBytesPerStep(loaded.model->weights());
  const kernels::DType kv_dtype = loaded.model->kv_cache_dtype();
  t.kv_bytes_per_token =
      static_cast<double>(KvBytesPerContextToken(loaded.config, kv_dtype));
  t.mean_context = MeanDecodeContext(o.prompt_len, o.decode_len);
  const double roofline = bandwidth / t.Total();
  out.doc()["decode"] = {{"prompt_len", o.prompt_len},
                         {"decode_len", o.decode_len},
                         {"tok_s", tok_s},
                         {"weight_bytes_per_token", t.weight_bytes},
                         {"kv_bytes_per_context_token", t.kv_bytes_per_token},
                         {"kv_cache_dtype", kernels::DTypeName(kv_dtype)},
                         {"mean_context", t.mean_context},
                         {"bytes_per_token", t.Total()},
                         {"roofline_tok_s", roofline},
                         {"roofline_fraction", tok_s / roofline},
                         {"target_fraction", kDecodeTarget}};
  std::printf("decode           %.2f tokens/s (batch 1, %d steps)\n", tok_s,
              o.decode_len);
  std::printf(
      "decode roofline  %.2f tokens/s (%.1f MB weights+KV per token, KV %s)\n",
      roofline, t.Total() / 1e6, kernels::DTypeName(kv_dtype));
  std::printf("decode fraction  %.1f%% of the bandwidth roofline\n",
              100.0 * tok_s / roofline);
}

// Phases 2 and 3.
absl::Status Batch1Phases(worker::LoadedModel& loaded,
                          const DeviceBenchOptions& o, double bandwidth,
                          double gemm_peak, JsonFile& out) {
  Batch1Options b1;
  b1.prompt_len = o.prompt_len;
  b1.decode_len = o.decode_len;
  b1.reps = o.reps;
  b1.cuda_graphs = loaded.cuda_graphs;
  ASSIGN_OR_RETURN(const Batch1Result r, RunBatch1(*loaded.model, b1));
  if (loaded.backend->device_type() == kernels::DeviceType::kCuda) {
    std::printf(
        "decode graphs    %s: %d graph(s), %lld of %d decode steps on the "
        "graph path\n",
        loaded.cuda_graphs ? "on" : "off", r.num_decode_graphs,
        static_cast<long long>(r.graph_decode_steps), o.decode_len * o.reps);
    out.doc()["decode_graphs"] = {{"enabled", loaded.cuda_graphs},
                                  {"num_graphs", r.num_decode_graphs},
                                  {"graph_steps", r.graph_decode_steps},
                                  {"decode_steps", o.decode_len * o.reps}};
  }
  if (o.prefill_len == o.prompt_len)
    ReportPrefill(loaded.config, o.prompt_len, r.prefill_s, gemm_peak, out);
  ReportDecode(loaded, o, r.decode_tok_s, bandwidth, out);
  RETURN_IF_ERROR(out.Write());
  std::fflush(stdout);
  if (o.prefill_len != o.prompt_len) {
    b1.prompt_len = o.prefill_len;
    b1.decode_len = 1;
    b1.cuda_graphs = false;  // One decode step: not worth a capture.
    ASSIGN_OR_RETURN(const Batch1Result p, RunBatch1(*loaded.model, b1));
    ReportPrefill(loaded.config, o.prefill_len, p.prefill_s, gemm_peak, out);
    RETURN_IF_ERROR(out.Write());
  }
  return absl::OkStatus();
}

json ThroughputJson(const ThroughputResult& r) {
  auto lat = [](const LatencyStats& l) {
    return json{{"mean", l.mean_ms}, {"p50", l.p50_ms}, {"p99", l.p99_ms}};
  };
  return {{"num_requests", r.num_requests},
          {"input_len", r.input_len},
          {"output_len", r.output_len},
          {"wall_s", r.wall_s},
          {"output_tok_s", r.output_tok_s},
          {"total_tok_s", r.total_tok_s},
          {"decode_tok_s", r.decode_tok_s},
          {"ttft_ms", lat(r.ttft)},
          {"itl_ms", lat(r.itl)},
          {"peak_kv_cache_usage", r.peak_kv_cache_usage},
          {"num_kv_blocks", r.num_kv_blocks},
          {"num_preemptions", r.num_preemptions},
          {"num_steps", r.num_steps}};
}

// Phase 4.
absl::Status ThroughputPhase(worker::LoadedModel& loaded,
                             const DeviceBenchOptions& o, JsonFile& out) {
  ASSIGN_OR_RETURN(
      const worker::EngineConfig engine,
      PlanEngineKvCache(loaded, o.gpu_memory_utilization, o.engine));
  out.doc()["engine"] = {
      {"max_num_seqs", engine.max_num_seqs},
      {"max_num_batched_tokens", engine.max_num_batched_tokens},
      {"block_size", engine.block_size},
      {"kv_cache_memory_bytes", engine.kv_cache_memory_bytes},
      {"num_kv_blocks", engine.num_blocks},
      {"gpu_memory_utilization", o.gpu_memory_utilization}};
  out.doc()["throughput"] = json::array();
  for (const ThroughputShape& shape : o.throughput) {
    ThroughputOptions t;
    t.num_requests = o.num_requests;
    t.input_len = shape.input_len;
    t.output_len = shape.output_len;
    t.ignore_eos = o.ignore_eos;
    t.run_sequential = o.run_sequential;
    t.seed = o.seed;
    t.engine = engine;
    t.engine.cuda_graphs = loaded.cuda_graphs;
    ASSIGN_OR_RETURN(const ThroughputResult r, RunBatchingBench(loaded, t));
    out.doc()["throughput"].push_back(ThroughputJson(r));
    RETURN_IF_ERROR(out.Write());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<worker::EngineConfig> PlanEngineKvCache(
    worker::LoadedModel& loaded, double gpu_memory_utilization,
    worker::EngineConfig c) {
  if (c.num_blocks > 0 || c.kv_cache_memory_bytes > 0 ||
      loaded.backend->device_type() != kernels::DeviceType::kCuda) {
    return c;
  }
  worker::DeviceMemoryOptions mem;
  mem.gpu_memory_utilization = gpu_memory_utilization;
  mem.block_size = c.block_size;
  mem.max_model_len = c.max_model_len;
  mem.max_num_batched_tokens = c.max_num_batched_tokens;
  mem.max_num_seqs = c.max_num_seqs;
  ASSIGN_OR_RETURN(const worker::KvCachePlan plan,
                   worker::PlanKvCacheOnDevice(loaded, mem));
  c.kv_cache_memory_bytes = plan.kv_cache_bytes;
  std::printf(
      "KV cache plan    %.2f GiB = %lld blocks of %d tokens, %s "
      "(--gpu-memory-utilization %.2f)\n",
      plan.kv_cache_bytes / 1073741824.0,
      static_cast<long long>(plan.num_blocks), c.block_size,
      kernels::DTypeName(loaded.model->kv_cache_dtype()),
      gpu_memory_utilization);
  return c;
}

absl::Status RunDeviceBench(worker::LoadedModel& loaded,
                            const DeviceBenchOptions& o) {
  JsonFile out(o.json_path);
  kernels::Backend& b = *loaded.backend;
  const bool cuda = b.device_type() == kernels::DeviceType::kCuda;
  const auto& w = loaded.model->weights();
  out.doc()["model"] = loaded.model_id;
  out.doc()["backend"] = b.name();
  out.doc()["device"] = cuda ? "cuda" : "cpu";
  out.doc()["weights_bytes"] = w.total_bytes;
  out.doc()["cuda_graphs"] = loaded.cuda_graphs;
  out.doc()["kv_cache_dtype"] =
      kernels::DTypeName(loaded.model->kv_cache_dtype());
  std::printf("model            %s\n", loaded.model_id.c_str());
  std::printf("backend          %s\n", b.name().c_str());
  std::printf("weights          %.1f MB (%.1f MB read per decode step)\n",
              w.total_bytes / 1e6, DecodeWeightBytesPerStep(w) / 1e6);
  std::fflush(stdout);
  ASSIGN_OR_RETURN(const double bandwidth, BandwidthPhase(b, o, out));
  ASSIGN_OR_RETURN(const double gemm, GemmPhase(b, o, out));
  RETURN_IF_ERROR(out.Write());
  std::fflush(stdout);
  RETURN_IF_ERROR(Batch1Phases(loaded, o, bandwidth, gemm, out));
  std::fflush(stdout);
  if (!o.throughput.empty()) RETURN_IF_ERROR(ThroughputPhase(loaded, o, out));
  out.doc()["complete"] = true;
  return out.Write();
}

}  // namespace infernum::cli
