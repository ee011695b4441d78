#include "worker/server/worker_config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "common/testing.h"

namespace infernum::worker {
namespace {

TEST(ParseByteSizeTest, PlainNumbersAndUnits) {
  EXPECT_EQ(*ParseByteSize("1073741824", "x"), int64_t{1} << 30);
  EXPECT_EQ(*ParseByteSize("256MiB", "x"), int64_t{256} << 20);
  EXPECT_EQ(*ParseByteSize("1GiB", "x"), int64_t{1} << 30);
  EXPECT_EQ(*ParseByteSize("1gib", "x"), int64_t{1} << 30);
  EXPECT_EQ(*ParseByteSize("2 GB", "x"), int64_t{2000000000});
  EXPECT_EQ(*ParseByteSize("512k", "x"), 512000);
  EXPECT_EQ(*ParseByteSize("4Ki", "x"), 4096);
  EXPECT_EQ(*ParseByteSize("1.5GiB", "x"), (int64_t{3} << 30) / 2);
  EXPECT_EQ(*ParseByteSize("100B", "x"), 100);
  EXPECT_EQ(*ParseByteSize("1TiB", "x"), int64_t{1} << 40);
}

TEST(ParseByteSizeTest, RejectsGarbageWithTheName) {
  for (const char* bad :
       {"", "GiB", "-1GiB", "12XB", "1.2.3", "1 GiBs", "1e3"}) {
    auto r = ParseByteSize(bad, "kv_cache_memory");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("kv_cache_memory"), std::string::npos);
  }
  EXPECT_FALSE(ParseByteSize("99999999TiB", "x").ok());  // Overflows int64.
}

TEST(WorkerConfigTest, YamlSetsEveryField) {
  auto c = WorkerConfigFromYaml(R"(
model: /models/llama
served_model_name: my-llama
backend: cuda
threads: 4
listen: 127.0.0.1:0
worker_id: w1
kv_cache_memory: 256MiB
block_size: 32
max_num_seqs: 8
max_num_batched_tokens: 512
enable_prefix_caching: false
enable_chunked_prefill: false
max_model_len: 1024
load_format: auto
shutdown_grace_seconds: 2.5
metrics_listen: 0.0.0.0:9090
gpu_memory_utilization: 0.75
cuda_graphs: false
kv_cache_dtype: bf16
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model, "/models/llama");
  EXPECT_EQ(c->served_model_name, "my-llama");
  EXPECT_EQ(c->backend, "cuda");
  EXPECT_EQ(c->threads, 4);
  EXPECT_EQ(c->listen, "127.0.0.1:0");
  EXPECT_EQ(c->worker_id, "w1");
  EXPECT_EQ(c->kv_cache_memory, int64_t{256} << 20);
  EXPECT_EQ(c->block_size, 32);
  EXPECT_EQ(c->max_num_seqs, 8);
  EXPECT_EQ(c->max_num_batched_tokens, 512);
  EXPECT_FALSE(c->enable_prefix_caching);
  EXPECT_FALSE(c->enable_chunked_prefill);
  EXPECT_EQ(c->max_model_len, 1024);
  EXPECT_DOUBLE_EQ(c->shutdown_grace_seconds, 2.5);
  EXPECT_EQ(c->metrics_listen, "0.0.0.0:9090");
  EXPECT_DOUBLE_EQ(c->gpu_memory_utilization, 0.75);
  EXPECT_FALSE(c->cuda_graphs);
  EXPECT_EQ(c->kv_cache_dtype, "bf16");
}

TEST(WorkerConfigTest, DefaultsAndDummyConfigAlias) {
  auto c =
      WorkerConfigFromYaml("load_format: dummy\nconfig: /cfg/llama3_8b.json\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_config, "/cfg/llama3_8b.json");
  EXPECT_EQ(c->listen, "0.0.0.0:50051");
  EXPECT_EQ(c->metrics_listen, "");  // No /metrics unless configured.
  EXPECT_EQ(c->block_size, 16);
  EXPECT_TRUE(c->enable_prefix_caching);
  EXPECT_DOUBLE_EQ(c->gpu_memory_utilization, 0.9);
  EXPECT_TRUE(c->cuda_graphs);
  EXPECT_EQ(c->cpu_matmul_precision, "f32");
  EXPECT_EQ(c->kv_cache_dtype, "auto");
  EXPECT_EQ(ServedModelName(*c), "llama3_8b");
  auto bf16 = WorkerConfigFromYaml("model: m\ncpu_matmul_precision: bf16\n");
  ASSERT_TRUE(bf16.ok()) << bf16.status();
  EXPECT_EQ(bf16->cpu_matmul_precision, "bf16");
  WorkerConfig d;
  d.model = "/a/b/stories260K/";
  EXPECT_EQ(ServedModelName(d), "stories260K");
  d.served_model_name = "x";
  EXPECT_EQ(ServedModelName(d), "x");
}

TEST(WorkerConfigTest, BadYamlNamesTheKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"model: m\nmax_num_seqs: abc\n", "max_num_seqs"},
      {"model: m\nblock_size: 0\n", "block_size"},
      {"model: m\nbackend: tpu\n", "backend"},
      {"model: m\nlisten: nohost\n", "listen"},
      {"model: m\nlisten: h:70000\n", "listen"},
      {"model: m\nmetrics_listen: 9090\n", "metrics_listen"},
      {"model: m\nmetrics_listen: h:-1\n", "metrics_listen"},
      {"model: m\nmetrics_listen: h:port\n", "metrics_listen"},
      {"model: m\nkv_cache_memory: lots\n", "kv_cache_memory"},
      {"model: m\nmax_num_seq: 3\n", "max_num_seq"},  // Typo: unknown key.
      {"model: m\nload_format: pt\n", "load_format"},
      {"threads: 2\n", "model"},
      {"model: m\nenable_prefix_caching: maybe\n", "enable_prefix_caching"},
      {"model: [1, 2]\n", "model"},
      {"model: m\ngpu_memory_utilization: 0\n", "gpu_memory_utilization"},
      {"model: m\ngpu_memory_utilization: 1.5\n", "gpu_memory_utilization"},
      {"model: m\ngpu_memory_utilization: .nan\n", "gpu_memory_utilization"},
      {"model: m\ncuda_graphs: sometimes\n", "cuda_graphs"},
      {"model: m\ncpu_matmul_precision: int8\n", "cpu_matmul_precision"},
      {"model: m\nkv_cache_dtype: fp8\n", "kv_cache_dtype"},
      {"model: m\nkv_cache_dtype: [bf16]\n", "kv_cache_dtype"},
  };
  for (const auto& [yaml, key] : cases) {
    auto c = WorkerConfigFromYaml(yaml);
    ASSERT_FALSE(c.ok()) << yaml;
    EXPECT_NE(c.status().message().find(key), std::string::npos) << c.status();
  }
}

