// The device probes and the FLOP/byte accounting of `infernum bench` on the
// CPU backend, against independent calculations: the loaded weights'
// tensors, the KV cache's own sizing, explicit loops, and the published
// parameter count of Llama-3.1-8B.
#include "cli/bench_device.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/bench_device_cost.h"
#include "cli/bench_device_model.h"
#include "cli/bench_device_run.h"
#include "cli/bench_throughput.h"
#include "common/testing.h"
#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "models/io/model_config.h"
#include "nlohmann/json.hpp"
#include "worker/model_setup.h"

namespace infernum::cli {
namespace {

bool FinitePositive(double v) { return std::isfinite(v) && v > 0; }

std::unique_ptr<kernels::Backend> Cpu() {
  kernels::BackendOptions o;
  o.num_threads = 1;
  auto b = kernels::CreateBackend(o);
  EXPECT_TRUE(b.ok()) << b.status();
  return std::move(*b);
}

// A small Llama config (h 64, I 160, 3 layers, 4 heads / 2 KV heads of 16,
// V 300) written to a temporary file; `tied` shares embed and lm_head.
std::string TinyConfig(bool tied) {
  const std::string path =
      testing::TempDir() + (tied ? "/tied.json" : "/untied.json");
  std::ofstream(path) << R"({"architectures": ["LlamaForCausalLM"],
    "model_type": "llama", "hidden_size": 64, "intermediate_size": 160,
    "num_hidden_layers": 3, "num_attention_heads": 4,
    "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 300,
    "max_position_embeddings": 256, "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0, "bos_token_id": 1, "eos_token_id": 2,
    "tie_word_embeddings": )"
                      << (tied ? "true" : "false") << "}";
  return path;
}

worker::LoadedModel LoadTiny(bool tied) {
  worker::ModelSetupOptions o;
  o.config_path = TinyConfig(tied);
  o.load_format = "dummy";
  o.backend.num_threads = 1;
  o.need_tokenizer = false;
  auto loaded = worker::SetupModel(o);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return std::move(*loaded);
}

TEST(BenchDeviceProbes, CopyBandwidthOnCpuIsFinitePositive) {
  auto cpu = Cpu();
  auto dev = MeasureDeviceCopyBandwidth(*cpu, 4 << 20, 2, 3);
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_TRUE(FinitePositive(dev->bytes_per_s));
  EXPECT_TRUE(FinitePositive(dev->best_rep_s));
  // read + write: twice the bytes copied by the best repetition.
  EXPECT_NEAR(dev->bytes_per_s * dev->best_rep_s, 2.0 * (4 << 20) * 2,
              1e-6 * dev->bytes_per_s);
  auto host = MeasureHostCopyBandwidth(4 << 20, 2, 2);
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_TRUE(FinitePositive(host->bytes_per_s));
  EXPECT_FALSE(MeasureDeviceCopyBandwidth(*cpu, 0, 1, 1).ok());
  EXPECT_FALSE(MeasureDeviceCopyBandwidth(*cpu, 1024, 1, 0).ok());
  EXPECT_FALSE(MeasureHostCopyBandwidth(1024, 0, 1).ok());
}

TEST(BenchDeviceProbes, GemmPeakOnCpuIsFinitePositive) {
  auto cpu = Cpu();
  const GemmShape shape{8, 48, 32};
  auto g = MeasureGemmPeak(*cpu, shape, 2, 2);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(FinitePositive(g->flops_per_s));
  EXPECT_EQ(g->weight_dtype, kernels::DType::kBF16);
  EXPECT_EQ(g->activation_dtype, cpu->activation_dtype());
  EXPECT_NEAR(g->flops_per_s * g->best_rep_s, 2.0 * 8 * 48 * 32 * 2,
              1e-6 * g->flops_per_s);
  EXPECT_FALSE(MeasureGemmPeak(*cpu, {0, 1, 1}, 1, 1).ok());
}

TEST(BenchDeviceProbes, GemmShapes) {
  auto s = ParseGemmShape("8192x4096x1024");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->m, 8192);
  EXPECT_EQ(s->n, 4096);
  EXPECT_EQ(s->k, 1024);
  EXPECT_DOUBLE_EQ(s->Flops(), 2.0 * 8192 * 4096 * 1024);
  for (const char* bad : {"", "1x2", "1x2x3x4", "0x1x1", "axbxc", "1x1x99999"})
    EXPECT_FALSE(ParseGemmShape(bad).ok()) << bad;
  EXPECT_EQ(DefaultGemmShape(kernels::DeviceType::kCuda).k, 8192);
  EXPECT_LT(DefaultGemmShape(kernels::DeviceType::kCpu).Flops(),
            DefaultGemmShape(kernels::DeviceType::kCuda).Flops());
}

