// Decode steps replayed from CUDA graphs: which steps qualify, the bucket
// each is padded to, and the fixed-address input layout a captured graph
// reads. Host-side and backend-independent; LlamaModel (llama_decode_graphs.cc)
// does the uploading, capturing and replaying through kernels::CudaGraphCache.
//
// A graph bakes in every pointer and every host-side kernel parameter, so a
// step can only replay a graph captured for the same
//   - batch bucket (num_seqs padded up: 1, 2, 4, 8, then multiples of 8), and
//   - context bucket (the longest context padded up to a power of two, at
//     least kMinContextBucket, at most the model's max context): the
//     split-K decode plan and the block-table width depend on it.
// Padding rows read token 0 at position 0, write no KV (slot -1) and attend
// to nothing (seq_len 0), so their outputs are ignored zeros.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "models/forward_batch.h"

namespace infernum::models {

struct DecodeGraphOptions {
  // Replay decode steps from CUDA graphs (the worker's --no-cuda-graphs
  // clears it). Only the CUDA backend captures graphs.
  bool enabled = true;
  int max_batch_size = 256;  // Largest decode batch replayed (max_num_seqs).
  int max_context = 0;       // Longest sequence in tokens (max_model_len).
  int block_size = 16;       // KV block size in tokens.
  // Tests: take the padded path even on a backend that cannot capture
  // graphs (the CPU), running it eagerly, so the padding logic is testable.
  bool pad_without_graphs = false;
};

inline constexpr int kMinContextBucket = 256;

// The batch bucket for `num_seqs` (> 0): 1, 2, 4, 8, 16, 24, 32, ...
int DecodeBatchBucket(int num_seqs);
// The context bucket for a step whose longest sequence has `max_seq_len`
// tokens: the next power of two >= max(max_seq_len, kMinContextBucket),
// capped at `max_context`.
int DecodeContextBucket(int max_seq_len, int max_context);

// True when `batch` is a plain decode step: every sequence contributes one
// row, and logits are wanted for every row in row order.
bool IsPlainDecode(const ForwardBatch& batch);

// Offsets (in i32 elements) of each array of a padded step in one buffer.
struct DecodeGraphLayout {
  int batch = 0;        // Rows (= sequences), padding included.
  int context = 0;      // The context bucket (PagedAttention's max_seq_len).
  int table_width = 0;  // Block-table entries per sequence.
  size_t token_ids = 0, positions = 0, slot_mapping = 0, query_start_loc = 0,
         seq_lens = 0, logits_indices = 0, block_tables = 0;
  size_t num_elements = 0;  // The whole layout.
};

DecodeGraphLayout MakeDecodeGraphLayout(int batch, int context, int block_size);

// Writes the plain decode `batch` (IsPlainDecode, num_seqs <= layout.batch,
// every seq_len <= layout.context) into `out` (resized to
// layout.num_elements) with padding rows as described above; block-table
// rows are truncated or zero-filled to layout.table_width.
void PackDecodeGraphInputs(const ForwardBatch& batch,
                           const DecodeGraphLayout& layout,
                           std::vector<int32_t>* out);

}  // namespace infernum::models
