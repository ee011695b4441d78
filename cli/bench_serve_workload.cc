#include "cli/bench_serve_workload.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cli/bench_serve_load.h"

namespace infernum::cli {
namespace {

constexpr int kMaxLen = 1 << 20;

std::vector<int32_t> RandomIds(std::mt19937_64& rng, int len, int32_t vocab) {
  std::uniform_int_distribution<int32_t> id(3, std::max<int32_t>(vocab - 1, 3));
  std::vector<int32_t> ids(len);
  for (int32_t& t : ids) t = id(rng);
  return ids;
}

// Parses "name{labels} value [timestamp]" or "name value"; false if the
// line is not a sample.
bool ParseSample(std::string_view line, std::string_view* name, double* value) {
  if (line.empty() || line.front() == '#') return false;
  size_t end = line.find_first_of("{ ");
  if (end == std::string_view::npos || end == 0) return false;
  *name = line.substr(0, end);
  size_t pos = end;
  if (line[pos] == '{') {
    // Label values may contain '}' inside quotes; skip quoted text.
    bool quoted = false;
    for (++pos; pos < line.size(); ++pos) {
      const char c = line[pos];
      if (quoted && c == '\\') {
        ++pos;
      } else if (c == '"') {
        quoted = !quoted;
      } else if (!quoted && c == '}') {
        break;
      }
    }
    if (pos >= line.size()) return false;
    ++pos;
  }
  while (pos < line.size() && line[pos] == ' ') ++pos;
  const std::string number(line.substr(pos, line.find(' ', pos) - pos));
  if (number.empty()) return false;
  char* parse_end = nullptr;
  *value = std::strtod(number.c_str(), &parse_end);
  return parse_end == number.c_str() + number.size();
}

}  // namespace

absl::Status ValidateWorkload(const WorkloadParams& p) {
  auto in_range = [](int v) { return v >= 1 && v <= kMaxLen; };
  if (p.dataset == "random") {
    if (!in_range(p.input_len)) {
      return absl::InvalidArgumentError("--input-len must be in [1, 1048576]");
    }
    return absl::OkStatus();
  }
  if (p.dataset != "shared-prefix") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--dataset must be random or shared-prefix, got '", p.dataset, "'"));
  }
  if (p.num_prefixes < 1 || p.num_prefixes > 100000) {
    return absl::InvalidArgumentError("--num-prefixes must be in [1, 100000]");
  }
  if (!in_range(p.prefix_len) || !in_range(p.suffix_len)) {
    return absl::InvalidArgumentError(
        "--prefix-len and --suffix-len must be in [1, 1048576]");
  }
  return absl::OkStatus();
}

std::vector<std::vector<int32_t>> MakePrompts(const WorkloadParams& p) {
  if (p.dataset != "shared-prefix") {
    return RandomPrompts(p.num_prompts, p.input_len, p.vocab, p.seed);
  }
  std::mt19937_64 rng(p.seed);
  std::vector<std::vector<int32_t>> prefixes;
  prefixes.reserve(p.num_prefixes);
  for (int i = 0; i < p.num_prefixes; ++i) {
    prefixes.push_back(RandomIds(rng, p.prefix_len, p.vocab));
  }
  std::uniform_int_distribution<int> pick(0, p.num_prefixes - 1);
  std::vector<std::vector<int32_t>> prompts(p.num_prompts);
  for (auto& prompt : prompts) {
    prompt = prefixes[pick(rng)];
    const std::vector<int32_t> suffix = RandomIds(rng, p.suffix_len, p.vocab);
    prompt.insert(prompt.end(), suffix.begin(), suffix.end());
  }
  return prompts;
}

std::vector<int32_t> WarmupPrompt(
    const WorkloadParams& p, const std::vector<std::vector<int32_t>>& run) {
  if (p.dataset != "shared-prefix") return run.front();
  std::mt19937_64 rng(p.seed ^ 0x5851f42d4c957f2dULL);
  return RandomIds(rng, p.suffix_len, p.vocab);
}

double SumSamples(std::string_view exposition, std::string_view name) {
  double total = 0;
  size_t start = 0;
  while (start < exposition.size()) {
    size_t end = exposition.find('\n', start);
    if (end == std::string_view::npos) end = exposition.size();
    std::string_view line = exposition.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string_view sample;
    double value = 0;
    if (ParseSample(line, &sample, &value) && sample == name) total += value;
    start = end + 1;
  }
  return total;
}

WorkerCounters CountersFromText(std::string_view exposition) {
  WorkerCounters c;
  c.prompt_tokens = SumSamples(exposition, "infernum:prompt_tokens_total");
  c.prefix_cache_hits =
      SumSamples(exposition, "infernum:prefix_cache_hits_total");
  c.generation_tokens =
      SumSamples(exposition, "infernum:generation_tokens_total");
  return c;
}

absl::StatusOr<WorkerCounters> ScrapeCounters(
    const std::vector<std::string>& urls) {
  WorkerCounters sum;
  for (const std::string& url : urls) {
    httplib::Client client(url);
    client.set_connection_timeout(10, 0);
    client.set_read_timeout(30, 0);
    httplib::Result res = client.Get("/metrics");
    if (!res || res->status != 200) {
      return absl::UnavailableError(
          absl::StrCat("GET ", url, "/metrics: ",
                       res ? absl::StrCat("HTTP ", res->status)
                           : httplib::to_string(res.error())));
    }
    const WorkerCounters c = CountersFromText(res->body);
    sum.prompt_tokens += c.prompt_tokens;
    sum.prefix_cache_hits += c.prefix_cache_hits;
    sum.generation_tokens += c.generation_tokens;
  }
  return sum;
}

absl::StatusOr<WorkerCounters> ScrapeSettledCounters(
    const std::vector<std::string>& urls) {
  absl::StatusOr<WorkerCounters> last = ScrapeCounters(urls);
  for (int i = 0; i < 10 && last.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    absl::StatusOr<WorkerCounters> next = ScrapeCounters(urls);
    if (!next.ok()) return next;
    const bool same = next->prompt_tokens == last->prompt_tokens &&
                      next->prefix_cache_hits == last->prefix_cache_hits &&
                      next->generation_tokens == last->generation_tokens;
    last = next;
    if (same) break;
  }
  return last;
}

WorkerCounters Delta(const WorkerCounters& after,
                     const WorkerCounters& before) {
  return {after.prompt_tokens - before.prompt_tokens,
          after.prefix_cache_hits - before.prefix_cache_hits,
          after.generation_tokens - before.generation_tokens};
}

}  // namespace infernum::cli
