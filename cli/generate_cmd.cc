// infernum generate: streams generated text for one prompt to stdout.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "models/kv_cache.h"
#include "models/llama/simple_generate.h"
#include "models/tokenizer/incremental_detokenizer.h"
#include "worker/sampling/sampler.h"

namespace infernum::cli {
namespace {

std::vector<FlagSpec> GenerateFlags() {
  std::vector<FlagSpec> specs = ModelFlagSpecs();
  specs.insert(specs.end(), SamplingFlagSpecs().begin(), SamplingFlagSpecs().end());
  specs.push_back({"prompt", FlagType::kString, "prompt text (default: BOS only)"});
  specs.push_back({"max-tokens", FlagType::kInt, "tokens to generate (default 256)"});
  specs.push_back({"ignore-eos", FlagType::kBool, "do not stop on EOS/BOS"});
  specs.push_back({"echo", FlagType::kBool, "print the prompt before the completion"});
  specs.push_back({"help", FlagType::kBool, "show this help"});
  return specs;
}

// One JSON line on stderr per token when --logprobs is given.
void PrintLogprobs(const models::Tokenizer& tok, const worker::SampleResult& r) {
  nlohmann::json top = nlohmann::json::array();
  for (const auto& t : r.top_logprobs) {
    top.push_back({{"token", t.token}, {"text", tok.IdToToken(t.token)}, {"logprob", t.logprob}});
  }
  nlohmann::json line = {{"token", r.token},
                         {"text", tok.IdToToken(r.token)},
                         {"logprob", r.logprob},
                         {"top_logprobs", top}};
  std::fprintf(stderr, "%s\n",
               line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

}  // namespace

int GenerateMain(const std::vector<std::string>& args) {
  const std::vector<FlagSpec> specs = GenerateFlags();
  auto parsed = ParseArgs(args, specs);
  if (!parsed.ok()) return UsageError("generate", std::string(parsed.status().message()));
  if (parsed->GetBool("help", false)) {
    std::printf("usage: infernum generate --model DIR [flags]\n%s", FlagHelp(specs).c_str());
    return 0;
  }
  auto params = SamplingParamsFromFlags(*parsed);
  if (!params.ok()) return UsageError("generate", std::string(params.status().message()));
  const int64_t max_tokens = parsed->GetInt("max-tokens", 256);
  if (max_tokens < 1) return UsageError("generate", "--max-tokens must be at least 1");
  auto loaded = LoadModelFromFlags(*parsed, /*need_tokenizer=*/true);
  if (!loaded.ok()) return UsageError("generate", std::string(loaded.status().message()));
  const models::Tokenizer& tok = *loaded->tokenizer;

  const std::string prompt_text = parsed->GetString("prompt", "");
  auto prompt = tok.Encode(prompt_text, /*add_special_tokens=*/true);
  if (!prompt.ok()) return UsageError("generate", std::string(prompt.status().message()));
  if (prompt->empty() && tok.bos_token_id()) prompt->push_back(*tok.bos_token_id());
  if (prompt->empty()) return UsageError("generate", "the prompt encodes to no tokens");
  const int64_t context = loaded->config.max_position_embeddings;
  if (static_cast<int64_t>(prompt->size()) + max_tokens > context) {
    return UsageError("generate", absl::StrCat("prompt (", prompt->size(), " tokens) + max-tokens (",
                                               max_tokens, ") exceeds the context of ", context));
  }

  const int block_size = 16;
  const int num_blocks = static_cast<int>((prompt->size() + max_tokens + block_size - 1) / block_size);
  auto cache = models::KvCache::Create(*loaded->backend,
                                       loaded->model->MakeKvCacheShape(num_blocks, block_size));
  if (!cache.ok()) return UsageError("generate", std::string(cache.status().message()));

  worker::SequenceSamplerState state(*params, *prompt);
  worker::SamplerScratch scratch;
  models::IncrementalDetokenizer detok(tok, /*skip_special_tokens=*/true, *prompt);
  if (parsed->GetBool("echo", false)) {
    auto text = tok.Decode(*prompt, true);
    if (text.ok()) std::fputs(text->c_str(), stdout);
  }
  models::SimpleGenerateOptions opts;
  opts.max_new_tokens = static_cast<int>(max_tokens);
  if (!parsed->GetBool("ignore-eos", false)) opts.stop_token_ids = worker::DefaultStopTokenIds(*loaded);
  absl::Status print_status;
  opts.on_token = [&](int32_t token) {
    auto piece = detok.Append(token);
    if (!piece.ok()) {
      print_status = piece.status();
      return false;
    }
    std::fputs(piece->c_str(), stdout);
    std::fflush(stdout);
    return true;
  };
  auto picker = [&](absl::Span<const float> logits) -> absl::StatusOr<int32_t> {
    auto r = worker::Sample(logits, *params, state, &scratch);
    if (!r.ok()) return r.status();
    if (params->num_logprobs >= 0) PrintLogprobs(tok, *r);
    state.Append(r->token);
    return r->token;
  };
  auto out = models::SimpleGenerate(*loaded->model, *cache, *prompt, opts, picker);
  if (!out.ok() || !print_status.ok()) {
    std::fprintf(stderr, "infernum generate: %s\n",
                 std::string((out.ok() ? print_status : out.status()).message()).c_str());
    return 1;
  }
  auto rest = detok.Flush();
  if (rest.ok()) std::fputs(rest->c_str(), stdout);
  std::fputs("\n", stdout);
  return 0;
}

}  // namespace infernum::cli
