// infernum bench: batch-1 prefill and decode speed of a model, reported
// against this machine's measured memory bandwidth (the decode roofline).
// With --num-requests N: offline throughput through the engine instead
// (bench_throughput.h): batching vs one at a time, or, with
// --shared-prefix-len P, prefix caching on vs off.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/args.h"
#include "cli/bench_serve.h"
#include "cli/bench_throughput.h"
#include "cli/commands.h"
#include "cli/engine_flags.h"
#include "cli/model_flags.h"
#include "models/kv_cache.h"

namespace infernum::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Copies `bytes` with `num_threads` threads, best of `reps`; returns the
// memory traffic rate (bytes read + bytes written per second).
double MeasureCopyBandwidth(size_t bytes, int num_threads, int reps) {
  std::unique_ptr<char[]> src(new char[bytes]), dst(new char[bytes]);
  std::memset(src.get(), 1, bytes);
  std::memset(dst.get(), 0, bytes);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = Clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < num_threads; ++t) {
      threads.emplace_back([&, t] {
        const size_t b = bytes * t / num_threads,
                     e = bytes * (t + 1) / num_threads;
        std::memcpy(dst.get() + b, src.get() + b, e - b);
      });
    }
    for (auto& th : threads) th.join();
    best = std::min(best, Seconds(t0, Clock::now()));
  }
  return 2.0 * static_cast<double>(bytes) / best;
}

struct BenchResult {
  double prefill_tok_s = 0, decode_tok_s = 0;
};

// Runs `reps` x (prefill of prompt_len tokens, then decode_len decode steps)
// for one sequence and keeps the best rate of each phase.
absl::StatusOr<BenchResult> RunBatch1(models::LlamaModel& model,
                                      models::KvCache& cache, int prompt_len,
                                      int decode_len, int reps) {
  const int vocab = model.config().vocab_size;
  BenchResult best;
  std::vector<float> logits;
  for (int r = 0; r < reps; ++r) {
    models::ForwardBatch b;
    const int total = prompt_len + decode_len;
    b.max_blocks_per_seq =
        static_cast<int>((total + cache.block_size() - 1) / cache.block_size());
    for (int j = 0; j < b.max_blocks_per_seq; ++j) b.block_tables.push_back(j);
    for (int i = 0; i < prompt_len; ++i) {
      b.token_ids.push_back((i * 7919 + 13) % vocab);
      b.positions.push_back(i);
      b.slot_mapping.push_back(i);
    }
    b.query_start_loc = {0, prompt_len};
    b.seq_lens = {prompt_len};
    b.logits_indices = {prompt_len - 1};
    auto t0 = Clock::now();
    absl::Status st = model.Forward(b, cache, logits, nullptr);
    if (!st.ok()) return st;
    best.prefill_tok_s =
        std::max(best.prefill_tok_s, prompt_len / Seconds(t0, Clock::now()));
    auto t1 = Clock::now();
    for (int i = 0; i < decode_len; ++i) {
      const int pos = prompt_len + i;
      const int next = static_cast<int>(
          std::max_element(logits.begin(), logits.begin() + vocab) -
          logits.begin());
      b.token_ids = {next};
      b.positions = {pos};
      b.slot_mapping = {pos};
      b.query_start_loc = {0, 1};
      b.seq_lens = {pos + 1};
      b.logits_indices = {0};
      st = model.Forward(b, cache, logits, nullptr);
      if (!st.ok()) return st;
    }
    best.decode_tok_s =
        std::max(best.decode_tok_s, decode_len / Seconds(t1, Clock::now()));
  }
  return best;
}

std::vector<FlagSpec> BenchFlags() {
  std::vector<FlagSpec> specs = ModelFlagSpecs();
  specs.push_back(
      {"prompt-len", FlagType::kInt, "prefill tokens (default 128)"});
  specs.push_back({"decode-len", FlagType::kInt, "decode steps (default 32)"});
  specs.push_back(
      {"reps", FlagType::kInt, "repetitions, best kept (default 3)"});
  specs.push_back(
      {"copy-mib", FlagType::kInt, "memcpy size for bandwidth (default 1024)"});
  specs.push_back({"num-requests", FlagType::kInt,
                   "throughput mode: N requests through the engine, at once "
                   "and one at a time"});
  specs.push_back({"input-len", FlagType::kInt,
                   "throughput mode: prompt tokens (default 128)"});
  specs.push_back({"output-len", FlagType::kInt,
                   "throughput mode: output tokens (default 64)"});
  specs.push_back(
      {"ignore-eos", FlagType::kBool, "throughput mode: never stop on EOS"});
  specs.push_back(
      {"shared-prefix-len", FlagType::kInt,
       "throughput mode: requests share a prefix of P tokens (before their "
       "--input-len own tokens); compares prefix caching on vs off"});
  specs.push_back({"sequential", FlagType::kBool,
                   "throughput mode: also run one at a time (default on; "
                   "--no-sequential)"});
  specs.push_back({"seed", FlagType::kInt,
                   "throughput mode: prompt token seed (default 0)"});
  specs.insert(specs.end(), EngineFlagSpecs().begin(), EngineFlagSpecs().end());
  specs.push_back({"help", FlagType::kBool, "show this help"});
  return specs;
}

