// Batch-1 timing loops of `infernum bench` straight on a LlamaModel (no
// engine): one sequence's prefill, then greedy decode steps.
#pragma once

#include "absl/status/statusor.h"
#include "models/llama/llama_model.h"

namespace infernum::cli {

struct Batch1Options {
  int prompt_len = 128;  // > 0
  int decode_len = 32;   // > 0
  int reps = 3;          // > 0; the best rate of each phase is kept
  int block_size = 16;   // KV cache block size in tokens
  // Replay the decode steps from CUDA graphs (LlamaModel::
  // ConfigureDecodeGraphs for batch 1 and this run's context), as the
  // engine does; no effect on backends without graphs.
  bool cuda_graphs = false;
};

struct Batch1Result {
  double prefill_s = 0;  // fastest prefill of prompt_len tokens
  double decode_s = 0;   // fastest decode_len steps
  double prefill_tok_s = 0;
  double decode_tok_s = 0;
  int num_decode_graphs = 0;       // instantiated by the last repetition
  int64_t graph_decode_steps = 0;  // steps that took the graph path (all reps)
};

// Runs `reps` x (a prefill of prompt_len pseudo-random tokens from position
// 0, then decode_len steps each feeding back the argmax token) for one
// sequence on a KV cache of its own (allocated here on the model's backend,
// freed on return). Each Forward() is complete on return, so the times
// include the logits' copy to the host. Reconfigures the model's decode
// graphs for the run and drops them (graphs off) before returning.
// InvalidArgument for non-positive options or prompt_len + decode_len beyond
// the model's context; the model's and backend's errors otherwise.
absl::StatusOr<Batch1Result> RunBatch1(models::LlamaModel& model,
                                       const Batch1Options& options);

}  // namespace infernum::cli