TEST(WorkerConfigTest, FlagsOverrideTheFile) {
  const std::string path = testing::TempDir() + "/worker_config_test.yaml";
  {
    std::ofstream out(path);
    out << "model: /m\nmax_num_seqs: 8\nlisten: "
           "0.0.0.0:1234\nenable_prefix_caching: true\n";
  }
  auto args = cli::ParseArgs(
      {"--config", path, "--max-num-seqs", "3", "--no-enable-prefix-caching",
       "--kv-cache-memory=1MiB", "--metrics-listen", "127.0.0.1:0"},
      WorkerFlagSpecs());
  ASSERT_TRUE(args.ok()) << args.status();
  auto c = LoadWorkerConfig(*args);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model, "/m");
  EXPECT_EQ(c->max_num_seqs, 3);
  EXPECT_EQ(c->listen, "0.0.0.0:1234");
  EXPECT_FALSE(c->enable_prefix_caching);
  EXPECT_EQ(c->kv_cache_memory, int64_t{1} << 20);
  EXPECT_EQ(c->metrics_listen, "127.0.0.1:0");
  EXPECT_TRUE(c->cuda_graphs);
}

TEST(WorkerConfigTest, KvCacheDTypeFromFileAndFlag) {
  const std::string path = testing::TempDir() + "/kv_dtype_test.yaml";
  {
    std::ofstream out(path);
    out << "model: /m\nkv_cache_dtype: f32\n";
  }
  auto file_only = cli::ParseArgs({"--config", path}, WorkerFlagSpecs());
  ASSERT_TRUE(file_only.ok()) << file_only.status();
  auto c = LoadWorkerConfig(*file_only);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kv_cache_dtype, "f32");

  auto overridden = cli::ParseArgs(
      {"--config", path, "--kv-cache-dtype", "bf16"}, WorkerFlagSpecs());
  ASSERT_TRUE(overridden.ok()) << overridden.status();
  c = LoadWorkerConfig(*overridden);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kv_cache_dtype, "bf16");

  // Every name ParseKvCacheDType accepts is a valid setting.
  for (const char* ok : {"auto", "f32", "bf16", "bfloat16", "f16"}) {
    auto a = cli::ParseArgs({"--model", "m", "--kv-cache-dtype", ok},
                            WorkerFlagSpecs());
    ASSERT_TRUE(a.ok());
    EXPECT_TRUE(LoadWorkerConfig(*a).ok()) << ok;
  }
  auto bad = cli::ParseArgs({"--config", path, "--kv-cache-dtype", "int4"},
                            WorkerFlagSpecs());
  ASSERT_TRUE(bad.ok());
  c = LoadWorkerConfig(*bad);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("kv_cache_dtype"), std::string::npos)
      << c.status();
  EXPECT_NE(c.status().message().find("int4"), std::string::npos) << c.status();
}

