#include "worker/engine/batch_builder.h"

#include <algorithm>

#include "common/logging.h"

namespace infernum::worker {

models::ForwardBatch BuildForwardBatch(const SchedulerOutput& output) {
  models::ForwardBatch batch;
  const int bs = output.block_size;
  batch.query_start_loc.push_back(0);
  if (output.empty()) return batch;
  CHECK(bs > 0) << "SchedulerOutput without block_size";
  int max_blocks = 0;
  for (const ScheduledSequence& s : output.seqs) {
    max_blocks = std::max(max_blocks, (s.seq_len + bs - 1) / bs);
  }
  batch.max_blocks_per_seq = max_blocks;
  batch.token_ids.reserve(output.num_batched_tokens);
  batch.positions.reserve(output.num_batched_tokens);
  batch.slot_mapping.reserve(output.num_batched_tokens);
  batch.block_tables.assign(output.seqs.size() * max_blocks, 0);
  for (size_t i = 0; i < output.seqs.size(); ++i) {
    const ScheduledSequence& s = output.seqs[i];
    const int num_blocks = (s.seq_len + bs - 1) / bs;
    CHECK(static_cast<int>(s.block_ids.size()) >= num_blocks)
        << s.request_id << ": block table shorter than seq_len";
    std::copy_n(s.block_ids.begin(), num_blocks,
                batch.block_tables.begin() + i * max_blocks);
    for (int r = 0; r < s.num_new_tokens(); ++r) {
      const int p = s.start_position + r;
      batch.token_ids.push_back(s.token_ids[r]);
      batch.positions.push_back(p);
      batch.slot_mapping.push_back(s.block_ids[p / bs] * bs + p % bs);
    }
    batch.query_start_loc.push_back(batch.num_tokens());
    batch.seq_lens.push_back(s.seq_len);
    if (s.sample) batch.logits_indices.push_back(batch.num_tokens() - 1);
  }
  return batch;
}

}  // namespace infernum::worker
