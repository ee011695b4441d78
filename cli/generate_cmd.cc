// infernum generate: one prompt (--prompt) streamed to stdout, or a file of
// prompts (-i) run through the engine together, one JSON line each (see
// generate_batch.cc). Both modes go through worker::Engine, the same engine
// the gRPC worker serves with, so they give the same tokens.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/engine_flags.h"
#include "cli/generate_common.h"
#include "cli/model_flags.h"
#include "models/tokenizer/incremental_detokenizer.h"
#include "worker/engine/output_sink.h"

namespace infernum::cli {
namespace {

std::vector<FlagSpec> GenerateFlags() {
  std::vector<FlagSpec> specs = ModelFlagSpecs();
  specs.insert(specs.end(), SamplingFlagSpecs().begin(),
               SamplingFlagSpecs().end());
  specs.insert(specs.end(), EngineFlagSpecs().begin(), EngineFlagSpecs().end());
  specs.push_back(
      {"prompt", FlagType::kString, "prompt text (default: BOS only)"});
  specs.push_back({"input", FlagType::kString,
                   "file of prompts, one per line ('-' = stdin): a line that "
                   "parses as a JSON "
                   "string is that string, any other line is raw text; blank "
                   "lines are skipped",
                   "i"});
  specs.push_back({"output", FlagType::kString,
                   "with -i: write one JSON object per prompt, in input order "
                   "(default stdout)",
                   "o"});
  specs.push_back(
      {"max-tokens", FlagType::kInt, "tokens to generate (default 256)"});
  specs.push_back({"ignore-eos", FlagType::kBool, "do not stop on EOS/BOS"});
  specs.push_back(
      {"echo", FlagType::kBool, "print the prompt before the completion"});
  specs.push_back({"help", FlagType::kBool, "show this help"});
  return specs;
}

// One JSON line on stderr per token when --logprobs is given.
void PrintLogprobs(const models::Tokenizer& tok, const worker::TokenOutput& t) {
  nlohmann::json top = nlohmann::json::array();
  for (const auto& c : t.top_logprobs) {
    top.push_back({{"token", c.token},
                   {"text", tok.IdToToken(c.token)},
                   {"logprob", c.logprob}});
  }
  nlohmann::json line = {{"token", t.token_id},
                         {"text", tok.IdToToken(t.token_id)},
                         {"logprob", t.logprob.value_or(0.0f)},
                         {"top_logprobs", top}};
  std::fprintf(
      stderr, "%s\n",
      line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
          .c_str());
}

// Streams one prompt's completion to stdout.
int RunSinglePrompt(const ParsedArgs& args, GenerateSetup& setup) {
  const models::Tokenizer& tok = *setup.loaded.tokenizer;
  auto prompt = EncodePrompt(setup, args.GetString("prompt", ""));
  if (!prompt.ok())
    return UsageError("generate", std::string(prompt.status().message()));
  auto engine = MakeGenerateEngine(setup, {*prompt});
  if (!engine.ok())
    return UsageError("generate", std::string(engine.status().message()));
  worker::EngineRequest request = MakeGenerateRequest(setup, "cli", *prompt);
  if (auto st = (*engine)->ValidateRequest(request); !st.ok()) {
    return UsageError("generate", std::string(st.message()));
  }
  if (args.GetBool("echo", false)) {
    auto text = tok.Decode(*prompt, true);
    if (text.ok()) std::fputs(text->c_str(), stdout);
  }
  models::IncrementalDetokenizer detok(tok, /*skip_special_tokens=*/true,
                                       *prompt);
  absl::Status failure;
  const bool print_logprobs = setup.sampling.num_logprobs >= 0;
  auto sink = std::make_shared<worker::CallbackSink>(
      [&](const worker::TokenOutput& t) {
        if (print_logprobs) PrintLogprobs(tok, t);
        auto piece = detok.Append(t.token_id);
        if (!piece.ok()) {
          failure.Update(piece.status());
          return;
        }
        std::fputs(piece->c_str(), stdout);
        std::fflush(stdout);
      },
      [&](const worker::FinalOutput& f) { failure.Update(f.error); });
  absl::Status st = (*engine)->AddRequest(std::move(request), sink);
  while (st.ok() && (*engine)->HasUnfinishedRequests()) st = (*engine)->Step();
  failure.Update(st);
  if (!failure.ok()) {
    std::fprintf(stderr, "infernum generate: %s\n",
                 std::string(failure.message()).c_str());
    return 1;
  }
  auto rest = detok.Flush();
  if (rest.ok()) std::fputs(rest->c_str(), stdout);
  std::fputs("\n", stdout);
  return 0;
}

}  // namespace

absl::StatusOr<std::vector<int32_t>> EncodePrompt(const GenerateSetup& setup,
                                                  const std::string& text) {
  const models::Tokenizer& tok = *setup.loaded.tokenizer;
  auto prompt = tok.Encode(text, /*add_special_tokens=*/true);
  if (!prompt.ok()) return prompt.status();
  if (prompt->empty() && tok.bos_token_id())
    prompt->push_back(*tok.bos_token_id());
  if (prompt->empty())
    return absl::InvalidArgumentError("the prompt encodes to no tokens");
  return prompt;
}

absl::StatusOr<std::unique_ptr<worker::Engine>> MakeGenerateEngine(
    const GenerateSetup& setup,
    const std::vector<std::vector<int32_t>>& prompts) {
  worker::EngineConfig config = setup.engine;
  config.cuda_graphs = setup.loaded.cuda_graphs;
  if (config.num_blocks == 0 && config.kv_cache_memory_bytes == 0) {
    const int64_t context = setup.loaded.config.max_position_embeddings;
    std::vector<int64_t> tokens;
    for (const auto& p : prompts) {
      tokens.push_back(std::min<int64_t>(context, p.size() + setup.max_tokens));
    }
    const size_t block_bytes =
        setup.loaded.model->MakeKvCacheShape(1, config.block_size)
            .BytesPerBlock();
    config.num_blocks =
        DefaultNumKvBlocks(tokens, config.block_size, block_bytes);
  }
  std::vector<int32_t> stop_ids;
  if (!setup.ignore_eos) stop_ids = worker::DefaultStopTokenIds(setup.loaded);
  return worker::Engine::Create(*setup.loaded.model, config,
                                std::move(stop_ids));
}

worker::EngineRequest MakeGenerateRequest(const GenerateSetup& setup,
                                          std::string id,
                                          std::vector<int32_t> prompt) {
  worker::EngineRequest r;
  r.request_id = std::move(id);
  r.prompt_token_ids = std::move(prompt);
  r.sampling = setup.sampling;
  r.max_tokens = setup.max_tokens;
  r.ignore_eos = setup.ignore_eos;
  return r;
}

int GenerateMain(const std::vector<std::string>& args) {
  const std::vector<FlagSpec> specs = GenerateFlags();
  auto parsed = ParseArgs(args, specs);
  if (!parsed.ok())
    return UsageError("generate", std::string(parsed.status().message()));
  if (parsed->GetBool("help", false)) {
    std::printf(
        "usage: infernum generate --model DIR (--prompt TEXT | -i PROMPTS [-o "
        "OUT.jsonl]) "
        "[flags]\n%s",
        FlagHelp(specs).c_str());
    return 0;
  }
  if (!parsed->positional().empty()) {
    return UsageError("generate",
                      "unexpected argument '" + parsed->positional()[0] + "'");
  }
  if (parsed->Has("input") && parsed->Has("prompt")) {
    return UsageError("generate", "give --prompt or -i, not both");
  }
  if (parsed->Has("output") && !parsed->Has("input")) {
    return UsageError("generate", "-o needs -i (a prompt file)");
  }
  GenerateSetup setup;
  auto params = SamplingParamsFromFlags(*parsed);
  if (!params.ok())
    return UsageError("generate", std::string(params.status().message()));
  setup.sampling = *params;
  const int64_t max_tokens = parsed->GetInt("max-tokens", 256);
  if (max_tokens < 1 || max_tokens > (1 << 24)) {
    return UsageError("generate", "--max-tokens must be in [1, 16777216]");
  }
  setup.max_tokens = static_cast<int>(max_tokens);
  setup.ignore_eos = parsed->GetBool("ignore-eos", false);
  auto engine_config = EngineConfigFromFlags(*parsed);
  if (!engine_config.ok()) {
    return UsageError("generate",
                      std::string(engine_config.status().message()));
  }
  setup.engine = *engine_config;
  auto loaded = LoadModelFromFlags(*parsed, /*need_tokenizer=*/true);
  if (!loaded.ok())
    return UsageError("generate", std::string(loaded.status().message()));
  setup.loaded = std::move(loaded).value();
  if (parsed->Has("input")) return RunPromptFile(*parsed, setup);
  return RunSinglePrompt(*parsed, setup);
}

}  // namespace infernum::cli