TEST(WorkerConfigTest, GpuMemoryFlags) {
  auto args =
      cli::ParseArgs({"--model", "/m", "--backend", "cuda",
                      "--gpu-memory-utilization", "0.5", "--no-cuda-graphs"},
                     WorkerFlagSpecs());
  ASSERT_TRUE(args.ok()) << args.status();
  auto c = LoadWorkerConfig(*args);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(c->gpu_memory_utilization, 0.5);
  EXPECT_FALSE(c->cuda_graphs);

  args = cli::ParseArgs({"--model", "/m", "--gpu-memory-utilization", "1.01"},
                        WorkerFlagSpecs());
  ASSERT_TRUE(args.ok()) << args.status();
  c = LoadWorkerConfig(*args);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("gpu_memory_utilization"),
            std::string::npos)
      << c.status();
}

TEST(WorkerConfigTest, FlagErrors) {
  auto missing_file =
      cli::ParseArgs({"--config", "/nonexistent/w.yaml"}, WorkerFlagSpecs());
  ASSERT_TRUE(missing_file.ok());
  auto c = LoadWorkerConfig(*missing_file);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("/nonexistent/w.yaml"),
            std::string::npos);

  auto bad_bytes = cli::ParseArgs({"--model", "m", "--kv-cache-memory", "x"},
                                  WorkerFlagSpecs());
  ASSERT_TRUE(bad_bytes.ok());
  c = LoadWorkerConfig(*bad_bytes);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("--kv-cache-memory"), std::string::npos);

  auto stray = cli::ParseArgs({"--model", "m", "extra"}, WorkerFlagSpecs());
  ASSERT_TRUE(stray.ok());
  EXPECT_FALSE(LoadWorkerConfig(*stray).ok());
  EXPECT_FALSE(
      cli::ParseArgs({"--max-num-seqs", "many"}, WorkerFlagSpecs()).ok());
}

}  // namespace
}  // namespace infernum::worker
