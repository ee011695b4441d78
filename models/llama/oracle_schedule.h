// Test helper: runs prompts through a LlamaModel under a "schedule" (how the
// prompt tokens are split into steps and batched, and how KV blocks are
// assigned) and collects the logits of every position, so every schedule can
// be compared against the same full-sequence reference.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/kv_cache.h"
#include "models/llama/llama_model.h"

namespace infernum::models {

struct Schedule {
  std::string name;
  int block_size = 16;
  // All prompts as sequences of one batch (true) or one prompt at a time.
  bool together = false;
  // Tokens per step for sequence s: chunk_sizes[s % size]; 0 = the rest of
  // the prompt.
  std::vector<int> chunk_sizes = {0};
  // Physical blocks are a seeded shuffle of the cache's blocks (else 0, 1..).
  bool shuffle_blocks = false;
  unsigned seed = 0;
};

// prefill (one step), decode (token by token), chunked (7 per step),
// batched (all prompts, mixed chunk sizes incl. decodes), batched prefill.
std::vector<Schedule> StandardSchedules();

class ScheduleRunner {
 public:
  explicit ScheduleRunner(LlamaModel& model) : model_(model) {}

  // Logits of every position: result[p] is [prompts[p].size() * vocab].
  // Caches persist across calls (one per block size), so later runs see
  // stale data from earlier ones in unused slots.
  absl::StatusOr<std::vector<std::vector<float>>> Run(
      const std::vector<std::vector<int32_t>>& prompts, const Schedule& s);

 private:
  absl::StatusOr<KvCache*> CacheFor(int block_size);
  // Runs prompts[idx] for idx in `seqs` as one batch of sequences.
  absl::Status RunBatch(const std::vector<std::vector<int32_t>>& prompts,
                        const std::vector<int>& seqs, const Schedule& s,
                        std::vector<std::vector<float>>& out);

  LlamaModel& model_;
  std::map<int, KvCache> caches_;
};

}  // namespace infernum::models
