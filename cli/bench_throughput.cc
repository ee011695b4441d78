#include "cli/bench_throughput.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cli/engine_flags.h"
#include "common/status.h"
#include "worker/engine/engine.h"
#include "worker/engine/output_sink.h"

namespace infernum::cli {
namespace {

using Clock = std::chrono::steady_clock;
using worker::Engine;
using worker::EngineRequest;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Linear-interpolated percentile q in [0, 1] of `v` (0 when empty).
double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const double pos = q * (v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - lo) * (v[hi] - v[lo]);
}

double Mean(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / v.size();
}

struct RunStats {
  double wall_s = 0;
  int64_t output_tokens = 0;
  int64_t computed_prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;
  double decode_s = 0;  // steps that computed no prompt token
  int64_t decode_tokens = 0;
  double prefill_done_s = 0;  // when the last request got its first token
  std::vector<double> ttft, itl;
  worker::EngineStats engine;
};

// Runs `requests` on a fresh engine: all submitted at once, or (one_by_one)
// each submitted when the previous one finished.
absl::StatusOr<RunStats> Run(const worker::LoadedModel& loaded,
                             const worker::EngineConfig& config,
                             const std::vector<EngineRequest>& requests,
                             bool one_by_one) {
  ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine,
                   Engine::Create(*loaded.model, config,
                                  worker::DefaultStopTokenIds(loaded)));
  std::vector<std::shared_ptr<worker::CollectingSink>> sinks;
  RunStats r;
  const Clock::time_point start = Clock::now();
  size_t next = 0;
  auto submit = [&]() -> absl::Status {
    sinks.push_back(std::make_shared<worker::CollectingSink>());
    return engine->AddRequest(requests[next++], sinks.back());
  };
  while (next < requests.size() || engine->HasUnfinishedRequests()) {
    if (!engine->HasUnfinishedRequests() || !one_by_one) {
      while (next < requests.size()) {
        RETURN_IF_ERROR(submit());
        if (one_by_one) break;
      }
    }
    const worker::EngineStats before = engine->stats();
    const Clock::time_point t0 = Clock::now();
    RETURN_IF_ERROR(engine->Step());
    const double dt = Seconds(t0, Clock::now());
    const worker::EngineStats after = engine->stats();
    if (after.computed_prompt_tokens_total ==
        before.computed_prompt_tokens_total) {
      r.decode_s += dt;
      r.decode_tokens +=
          after.generation_tokens_total - before.generation_tokens_total;
    }
  }
  r.wall_s = Seconds(start, Clock::now());
  r.engine = engine->stats();
  for (const auto& sink : sinks) {
    const worker::FinalOutput f = sink->final_output();
    if (!f.error.ok()) return Annotate(f.error, "benchmark request failed");
    r.output_tokens += f.num_output_tokens;
    r.computed_prompt_tokens += f.num_computed_prompt_tokens;
    r.cached_prompt_tokens += f.num_cached_prompt_tokens;
    r.ttft.push_back(f.timings.time_to_first_token);
    const auto& itl = f.timings.inter_token_latencies;
    r.itl.insert(r.itl.end(), itl.begin(), itl.end());
  }
  if (!one_by_one)
    r.prefill_done_s = *std::max_element(r.ttft.begin(), r.ttft.end());
  return r;
}

std::vector<EngineRequest> MakeRequests(const worker::LoadedModel& loaded,
                                        const ThroughputOptions& o) {
  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<int32_t> id(3, loaded.config.vocab_size - 1);
  std::vector<int32_t> prefix(o.shared_prefix_len);
  for (int32_t& t : prefix) t = id(rng);
  std::vector<EngineRequest> out;
  for (int i = 0; i < o.num_requests; ++i) {
    EngineRequest r;
    r.request_id = absl::StrCat("bench-", i);
    r.prompt_token_ids = prefix;
    for (int j = 0; j < o.input_len; ++j) r.prompt_token_ids.push_back(id(rng));
    r.sampling.temperature = 0.0f;
    r.max_tokens = o.output_len;
    r.ignore_eos = o.ignore_eos;
    out.push_back(std::move(r));
  }
  return out;
}

worker::EngineConfig SizedConfig(const worker::LoadedModel& loaded,
                                 const ThroughputOptions& o) {
  worker::EngineConfig c = o.engine;
  if (c.num_blocks == 0 && c.kv_cache_memory_bytes == 0) {
    std::vector<int64_t> tokens(o.num_requests, int64_t{o.shared_prefix_len} +
                                                    o.input_len + o.output_len);
    c.num_blocks = DefaultNumKvBlocks(
        tokens, c.block_size,
        loaded.model->MakeKvCacheShape(1, c.block_size).BytesPerBlock());
  }
  return c;
}

