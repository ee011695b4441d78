#include "models/llama/decode_graphs.h"

#include <algorithm>

#include "common/logging.h"

namespace infernum::models {
namespace {

// Sections start on 16-element (64-byte) boundaries.
size_t Align(size_t x) { return (x + 15) / 16 * 16; }

}  // namespace

int DecodeBatchBucket(int num_seqs) {
  CHECK(num_seqs > 0) << "DecodeBatchBucket of " << num_seqs;
  if (num_seqs <= 4) {
    int b = 1;
    while (b < num_seqs) b *= 2;
    return b;
  }
  return (num_seqs + 7) / 8 * 8;
}

int DecodeContextBucket(int max_seq_len, int max_context) {
  int64_t b = kMinContextBucket;
  while (b < max_seq_len) b *= 2;
  return static_cast<int>(std::min<int64_t>(b, std::max(max_context, 1)));
}

bool IsPlainDecode(const ForwardBatch& batch) {
  const int n = batch.num_tokens();
  if (n == 0 || batch.num_seqs() != n ||
      static_cast<int>(batch.logits_indices.size()) != n) {
    return false;
  }
  for (int i = 0; i < n; ++i) {
    if (batch.query_start_loc[i + 1] != i + 1 || batch.logits_indices[i] != i) {
      return false;
    }
  }
  return true;
}

DecodeGraphLayout MakeDecodeGraphLayout(int batch, int context,
                                        int block_size) {
  DecodeGraphLayout l;
  l.batch = batch;
  l.context = context;
  l.table_width = (context + block_size - 1) / block_size;
  size_t at = 0;
  const auto take = [&at](size_t count) {
    const size_t offset = at;
    at += Align(count);
    return offset;
  };
  const size_t b = static_cast<size_t>(batch);
  l.token_ids = take(b);
  l.positions = take(b);
  l.slot_mapping = take(b);
  l.query_start_loc = take(b + 1);
  l.seq_lens = take(b);
  l.logits_indices = take(b);
  l.block_tables = take(b * l.table_width);
  l.num_elements = at;
  return l;
}

void PackDecodeGraphInputs(const ForwardBatch& batch,
                           const DecodeGraphLayout& l,
                           std::vector<int32_t>* out) {
  const int n = batch.num_seqs();
  CHECK(n <= l.batch) << n << " sequences in a bucket of " << l.batch;
  out->assign(l.num_elements, 0);
  int32_t* d = out->data();
  for (int i = 0; i < l.batch; ++i) {
    const bool real = i < n;
    d[l.token_ids + i] = real ? batch.token_ids[i] : 0;
    d[l.positions + i] = real ? batch.positions[i] : 0;
    d[l.slot_mapping + i] = real ? batch.slot_mapping[i] : -1;
    d[l.seq_lens + i] = real ? batch.seq_lens[i] : 0;
    d[l.logits_indices + i] = i;
    d[l.query_start_loc + i] = i;
  }
  d[l.query_start_loc + l.batch] = l.batch;
  const int width = std::min(batch.max_blocks_per_seq, l.table_width);
  for (int s = 0; s < n; ++s) {
    std::copy_n(batch.block_tables.begin() +
                    static_cast<size_t>(s) * batch.max_blocks_per_seq,
                width,
                d + l.block_tables + static_cast<size_t>(s) * l.table_width);
  }
}

}  // namespace infernum::models
