// Flags shared by the CLI commands that load a model or sample tokens.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "cli/args.h"
#include "worker/model_setup.h"
#include "worker/sampling/sampling_params.h"

namespace infernum::cli {

// --model, --config, --load-format, --dtype, --seed-weights, --backend,
// --threads, --cpu-matmul-precision, --kv-cache-dtype, --cuda-graphs
// (--no-cuda-graphs).
const std::vector<FlagSpec>& ModelFlagSpecs();
// --temperature, --top-k, --top-p, --min-p, --repetition-penalty,
// --presence-penalty, --frequency-penalty, --seed, --logprobs.
const std::vector<FlagSpec>& SamplingFlagSpecs();

// Builds validated sampling params (InvalidArgument naming the flag).
absl::StatusOr<worker::SamplingParams> SamplingParamsFromFlags(
    const ParsedArgs& args);

// Loads the model the flags describe (see worker::SetupModel for errors).
absl::StatusOr<worker::LoadedModel> LoadModelFromFlags(const ParsedArgs& args,
                                                       bool need_tokenizer);

}  // namespace infernum::cli
