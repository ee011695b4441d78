// Host-side handling of a ForwardBatch before a forward pass: validation
// against the model and KV cache, and packing of its i32 arrays into one
// host buffer so they reach the device in a single copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "models/forward_batch.h"
#include "models/kv_cache.h"

namespace infernum::models {

// InvalidArgument (naming the field and index) unless every array has the
// size forward_batch.h specifies and every index is in range: token ids in
// [0, vocab_size), positions >= 0, slots in [-1, cache slots), block ids in
// [0, num_blocks), query_start_loc a non-decreasing prefix sum from 0 to
// num_tokens, query_len(s) <= seq_lens[s] <= max_blocks_per_seq * block_size,
// logits_indices in [0, num_tokens). Needs at least one token.
absl::Status ValidateForwardBatch(const ForwardBatch& batch, int vocab_size,
                                  const KvCache& cache);

// The batch's i32 arrays back to back; each *_offset is in elements.
struct PackedStepInputs {
  std::vector<int32_t> data;
  size_t token_ids_offset = 0;
  size_t positions_offset = 0;
  size_t slot_mapping_offset = 0;
  size_t block_tables_offset = 0;
  size_t query_start_loc_offset = 0;
  size_t seq_lens_offset = 0;
  size_t logits_indices_offset = 0;
  int max_query_len = 0;
  int max_seq_len = 0;
};

// Fills `out` from a validated batch (reusing out->data's capacity).
void PackStepInputs(const ForwardBatch& batch, PackedStepInputs* out);

}  // namespace infernum::models
