// infernum generate -i PROMPTS [-o OUT.jsonl]: every prompt of the file is
// submitted to one engine at once (continuous batching), and one JSON object
// per prompt is written in input order:
//   {"index": i, "line": n, "prompt": "...", "text": "...", "token_ids": [...],
//    "finish_reason": "stop"|"length"|"abort"|"error", "stop_token_id": id?,
//    "error": "..."?, "num_prompt_tokens": p, "num_cached_prompt_tokens": c,
//    "num_output_tokens": n, "timings": {"queue_s", "ttft_s", "mean_itl_s",
//    "e2e_s"}, "logprobs": [...]? (with --logprobs)}
// A prompt that cannot run (too long, ...) gets finish_reason "error" and
// the exit code is then 1; the others still run.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/generate_common.h"
#include "models/tokenizer/incremental_detokenizer.h"
#include "worker/engine/output_sink.h"

namespace infernum::cli {
namespace {

using json = nlohmann::ordered_json;

struct PromptLine {
  int line = 0;  // 1-based line number in the file
  std::string text;
};

// A line that parses as a JSON string is that string; anything else is the
// raw line (without a trailing '\r'). Blank lines are skipped.
std::vector<PromptLine> ReadPrompts(std::istream& in) {
  std::vector<PromptLine> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const json parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
    out.push_back({n, parsed.is_string() ? parsed.get<std::string>() : line});
  }
  return out;
}

std::string Decode(const models::Tokenizer& tok,
                   const std::vector<int32_t>& prompt,
                   const std::vector<int32_t>& ids) {
  models::IncrementalDetokenizer detok(tok, /*skip_special_tokens=*/true,
                                       prompt);
  std::string text;
  for (int32_t id : ids) {
    auto piece = detok.Append(id);
    if (piece.ok()) text += *piece;
  }
  auto rest = detok.Flush();
  if (rest.ok()) text += *rest;
  return text;
}

json LogprobsJson(const std::vector<worker::TokenOutput>& tokens) {
  json out = json::array();
  for (const auto& t : tokens) {
    json top = json::array();
    for (const auto& c : t.top_logprobs) top.push_back({c.token, c.logprob});
    out.push_back({{"token", t.token_id},
                   {"logprob", t.logprob.value_or(0.0f)},
                   {"top", top}});
  }
  return out;
}

json ResultJson(const models::Tokenizer& tok,
                const std::vector<int32_t>& prompt,
                const worker::CollectingSink& sink, bool with_logprobs) {
  const worker::FinalOutput f = sink.final_output();
  const std::vector<int32_t> ids = sink.token_ids();
  const auto& t = f.timings;
  const auto& itl = t.inter_token_latencies;
  const double mean_itl =
      itl.empty() ? 0.0
                  : std::accumulate(itl.begin(), itl.end(), 0.0) / itl.size();
  json r = {
      {"text", Decode(tok, prompt, ids)},
      {"token_ids", ids},
      {"finish_reason", std::string(worker::FinishReasonName(f.finish_reason))},
      {"num_prompt_tokens", f.num_prompt_tokens},
      {"num_cached_prompt_tokens", f.num_cached_prompt_tokens},
      {"num_output_tokens", f.num_output_tokens},
      {"timings",
       {{"queue_s", t.queue_time},
        {"ttft_s", t.time_to_first_token},
        {"mean_itl_s", mean_itl},
        {"e2e_s", t.e2e_latency}}}};
  if (f.stop_token_id) r["stop_token_id"] = *f.stop_token_id;
  if (!f.error.ok()) r["error"] = std::string(f.error.message());
  if (with_logprobs) r["logprobs"] = LogprobsJson(sink.tokens());
  return r;
}

json ErrorJson(const absl::Status& error) {
  return {{"finish_reason", "error"}, {"error", std::string(error.message())}};
}

}  // namespace

int RunPromptFile(const ParsedArgs& args, GenerateSetup& setup) {
  const std::string in_path = args.GetString("input", "");
  std::vector<PromptLine> lines;
  if (in_path == "-") {
    lines = ReadPrompts(std::cin);
  } else {
    std::ifstream in(in_path);
    if (!in)
      return UsageError("generate", "cannot read prompt file " + in_path);
    lines = ReadPrompts(in);
  }
  const std::string out_path = args.GetString("output", "");
  std::ofstream out_file;
  if (!out_path.empty()) {
    out_file.open(out_path, std::ios::trunc);
    if (!out_file) return UsageError("generate", "cannot write " + out_path);
  }
  // Tokenize everything first; a prompt that fails gets an error record.
  std::vector<std::vector<int32_t>> prompts(lines.size());
  std::vector<json> records(lines.size());
  std::vector<std::vector<int32_t>> runnable;
  for (size_t i = 0; i < lines.size(); ++i) {
    auto ids = EncodePrompt(setup, lines[i].text);
    if (ids.ok()) {
      prompts[i] = *ids;
      runnable.push_back(*ids);
    } else {
      records[i] = ErrorJson(ids.status());
    }
  }
  auto engine = MakeGenerateEngine(setup, runnable);
  if (!engine.ok())
    return UsageError("generate", std::string(engine.status().message()));
  std::vector<std::shared_ptr<worker::CollectingSink>> sinks(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    if (prompts[i].empty()) continue;
    auto sink = std::make_shared<worker::CollectingSink>();
    absl::Status st = (*engine)->AddRequest(
        MakeGenerateRequest(setup, absl::StrCat(i), prompts[i]), sink);
    if (st.ok()) {
      sinks[i] = sink;
    } else {
      records[i] = ErrorJson(st);
    }
  }
  while ((*engine)->HasUnfinishedRequests()) {
    if (absl::Status st = (*engine)->Step(); !st.ok()) (*engine)->FailAll(st);
  }
  const models::Tokenizer& tok = *setup.loaded.tokenizer;
  const bool with_logprobs = setup.sampling.num_logprobs >= 0;
  std::ostream& out = out_path.empty() ? std::cout : out_file;
  bool any_failed = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (sinks[i] != nullptr)
      records[i] = ResultJson(tok, prompts[i], *sinks[i], with_logprobs);
    any_failed |= records[i]["finish_reason"] == "error";
    json line = {
        {"index", i}, {"line", lines[i].line}, {"prompt", lines[i].text}};
    line.update(records[i]);
    out << line.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
  }
  out.flush();
  if (!out) {
    std::fprintf(stderr, "infernum generate: writing %s failed\n",
                 out_path.empty() ? "stdout" : out_path.c_str());
    return 1;
  }
  return any_failed ? 1 : 0;
}

}  // namespace infernum::cli
