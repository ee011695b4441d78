#include "worker/engine/batch_builder.h"

#include <vector>

#include "gtest/gtest.h"

namespace infernum::worker {
namespace {

using V = std::vector<int32_t>;

TEST(BatchBuilderTest, FlattensDecodeAndPrefillChunk) {
  SchedulerOutput out;
  out.block_size = 4;
  // A decode at position 5 of a sequence in blocks {7, 3}.
  ScheduledSequence& d = out.seqs.emplace_back();
  d.request_id = "d";
  d.token_ids = {42};
  d.start_position = 5;
  d.seq_len = 6;
  d.block_ids = {7, 3};
  d.sample = true;
  // A non-final prefill chunk: positions 4..8 after a 4-token cache hit.
  ScheduledSequence& p = out.seqs.emplace_back();
  p.request_id = "p";
  p.token_ids = {10, 11, 12, 13, 14};
  p.start_position = 4;
  p.seq_len = 9;
  p.block_ids = {1, 2, 9};
  p.sample = false;
  out.num_batched_tokens = 6;

  const models::ForwardBatch b = BuildForwardBatch(out);
  EXPECT_EQ(b.token_ids, (V{42, 10, 11, 12, 13, 14}));
  EXPECT_EQ(b.positions, (V{5, 4, 5, 6, 7, 8}));
  // slot = block_ids[p / 4] * 4 + p % 4
  EXPECT_EQ(b.slot_mapping, (V{3 * 4 + 1, 2 * 4 + 0, 2 * 4 + 1, 2 * 4 + 2,
                               2 * 4 + 3, 9 * 4 + 0}));
  EXPECT_EQ(b.query_start_loc, (V{0, 1, 6}));
  EXPECT_EQ(b.seq_lens, (V{6, 9}));
  EXPECT_EQ(b.max_blocks_per_seq, 3);
  EXPECT_EQ(b.block_tables, (V{7, 3, 0, 1, 2, 9}));
  EXPECT_EQ(b.logits_indices, (V{0}));  // the chunk does not sample
  EXPECT_EQ(b.num_seqs(), 2);
}

TEST(BatchBuilderTest, EmptyOutputGivesEmptyBatch) {
  const models::ForwardBatch b = BuildForwardBatch(SchedulerOutput{});
  EXPECT_EQ(b.num_tokens(), 0);
  EXPECT_EQ(b.query_start_loc, V{0});
}

}  // namespace
}  // namespace infernum::worker
