// ForwardBatch: the one data contract that crosses from the engine (scheduler
// + model runner) into a model's forward pass. Host-side arrays; the model
// copies them to the device. Built once per engine step by the ModelRunner
// from the scheduler's output; read-only for the model.
//
// Tokens of all sequences in the step are flattened: sequence s owns token
// rows [query_start_loc[s], query_start_loc[s + 1]). A decode contributes one
// row, a prefill chunk contributes its chunk length.
#pragma once

#include <cstdint>
#include <vector>

namespace infernum::models {

struct ForwardBatch {
  // [num_tokens] input token id of each row.
  std::vector<int32_t> token_ids;
  // [num_tokens] absolute position of each row within its sequence (0-based);
  // used for RoPE.
  std::vector<int32_t> positions;
  // [num_tokens] KV-cache slot (block_id * block_size + offset) each row's
  // key/value is written to; -1 means do not write.
  std::vector<int32_t> slot_mapping;
  // [num_seqs + 1] prefix sums of rows per sequence; front() == 0,
  // back() == num_tokens.
  std::vector<int32_t> query_start_loc;
  // [num_seqs] tokens of context each sequence has after this step (cached
  // prefix + rows computed now). Attention reads positions [0, seq_len).
  std::vector<int32_t> seq_lens;
  // [num_seqs * max_blocks_per_seq] row-major block table: entry
  // (s, j) is the physical KV block holding positions
  // [j * block_size, (j + 1) * block_size) of sequence s. Unused entries are 0.
  std::vector<int32_t> block_tables;
  int max_blocks_per_seq = 0;
  // Rows whose logits are wanted, in output order (normally the last row of
  // each sequence that will sample a token this step; none for a prefill
  // chunk that does not reach the end of its prompt).
  std::vector<int32_t> logits_indices;

  int num_tokens() const { return static_cast<int>(token_ids.size()); }
  int num_seqs() const { return static_cast<int>(seq_lens.size()); }
};

}  // namespace infernum::models