// A table row; the last two columns are left out when both are empty.
void PrintRow(const char* name, const std::string& a, const std::string& b,
              const std::string& ratio = "") {
  if (b.empty() && ratio.empty()) {
    std::printf("%-30s %16s\n", name, a.c_str());
    return;
  }
  std::printf("%-30s %16s %16s %10s\n", name, a.c_str(), b.c_str(),
              ratio.c_str());
}

std::string F(double v, const char* fmt = "%.2f") {
  return absl::StrFormat(fmt, v);
}

std::string Ratio(double a, double b) {
  return b > 0 ? absl::StrFormat("%.2fx", a / b) : "-";
}

std::string Latency(const std::vector<double>& v) {
  return absl::StrFormat("%.1f/%.1f/%.1f", 1e3 * Mean(v),
                         1e3 * Percentile(v, 0.5), 1e3 * Percentile(v, 0.99));
}

// With `s` null (no one-at-a-time run), one column.
void PrintBatching(const RunStats& c, const RunStats* s, int num_blocks,
                   kernels::DType kv_dtype) {
  const std::string none = "";
  PrintRow("", "concurrent", s ? "one-at-a-time" : "", s ? "ratio" : "");
  auto row = [&](const char* name, double a, double b) {
    PrintRow(name, F(a), s ? F(b) : none, s ? Ratio(a, b) : "");
  };
  PrintRow("wall time (s) [speedup]", F(c.wall_s), s ? F(s->wall_s) : none,
           s ? Ratio(s->wall_s, c.wall_s) : "");
  row("output tokens/s", c.output_tokens / c.wall_s,
      s ? s->output_tokens / s->wall_s : 0);
  row("decode tokens/s (decode steps)",
      c.decode_tokens / std::max(c.decode_s, 1e-9),
      s ? s->decode_tokens / std::max(s->decode_s, 1e-9) : 0);
  row("total tokens/s (prompt+output)",
      (c.computed_prompt_tokens + c.output_tokens) / c.wall_s,
      s ? (s->computed_prompt_tokens + s->output_tokens) / s->wall_s : 0);
  PrintRow("TTFT mean/p50/p99 (ms)", Latency(c.ttft),
           s ? Latency(s->ttft) : none);
  PrintRow("ITL mean/p50/p99 (ms)", Latency(c.itl), s ? Latency(s->itl) : none);
  PrintRow("peak KV cache usage",
           F(100 * c.engine.peak_kv_cache_usage, "%.1f%%"),
           s ? F(100 * s->engine.peak_kv_cache_usage, "%.1f%%") : none);
  PrintRow("preemptions", absl::StrCat(c.engine.num_preemptions),
           s ? absl::StrCat(s->engine.num_preemptions) : none);
  PrintRow("engine steps", absl::StrCat(c.engine.num_steps),
           s ? absl::StrCat(s->engine.num_steps) : none);
  std::printf(
      "(KV cache: %d blocks, %s; ITL = gap between consecutive tokens of a "
      "request)\n",
      num_blocks, kernels::DTypeName(kv_dtype));
}

void PrintPrefix(const RunStats& on, const RunStats& off) {
  PrintRow("", "caching on", "caching off", "speedup");
  PrintRow("prefill done (s, max TTFT)", F(on.prefill_done_s, "%.3f"),
           F(off.prefill_done_s, "%.3f"),
           Ratio(off.prefill_done_s, on.prefill_done_s));
  PrintRow("wall time (s)", F(on.wall_s, "%.3f"), F(off.wall_s, "%.3f"),
           Ratio(off.wall_s, on.wall_s));
  PrintRow("prompt tokens computed", absl::StrCat(on.computed_prompt_tokens),
           absl::StrCat(off.computed_prompt_tokens));
  PrintRow("prefill tokens skipped (hits)",
           absl::StrCat(on.engine.prefix_cache_hits),
           absl::StrCat(off.engine.prefix_cache_hits));
  PrintRow("TTFT mean/p50/p99 (ms)", Latency(on.ttft), Latency(off.ttft));
}

LatencyStats Summarize(const std::vector<double>& v) {
  return {1e3 * Mean(v), 1e3 * Percentile(v, 0.5), 1e3 * Percentile(v, 0.99)};
}