// Weight bytes one decode step of TinyConfig reads, by hand (bf16): the
// layers (2 norms, q/k/v, o, gate/up/down), the final norm, the whole
// lm_head and one embedding row, tied or not.
double ExpectedDecodeWeightBytes() {
  const double h = 64, inter = 160, q = 64, kv = 32, v = 300, layers = 3;
  const double per_layer = 2 * h + h * (q + 2 * kv) + q * h + 3 * h * inter;
  return 2.0 * (layers * per_layer + h + v * h + h);
}

TEST(BenchDeviceCost, DecodeWeightBytesMatchTheConfig) {
  for (bool tied : {false, true}) {
    worker::LoadedModel m = LoadTiny(tied);
    const double got = DecodeWeightBytesPerStep(m.model->weights());
    EXPECT_DOUBLE_EQ(got, ExpectedDecodeWeightBytes()) << tied;
    // Against the loader's own byte count: an untied embedding table is
    // read one row per token, a tied one is the lm_head.
    const double table = 2.0 * 300 * 64, row = 2.0 * 64;
    const double total = static_cast<double>(m.model->weights().total_bytes);
    EXPECT_DOUBLE_EQ(got, tied ? total + row : total - table + row) << tied;
  }
}

TEST(BenchDeviceCost, KvBytesMatchTheCacheShape) {
  worker::LoadedModel m = LoadTiny(false);
  const models::KvCacheShape shape = m.model->MakeKvCacheShape(1, 16);
  EXPECT_EQ(KvBytesPerContextToken(m.config, shape.dtype) * 16,
            static_cast<int64_t>(shape.BytesPerBlock()));
  double sum = 0;
  for (int i = 0; i < 32; ++i) sum += 100 + i + 1;  // seq_len of step i
  EXPECT_DOUBLE_EQ(MeanDecodeContext(100, 32), sum / 32);
  DecodeTraffic t{1000, 10, 50};
  EXPECT_DOUBLE_EQ(t.Total(), 1500);
}

TEST(BenchDeviceCost, PrefillFlopsMatchTheWeightsAndAnExplicitLoop) {
  worker::LoadedModel m = LoadTiny(false);
  const models::ModelConfig& c = m.config;
  double matmul_params = 0;
  for (const models::LlamaLayerWeights& l : m.model->weights().layers) {
    for (const models::Weight* w : {&l.qkv, &l.o_proj, &l.gate_up, &l.down})
      matmul_params += static_cast<double>(w->tensor.numel());
  }
  const double lm_head =
      static_cast<double>(m.model->weights().lm_head.tensor.numel());
  for (int n : {1, 7, 64}) {
    double attention = 0;  // query i attends to keys 0..i
    for (int layer = 0; layer < c.num_hidden_layers; ++layer)
      for (int head = 0; head < c.num_attention_heads; ++head)
        for (int i = 0; i < n; ++i) attention += 2.0 * 2 * c.head_dim * (i + 1);
    const double want = 2.0 * n * matmul_params + 2.0 * 3 * lm_head + attention;
    EXPECT_DOUBLE_EQ(PrefillFlops(c, n, 3), want) << n;
  }
}

TEST(BenchDeviceCost, Llama31_8BParameterCount) {
  std::ifstream f(testing::SharedModelsDir() + "/configs/llama-3.1-8b.json");
  ASSERT_TRUE(f.good());
  std::stringstream text;
  text << f.rdbuf();
  auto c = models::ParseModelConfig(text.str(), "");
  ASSERT_TRUE(c.ok()) << c.status();
  // One token, one logits row: 2 x (matmul params incl. lm_head) + one
  // attention pair per head and layer (4 x head_dim).
  const double attention = 4.0 * 32 * 128 * 32;
  const double matmul = (PrefillFlops(*c, 1, 1) - attention) / 2;
  const double embed = 128256.0 * 4096, norms = (2 * 32 + 1) * 4096.0;
  EXPECT_DOUBLE_EQ(matmul + embed + norms, 8030261248.0);  // HF model card
}

TEST(BenchDeviceModel, Batch1OnTinyModel) {
  worker::LoadedModel m = LoadTiny(false);
  auto r = RunBatch1(*m.model, {16, 4, 2, 16});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(FinitePositive(r->prefill_tok_s));
  EXPECT_TRUE(FinitePositive(r->decode_tok_s));
  EXPECT_DOUBLE_EQ(r->decode_tok_s, 4 / r->decode_s);
  EXPECT_EQ(r->graph_decode_steps, 0);
  // CUDA graphs asked for on the CPU: no graphs, the same eager path.
  Batch1Options graphs{16, 4, 1, 16};
  graphs.cuda_graphs = true;
  auto g = RunBatch1(*m.model, graphs);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->num_decode_graphs, 0);
  EXPECT_EQ(m.model->num_decode_graphs(), 0);
  EXPECT_FALSE(RunBatch1(*m.model, {250, 10, 1, 16}).ok());  // > context
  EXPECT_FALSE(RunBatch1(*m.model, {0, 1, 1, 16}).ok());
}

