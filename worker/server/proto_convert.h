// Conversions between the worker.proto messages and the engine's types
// (worker/engine/engine_types.h). Pure functions, no I/O.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "proto/infernum/v1/worker.pb.h"
#include "worker/engine/engine_types.h"

namespace infernum::worker {

// Maps a GenerateRequest to an EngineRequest, applying the proto's "0 means
// disabled" conventions (top_p 0 -> 1, repetition_penalty 0 -> 1, top_k -1
// -> 0) and logprobs/top_logprobs -> num_logprobs. InvalidArgument for
// top_logprobs outside [0, 20] and negative max_tokens / min_tokens /
// num_previously_generated; everything else (sampling ranges, token ids,
// lengths) is left to Engine::ValidateRequest. An empty request_id stays
// empty (the caller assigns one).
absl::StatusOr<EngineRequest> ToEngineRequest(
    const v1::GenerateRequest& request);

// Appends one generated token (with logprobs when `with_logprobs`).
void AppendToken(const TokenOutput& token, bool with_logprobs,
                 v1::TokenChunk* chunk);

// The GenerateFinal for an engine FinalOutput. kAbort / kError carry the
// error message; kStop carries the stop token id.
v1::GenerateFinal ToGenerateFinal(const FinalOutput& final_output);

// A load report for `stats`, stamped with `timestamp_unix_ms`.
v1::LoadReport ToLoadReport(const EngineStats& stats,
                            int64_t timestamp_unix_ms);

}  // namespace infernum::worker