ThroughputResult ToResult(const ThroughputOptions& o, const RunStats& c) {
  ThroughputResult r;
  r.num_requests = o.num_requests;
  r.input_len = o.input_len;
  r.output_len = o.output_len;
  r.wall_s = c.wall_s;
  r.output_tok_s = c.output_tokens / std::max(c.wall_s, 1e-9);
  r.total_tok_s =
      (c.computed_prompt_tokens + c.output_tokens) / std::max(c.wall_s, 1e-9);
  r.decode_tok_s = c.decode_tokens / std::max(c.decode_s, 1e-9);
  r.ttft = Summarize(c.ttft);
  r.itl = Summarize(c.itl);
  r.peak_kv_cache_usage = c.engine.peak_kv_cache_usage;
  r.num_kv_blocks = c.engine.num_blocks_total;
  r.num_preemptions = c.engine.num_preemptions;
  r.num_steps = c.engine.num_steps;
  return r;
}

}  // namespace

absl::StatusOr<std::vector<ThroughputShape>> ParseThroughputShapes(
    std::string_view text) {
  const auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "--throughput: expected IN:OUT[,IN:OUT...] with positive token counts "
        "(e.g. 1024:128,128:128), got '",
        std::string(text), "'"));
  };
  constexpr int64_t kMax = 1 << 20;
  std::vector<ThroughputShape> out;
  for (absl::string_view item :
       absl::StrSplit(absl::string_view(text.data(), text.size()), ',')) {
    const std::vector<absl::string_view> io = absl::StrSplit(item, ':');
    int64_t in = 0, len = 0;
    if (io.size() != 2 || !absl::SimpleAtoi(io[0], &in) ||
        !absl::SimpleAtoi(io[1], &len) || in < 1 || in > kMax || len < 1 ||
        len > kMax || out.size() >= 16) {
      return bad();
    }
    out.push_back({static_cast<int>(in), static_cast<int>(len)});
  }
  return out;
}

absl::StatusOr<ThroughputResult> RunBatchingBench(
    const worker::LoadedModel& loaded, const ThroughputOptions& o) {
  if (o.shared_prefix_len != 0) {
    return absl::InvalidArgumentError(
        "RunBatchingBench: shared_prefix_len must be 0");
  }
  const std::vector<EngineRequest> requests = MakeRequests(loaded, o);
  const worker::EngineConfig config = SizedConfig(loaded, o);
  std::printf(
      "%d requests x (%d prompt + %d output tokens), max_num_seqs %d, budget "
      "%d tokens\n",
      o.num_requests, o.input_len, o.output_len, config.max_num_seqs,
      config.max_num_batched_tokens);
  std::fflush(stdout);
  ASSIGN_OR_RETURN(const RunStats concurrent,
                   Run(loaded, config, requests, /*one_by_one=*/false));
  std::optional<RunStats> sequential;
  if (o.run_sequential) {
    ASSIGN_OR_RETURN(sequential,
                     Run(loaded, config, requests, /*one_by_one=*/true));
  }
  PrintBatching(concurrent, sequential ? &*sequential : nullptr,
                concurrent.engine.num_blocks_total,
                loaded.model->kv_cache_dtype());
  std::fflush(stdout);
  return ToResult(o, concurrent);
}

int RunThroughputBench(const worker::LoadedModel& loaded,
                       const ThroughputOptions& o) {
  std::printf("model %s, backend %s\n", loaded.model_id.c_str(),
              loaded.backend->name().c_str());
  auto fail = [](const absl::Status& st) {
    std::fprintf(stderr, "infernum bench: %s\n",
                 std::string(st.message()).c_str());
    return 1;
  };
  if (o.shared_prefix_len > 0) {
    const std::vector<EngineRequest> requests = MakeRequests(loaded, o);
    worker::EngineConfig config = SizedConfig(loaded, o);
    std::printf(
        "%d requests sharing a %d-token prefix + %d own tokens, %d output "
        "tokens each\n",
        o.num_requests, o.shared_prefix_len, o.input_len, o.output_len);
    config.enable_prefix_caching = true;
    auto on = Run(loaded, config, requests, /*one_by_one=*/false);
    if (!on.ok()) return fail(on.status());
    config.enable_prefix_caching = false;
    auto off = Run(loaded, config, requests, /*one_by_one=*/false);
    if (!off.ok()) return fail(off.status());
    PrintPrefix(*on, *off);
    return 0;
  }
  auto r = RunBatchingBench(loaded, o);
  return r.ok() ? 0 : fail(r.status());
}

}  // namespace infernum::cli