TEST(BenchThroughputShapes, Parse) {
  auto s = ParseThroughputShapes("1024:128,128:64");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->size(), 2u);
  EXPECT_EQ((*s)[0].input_len, 1024);
  EXPECT_EQ((*s)[1].output_len, 64);
  for (const char* bad : {"", "1024", "1024:", ":5", "0:5", "5:0", "1:2:3",
                          "1:2,", "a:b", "1:2;3:4"})
    EXPECT_FALSE(ParseThroughputShapes(bad).ok()) << bad;
}

absl::StatusOr<DeviceBenchOptions> Options(std::vector<std::string> args) {
  auto a = ParseArgs(args, BenchFlagSpecs());
  if (!a.ok()) return a.status();
  return DeviceBenchOptionsFromFlags(*a);
}

TEST(BenchDeviceFlags, DefaultsAndErrors) {
  auto cpu = Options({});
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_EQ(cpu->prefill_len, cpu->prompt_len);
  EXPECT_TRUE(cpu->throughput.empty());
  auto cuda = Options({"--backend", "cuda", "--throughput", "64:8"});
  ASSERT_TRUE(cuda.ok()) << cuda.status();
  EXPECT_EQ(cuda->prefill_len, 2048);
  EXPECT_EQ(cuda->num_requests, 256);
  EXPECT_TRUE(cuda->ignore_eos);
  EXPECT_FALSE(cuda->run_sequential);
  for (std::vector<std::string> bad :
       {std::vector<std::string>{"--gpu-memory-utilization", "1.5"},
        {"--gpu-memory-utilization", "0"},
        {"--prefill-len", "0"},
        {"--throughput", "12x"},
        {"--throughput", "8:8", "--input-len", "8"},
        {"--gemm-shape", "1x1"},
        {"--copy-mib", "0"},
        {"--json", testing::TempDir() + "/no/such/dir/x.json"}}) {
    EXPECT_FALSE(Options(bad).ok()) << bad[0] << " " << bad[1];
  }
}

TEST(BenchDeviceRun, JsonFiguresAreConsistent) {
  worker::LoadedModel m = LoadTiny(false);
  const std::string path = testing::TempDir() + "/bench.json";
  auto o = Options({"--prompt-len", "16", "--decode-len", "4", "--prefill-len",
                    "24", "--reps", "1", "--copy-mib", "4", "--gemm-shape",
                    "8x32x32", "--throughput", "8:4,4:2", "--num-requests", "3",
                    "--json", path});
  ASSERT_TRUE(o.ok()) << o.status();
  ASSERT_TRUE(CheckDeviceBenchFits(*o, m.config).ok());
  ASSERT_TRUE(RunDeviceBench(m, *o).ok());
  std::ifstream f(path);
  const nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_TRUE(j.value("complete", false));
  const auto& d = j["decode"];
  const double bw = j["roofline_bandwidth_bytes_per_s"];
  EXPECT_DOUBLE_EQ(d["roofline_tok_s"].get<double>(),
                   bw / d["bytes_per_token"].get<double>());
  EXPECT_DOUBLE_EQ(
      d["roofline_fraction"].get<double>(),
      d["tok_s"].get<double>() / d["roofline_tok_s"].get<double>());
  EXPECT_DOUBLE_EQ(d["mean_context"].get<double>(), 16 + 2.5);
  const auto& p = j["prefill"];
  EXPECT_EQ(p["tokens"], 24);
  EXPECT_DOUBLE_EQ(p["flops"].get<double>(), PrefillFlops(m.config, 24, 1));
  EXPECT_NEAR(p["gemm_peak_fraction"].get<double>(),
              p["flops"].get<double>() / p["seconds"].get<double>() /
                  j["gemm_peak"]["flop_per_s"].get<double>(),
              1e-9);
  ASSERT_EQ(j["throughput"].size(), 2u);
  EXPECT_EQ(j["throughput"][1]["input_len"], 4);
  EXPECT_EQ(j["throughput"][0]["num_requests"], 3);
  EXPECT_GT(j["throughput"][0]["output_tok_s"].get<double>(), 0);
}

TEST(BenchDeviceRun, KvPlanLeavesCpuConfigAlone) {
  worker::LoadedModel m = LoadTiny(false);
  worker::EngineConfig c;
  c.max_num_seqs = 7;
  auto planned = PlanEngineKvCache(m, 0.5, c);
  ASSERT_TRUE(planned.ok());
  EXPECT_EQ(planned->num_blocks, 0);
  EXPECT_EQ(planned->kv_cache_memory_bytes, 0);
  EXPECT_EQ(planned->max_num_seqs, 7);
}

}  // namespace
}  // namespace infernum::cli
