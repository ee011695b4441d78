#include "cli/bench_serve.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/args.h"
#include "cli/bench_serve_clients.h"
#include "cli/bench_serve_load.h"
#include "cli/bench_serve_workload.h"
#include "cli/commands.h"

namespace infernum::cli {
namespace {

using nlohmann::json;

constexpr int32_t kDefaultVocab = 259;  // Ids 3..258: bytes in most vocabs.

std::vector<FlagSpec> ServeFlags() {
  return {
      {"url", FlagType::kString, "router base URL, http://HOST:PORT"},
      {"grpc", FlagType::kString, "worker HOST:PORT (direct gRPC)"},
      {"compare-grpc", FlagType::kString,
       "with --url: also run against this worker and print router overhead"},
      {"model", FlagType::kString, "model name (default: the server's first)"},
      {"num-prompts", FlagType::kInt, "number of requests (default 100)"},
      {"concurrency", FlagType::kInt, "max requests in flight (default: all)"},
      {"request-rate", FlagType::kFloat, "Poisson arrivals, req/s (inf)"},
      {"input-len", FlagType::kInt, "prompt length in tokens (default 128)"},
      {"dataset", FlagType::kString, "random | shared-prefix (default random)"},
      {"num-prefixes", FlagType::kInt,
       "shared-prefix: distinct system prompts (default 4)"},
      {"prefix-len", FlagType::kInt,
       "shared-prefix: system prompt length in tokens (default 1000)"},
      {"suffix-len", FlagType::kInt,
       "shared-prefix: per-request suffix length in tokens (default 32)"},
      {"metrics-url", FlagType::kString,
       "worker /metrics base URLs, comma-separated: report prefill tokens "
       "computed (prompt tokens - prefix cache hits) per run"},
      {"output-len", FlagType::kInt, "max_tokens, ignore_eos (default 128)"},
      {"vocab-size", FlagType::kInt,
       "prompt ids are drawn from [3, vocab) (default: the worker's)"},
      {"seed", FlagType::kInt, "random seed (default 0)"},
      {"temperature", FlagType::kFloat, "sampling temperature (default 0)"},
      {"keep-alive", FlagType::kBool,
       "HTTP: reuse connections (default true; --no-keep-alive)"},
      {"json", FlagType::kBool, "print one JSON line instead of a table"},
      {"help", FlagType::kBool, "show this help"},
  };
}

struct ServeConfig {
  std::string url, grpc, model;
  WorkloadParams workload;  // vocab 0 = ask the worker.
  std::vector<std::string> metrics_urls;
  LoadParams load;
  ServeRequestOptions request;
  bool json = false;
};

// Validates flags into `c`; returns an error message or nullopt.
std::optional<std::string> ReadConfig(const ParsedArgs& a, ServeConfig* c) {
  c->url = a.GetString("url", "");
  c->grpc = a.GetString("grpc", a.GetString("compare-grpc", ""));
  if (c->url.empty() == a.GetString("grpc", "").empty()) {
    return "give exactly one of --url and --grpc";
  }
  if (a.Has("compare-grpc") && c->url.empty()) {
    return "--compare-grpc needs --url";
  }
  std::string host;
  int port = 0;
  if (!c->url.empty()) {
    absl::Status st = ParseHttpUrl(c->url, &host, &port);
    if (!st.ok()) return std::string(st.message());
  }
  c->model = a.GetString("model", "");
  WorkloadParams& w = c->workload;
  w.num_prompts = static_cast<int>(a.GetInt("num-prompts", 100));
  w.input_len = static_cast<int>(a.GetInt("input-len", 128));
  w.dataset = a.GetString("dataset", "random");
  w.num_prefixes = static_cast<int>(a.GetInt("num-prefixes", 4));
  w.prefix_len = static_cast<int>(a.GetInt("prefix-len", 1000));
  w.suffix_len = static_cast<int>(a.GetInt("suffix-len", 32));
  w.vocab = static_cast<int32_t>(a.GetInt("vocab-size", 0));
  w.seed = static_cast<uint64_t>(a.GetInt("seed", 0));
  for (absl::string_view u : absl::StrSplit(a.GetString("metrics-url", ""), ',',
                                            absl::SkipWhitespace())) {
    c->metrics_urls.emplace_back(u);
  }
  c->request.max_tokens = static_cast<int>(a.GetInt("output-len", 128));
  c->load.max_concurrency = static_cast<int>(a.GetInt("concurrency", 0));
  c->load.request_rate = a.GetFloat("request-rate", HUGE_VAL);
  c->load.seed = static_cast<uint64_t>(a.GetInt("seed", 0));
  c->request.seed = a.GetInt("seed", 0);
  c->request.temperature = a.GetFloat("temperature", 0);
  c->json = a.GetBool("json", false);
  c->request.keep_alive = a.GetBool("keep-alive", true);
  if (w.num_prompts < 1 || w.num_prompts > 1000000) {
    return "--num-prompts must be in [1, 1000000]";
  }
  if (c->request.max_tokens < 1) return "--output-len must be positive";
  if (absl::Status st = ValidateWorkload(w); !st.ok()) {
    return std::string(st.message());
  }
  for (const std::string& u : c->metrics_urls) {
    std::string host;
    int port = 0;
    if (!ParseHttpUrl(u, &host, &port).ok()) {
      return "--metrics-url must list http://HOST:PORT URLs, got '" + u + "'";
    }
  }
  if (c->load.max_concurrency < 0) return "--concurrency must be >= 0";
  if (!(c->load.request_rate > 0)) return "--request-rate must be > 0";
  if (a.Has("vocab-size") && w.vocab < 4) return "--vocab-size must be >= 4";
  if (!(c->request.temperature >= 0 && c->request.temperature <= 2)) {
    return "--temperature must be in [0, 2]";
  }
  return std::nullopt;
}

// Fills the model name and vocab from the servers where not given.
absl::Status Discover(ServeConfig* c) {
  int32_t& vocab = c->workload.vocab;
  if (!c->grpc.empty() && (vocab == 0 || c->model.empty())) {
    absl::StatusOr<WorkerModel> w = FetchWorkerModel(c->grpc);
    if (!w.ok()) return w.status();
    if (vocab == 0) vocab = w->vocab_size;
    if (c->model.empty() && c->url.empty()) c->model = w->model_id;
  }
  if (!c->url.empty() && c->model.empty()) {
    absl::StatusOr<std::string> m = FetchRouterModel(c->url);
    if (!m.ok()) return m.status();
    c->model = *m;
  }
  if (vocab == 0) vocab = kDefaultVocab;
  return absl::OkStatus();
}

json LatencyJson(const LatencyStats& s) {
  return {{"mean", s.mean_ms}, {"p50", s.p50_ms}, {"p99", s.p99_ms}};
}

json SummaryJson(const LoadSummary& s) {
  return {{"completed", s.completed},
          {"failed", s.failed},
          {"duration_s", s.duration_s},
          {"output_tokens", s.output_tokens},
          {"request_throughput", s.request_throughput},
          {"output_throughput", s.output_throughput},
          {"ttft_ms", LatencyJson(s.ttft)},
          {"tpot_ms", LatencyJson(s.tpot)},
          {"itl_ms", LatencyJson(s.itl)},
          {"e2e_ms", LatencyJson(s.e2e)},
          {"first_error", s.first_error}};
}

// One run of the load: its name, its summary and, with --metrics-url, how
// far the workers' counters moved during it.
struct Run {
  std::string name;
  LoadSummary summary;
  std::optional<WorkerCounters> workers;
  std::string workers_error;  // Why `workers` is missing (scrape failed).
};

using Getter = double (*)(const LoadSummary&);

void PrintRow(const char* label, const std::vector<Run>& runs, int decimals,
              Getter get) {
  std::printf("%-34s", label);
  for (const Run& r : runs) std::printf("%12.*f", decimals, get(r.summary));
  std::printf("\n");
}

void PrintLatency(const std::string& name, const std::vector<Run>& runs,
                  LatencyStats LoadSummary::*field) {
  std::printf("%s\n",
              absl::StrCat("-------------", name, "-------------").c_str());
  static constexpr const char* kNames[] = {"Mean", "Median", "P99"};
  for (int k = 0; k < 3; ++k) {
    std::printf("%-34s", absl::StrCat(kNames[k], " ", name, " (ms):").c_str());
    for (const Run& r : runs) {
      const LatencyStats& s = r.summary.*field;
      const double v = k == 0 ? s.mean_ms : k == 1 ? s.p50_ms : s.p99_ms;
      std::printf("%12.2f", v);
    }
    std::printf("\n");
  }
}

void PrintTable(const std::vector<Run>& runs) {
  using S = const LoadSummary&;
  std::printf("============ Serving Benchmark Result ============\n");
  std::printf("%-34s", "");
  for (const Run& r : runs) std::printf("%12s", r.name.c_str());
  std::printf("\n");
  PrintRow("Successful requests:", runs, 0,
           [](S s) { return double(s.completed); });
  PrintRow("Failed requests:", runs, 0, [](S s) { return double(s.failed); });
  PrintRow("Benchmark duration (s):", runs, 2,
           [](S s) { return s.duration_s; });
  PrintRow("Total generated tokens:", runs, 0,
           [](S s) { return double(s.output_tokens); });
  PrintRow("Request throughput (req/s):", runs, 2,
           [](S s) { return s.request_throughput; });
  PrintRow("Output token throughput (tok/s):", runs, 2,
           [](S s) { return s.output_throughput; });
  PrintLatency("TTFT", runs, &LoadSummary::ttft);
  PrintLatency("TPOT", runs, &LoadSummary::tpot);
  PrintLatency("ITL", runs, &LoadSummary::itl);
  PrintLatency("E2E", runs, &LoadSummary::e2e);
  for (const Run& r : runs) {
    if (!r.summary.first_error.empty()) {
      std::printf("first error (%s): %s\n", r.name.c_str(),
                  r.summary.first_error.c_str());
    }
  }
}

// Runs the load through `client` after one untimed warm-up request; with
// metrics URLs, reads the worker counters just before and after the load.
Run RunOne(const std::string& name, ServeClient& client, const ServeConfig& c,
           const std::vector<std::vector<int32_t>>& prompts) {
  client.Send(WarmupPrompt(c.workload, prompts), -1);
  Run run{.name = name};
  absl::StatusOr<WorkerCounters> before = WorkerCounters();
  if (!c.metrics_urls.empty()) before = ScrapeCounters(c.metrics_urls);
  run.summary = RunLoad(client, prompts, c.load);
  if (c.metrics_urls.empty()) return run;
  absl::StatusOr<WorkerCounters> after = ScrapeSettledCounters(c.metrics_urls);
  if (!before.ok() || !after.ok()) {
    run.workers_error =
        std::string((before.ok() ? after : before).status().message());
  } else {
    run.workers = Delta(*after, *before);
  }
  return run;
}

json WorkersJson(const Run& r) {
  if (!r.workers) return {{"error", r.workers_error}};
  return {{"prompt_tokens", r.workers->prompt_tokens},
          {"prefix_cache_hits", r.workers->prefix_cache_hits},
          {"prefill_tokens_computed", r.workers->prefill_computed()},
          {"generation_tokens", r.workers->generation_tokens}};
}

// Table rows for the worker counters (only with --metrics-url).
void PrintWorkerRows(const std::vector<Run>& runs) {
  std::printf("-----------Worker counters (/metrics)-----------\n");
  using Field = double (*)(const WorkerCounters&);
  const std::pair<const char*, Field> rows[] = {
      {"Prompt tokens:",
       [](const WorkerCounters& w) { return w.prompt_tokens; }},
      {"Prefix cache hit tokens:",
       [](const WorkerCounters& w) { return w.prefix_cache_hits; }},
      {"Prefill tokens computed:",
       [](const WorkerCounters& w) { return w.prefill_computed(); }},
  };
  for (const auto& [label, get] : rows) {
    std::printf("%-34s", label);
    for (const Run& r : runs) {
      if (r.workers) {
        std::printf("%12.0f", get(*r.workers));
      } else {
        std::printf("%12s", "n/a");
      }
    }
    std::printf("\n");
  }
  for (const Run& r : runs) {
    if (!r.workers) {
      std::printf("worker metrics (%s): %s\n", r.name.c_str(),
                  r.workers_error.c_str());
    }
  }
}

void Report(const ServeConfig& c, const std::vector<Run>& runs) {
  json out = {{"model", c.model},
              {"dataset", c.workload.dataset},
              {"num_prompts", c.workload.num_prompts},
              {"output_len", c.request.max_tokens},
              {"concurrency", c.load.max_concurrency},
              {"keep_alive", c.request.keep_alive}};
  out["request_rate"] =
      std::isinf(c.load.request_rate) ? json("inf") : json(c.load.request_rate);
  if (c.workload.dataset == "shared-prefix") {
    out["num_prefixes"] = c.workload.num_prefixes;
    out["prefix_len"] = c.workload.prefix_len;
    out["suffix_len"] = c.workload.suffix_len;
  } else {
    out["input_len"] = c.workload.input_len;
  }
  for (const Run& r : runs) {
    out["runs"][r.name] = SummaryJson(r.summary);
    if (!c.metrics_urls.empty())
      out["runs"][r.name]["workers"] = WorkersJson(r);
  }
  const bool compare = runs.size() == 2;
  double ttft_delta = 0, ratio = 0;
  if (compare) {
    const LoadSummary &router = runs[0].summary, &grpc = runs[1].summary;
    ttft_delta = router.ttft.p50_ms - grpc.ttft.p50_ms;
    ratio = grpc.output_throughput > 0
                ? router.output_throughput / grpc.output_throughput
                : 0;
    out["overhead"] = {{"p50_ttft_delta_ms", ttft_delta},
                       {"output_throughput_ratio", ratio}};
  }
  if (c.json) {
    std::printf("%s\n", out.dump().c_str());
    return;
  }
  PrintTable(runs);
  if (!c.metrics_urls.empty()) PrintWorkerRows(runs);
  if (compare) {
    std::printf("---------------Router overhead---------------\n");
    std::printf("%-34s%+12.3f\n", "Delta p50 TTFT (ms):", ttft_delta);
    std::printf("%-34s%12.4f\n", "Output tok/s ratio router/grpc:", ratio);
  }
  std::printf("==================================================\n");
}

}  // namespace

int BenchServeMain(const std::vector<std::string>& args) {
  const std::vector<FlagSpec> specs = ServeFlags();
  auto a = ParseArgs(args, specs);
  if (!a.ok()) {
    return UsageError("bench serve", std::string(a.status().message()));
  }
  if (a->GetBool("help", false)) {
    std::printf(
        "usage: infernum bench serve (--url http://HOST:PORT "
        "[--compare-grpc HOST:PORT] | --grpc HOST:PORT)\n%s",
        FlagHelp(specs).c_str());
    return 0;
  }
  ServeConfig c;
  if (auto err = ReadConfig(*a, &c)) return UsageError("bench serve", *err);
  if (absl::Status st = Discover(&c); !st.ok()) {
    std::fprintf(stderr, "infernum bench serve: %s\n",
                 std::string(st.message()).c_str());
    return 1;
  }
  c.request.model = c.model;
  const auto prompts = MakePrompts(c.workload);
  std::vector<Run> runs;
  if (!c.url.empty()) {
    auto client = MakeHttpServeClient(c.url, c.request);
    runs.push_back(RunOne("router", *client, c, prompts));
  }
  if (!c.grpc.empty()) {
    auto client = MakeGrpcServeClient(c.grpc, c.request);
    runs.push_back(RunOne("grpc", *client, c, prompts));
  }
  Report(c, runs);
  for (const Run& r : runs) {
    if (r.summary.completed == 0) return 1;
  }
  return 0;
}

}  // namespace infernum::cli
