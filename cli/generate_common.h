// Shared by the two modes of `infernum generate` (one streamed prompt, or a
// prompt file run through the engine at once): the loaded model, the
// per-request settings the flags give, and engine / request construction.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/args.h"
#include "worker/engine/engine.h"
#include "worker/model_setup.h"
#include "worker/sampling/sampling_params.h"

namespace infernum::cli {

struct GenerateSetup {
  worker::LoadedModel loaded;
  worker::SamplingParams sampling;
  int max_tokens = 256;
  bool ignore_eos = false;
  worker::EngineConfig engine;  // KV size 0 => sized for the prompts
};

// Tokenizes a prompt as `generate` does: special tokens added, BOS alone for
// an empty text (InvalidArgument if it still has no tokens).
absl::StatusOr<std::vector<int32_t>> EncodePrompt(const GenerateSetup& setup,
                                                  const std::string& text);

// An engine for `prompts` (each run with setup.max_tokens); when the flags
// gave no KV size, the cache holds all of them at once (at most 1 GiB).
// Stops on DefaultStopTokenIds unless --ignore-eos.
absl::StatusOr<std::unique_ptr<worker::Engine>> MakeGenerateEngine(
    const GenerateSetup& setup,
    const std::vector<std::vector<int32_t>>& prompts);

worker::EngineRequest MakeGenerateRequest(const GenerateSetup& setup,
                                          std::string id,
                                          std::vector<int32_t> prompt);

// Prompt-file mode (-i FILE [-o FILE]); returns the exit code.
int RunPromptFile(const ParsedArgs& args, GenerateSetup& setup);

}  // namespace infernum::cli