// Offline throughput through the engine (--num-requests).
int ThroughputMain(const ParsedArgs& a) {
  ThroughputOptions o;
  const int64_t n = a.GetInt("num-requests", 32),
                in = a.GetInt("input-len", 128),
                out = a.GetInt("output-len", 64),
                prefix = a.GetInt("shared-prefix-len", 0);
  constexpr int64_t kMax = 1 << 20;
  if (n < 1 || n > 100000 || in < 0 || in > kMax || out < 1 || out > kMax ||
      prefix < 0 || prefix > kMax || in + prefix < 1) {
    return UsageError(
        "bench",
        "--num-requests, --output-len must be positive, --input-len and "
        "--shared-prefix-len >= 0 (with a non-empty prompt)");
  }
  o.num_requests = static_cast<int>(n);
  o.input_len = static_cast<int>(in);
  o.output_len = static_cast<int>(out);
  o.shared_prefix_len = static_cast<int>(prefix);
  o.ignore_eos = a.GetBool("ignore-eos", false);
  o.run_sequential = a.GetBool("sequential", true);
  o.seed = static_cast<uint64_t>(a.GetInt("seed", 0));
  auto config = EngineConfigFromFlags(a);
  if (!config.ok())
    return UsageError("bench", std::string(config.status().message()));
  o.engine = *config;
  auto loaded = LoadModelFromFlags(a, /*need_tokenizer=*/false);
  if (!loaded.ok())
    return UsageError("bench", std::string(loaded.status().message()));
  const int64_t context = config->max_model_len > 0
                              ? config->max_model_len
                              : loaded->config.max_position_embeddings;
  if (prefix + in + out > context) {
    return UsageError(
        "bench",
        "shared-prefix-len + input-len + output-len exceeds the context");
  }
  return RunThroughputBench(*loaded, o);
}

}  // namespace

int BenchMain(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "serve") {
    return BenchServeMain({args.begin() + 1, args.end()});
  }
  const std::vector<FlagSpec> specs = BenchFlags();
  auto a = ParseArgs(args, specs);
  if (!a.ok()) return UsageError("bench", std::string(a.status().message()));
  if (a->GetBool("help", false)) {
    std::printf(
        "usage: infernum bench (--model DIR | --config FILE --load-format "
        "dummy)\n%s",
        FlagHelp(specs).c_str());
    return 0;
  }
  if (a->Has("num-requests")) return ThroughputMain(*a);
  const int prompt_len = static_cast<int>(a->GetInt("prompt-len", 128));
  const int decode_len = static_cast<int>(a->GetInt("decode-len", 32));
  const int reps = static_cast<int>(a->GetInt("reps", 3));
  const int64_t copy_mib = a->GetInt("copy-mib", 1024);
  if (prompt_len < 1 || decode_len < 1 || reps < 1 || copy_mib < 1 ||
      copy_mib > 65536) {
    return UsageError(
        "bench",
        "--prompt-len, --decode-len, --reps and --copy-mib must be positive");
  }
  auto loaded = LoadModelFromFlags(*a, /*need_tokenizer=*/false);
  if (!loaded.ok())
    return UsageError("bench", std::string(loaded.status().message()));
  models::LlamaModel& model = *loaded->model;
  if (prompt_len + decode_len > model.config().max_position_embeddings) {
    return UsageError("bench",
                      "prompt-len + decode-len exceeds the model context");
  }
  const int block_size = 16;
  const int num_blocks =
      (prompt_len + decode_len + block_size - 1) / block_size;
  auto cache = models::KvCache::Create(
      *loaded->backend, model.MakeKvCacheShape(num_blocks, block_size));
  if (!cache.ok())
    return UsageError("bench", std::string(cache.status().message()));

  const int threads = std::max(1u, std::thread::hardware_concurrency());
  const double bw =
      MeasureCopyBandwidth(static_cast<size_t>(copy_mib) << 20, threads, 8);
  auto r = RunBatch1(model, *cache, prompt_len, decode_len, reps);
  if (!r.ok()) {
    std::fprintf(stderr, "infernum bench: %s\n",
                 std::string(r.status().message()).c_str());
    return 1;
  }
  const double weight_bytes = static_cast<double>(model.weights().total_bytes);
  const double kv_bytes = static_cast<double>(cache->shape().BytesPerBlock()) /
                          block_size * (prompt_len + decode_len / 2.0);
  const double roofline = bw / (weight_bytes + kv_bytes);
  std::printf("model            %s\n", loaded->model_id.c_str());
  std::printf("backend          %s\n", loaded->backend->name().c_str());
  std::printf("weights          %.1f MB\n", weight_bytes / 1e6);
  std::printf(
      "memory bandwidth %.2f GB/s (parallel memcpy of %lld MiB, read+write)\n",
      bw / 1e9, static_cast<long long>(copy_mib));
  std::printf("prefill          %.1f tokens/s (%d tokens, batch 1)\n",
              r->prefill_tok_s, prompt_len);
  std::printf("decode           %.2f tokens/s (batch 1, %d steps)\n",
              r->decode_tok_s, decode_len);
  std::printf("decode roofline  %.2f tokens/s (%.1f MB weights+KV per token)\n",
              roofline, (weight_bytes + kv_bytes) / 1e6);
  std::printf("decode fraction  %.1f%% of the bandwidth roofline\n",
              100.0 * r->decode_tok_s / roofline);
  return 0;
}

}  // namespace infernum::cli
