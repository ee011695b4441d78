// Bucketing and padded input layout of the CUDA-graph decode path.
#include "models/llama/decode_graphs.h"

#include <gtest/gtest.h>

#include <vector>

namespace infernum::models {
namespace {

TEST(DecodeGraphsTest, BatchBucketsArePowersOfTwoThenMultiplesOfEight) {
  const std::vector<std::pair<int, int>> cases = {
      {1, 1},  {2, 2},   {3, 4},   {4, 4},   {5, 8},     {8, 8},
      {9, 16}, {16, 16}, {17, 24}, {31, 32}, {255, 256}, {256, 256}};
  for (const auto& [n, bucket] : cases) {
    EXPECT_EQ(DecodeBatchBucket(n), bucket) << n;
  }
  for (int n = 1; n <= 600; ++n) {
    const int b = DecodeBatchBucket(n);
    EXPECT_GE(b, n);
    EXPECT_EQ(DecodeBatchBucket(b), b) << "a bucket is its own bucket";
  }
}

TEST(DecodeGraphsTest, ContextBucketsArePowersOfTwoCappedAtMaxContext) {
  EXPECT_EQ(DecodeContextBucket(1, 4096), kMinContextBucket);
  EXPECT_EQ(DecodeContextBucket(256, 4096), 256);
  EXPECT_EQ(DecodeContextBucket(257, 4096), 512);
  EXPECT_EQ(DecodeContextBucket(3000, 4096), 4096);
  EXPECT_EQ(DecodeContextBucket(3000, 3500), 3500);
  EXPECT_EQ(DecodeContextBucket(100, 200), 200);
}

// Three decoding sequences with block tables of width 5.
ForwardBatch ThreeDecodes() {
  ForwardBatch b;
  b.token_ids = {11, 12, 13};
  b.positions = {40, 7, 70};
  b.slot_mapping = {40, 87, 150};
  b.query_start_loc = {0, 1, 2, 3};
  b.seq_lens = {41, 8, 71};
  b.max_blocks_per_seq = 5;
  b.block_tables = {0, 1, 2, 0, 0, 5, 0, 0, 0, 0, 6, 7, 8, 9, 3};
  b.logits_indices = {0, 1, 2};
  return b;
}

TEST(DecodeGraphsTest, PlainDecodeNeedsOneRowAndOneLogitPerSequence) {
  ForwardBatch b = ThreeDecodes();
  EXPECT_TRUE(IsPlainDecode(b));
  ForwardBatch partial = b;
  partial.logits_indices = {0, 2};
  EXPECT_FALSE(IsPlainDecode(partial));
  ForwardBatch reordered = b;
  reordered.logits_indices = {1, 0, 2};
  EXPECT_FALSE(IsPlainDecode(reordered));
  ForwardBatch prefill = b;  // Sequence 0 has two rows.
  prefill.token_ids.push_back(14);
  prefill.positions.push_back(41);
  prefill.slot_mapping.push_back(41);
  prefill.query_start_loc = {0, 2, 3, 4};
  prefill.logits_indices = {1, 2, 3};
  EXPECT_FALSE(IsPlainDecode(prefill));
  EXPECT_FALSE(IsPlainDecode(ForwardBatch()));
}

TEST(DecodeGraphsTest, LayoutSectionsAreDisjointAndAligned) {
  const DecodeGraphLayout l = MakeDecodeGraphLayout(24, 1000, 16);
  EXPECT_EQ(l.table_width, 63);  // ceil(1000 / 16)
  const std::vector<std::pair<size_t, size_t>> sections = {
      {l.token_ids, 24},        {l.positions, 24}, {l.slot_mapping, 24},
      {l.query_start_loc, 25},  {l.seq_lens, 24},  {l.logits_indices, 24},
      {l.block_tables, 24 * 63}};
  size_t end = 0;
  for (const auto& [offset, count] : sections) {
    EXPECT_EQ(offset % 16, 0u);
    EXPECT_GE(offset, end) << "sections overlap";
    end = offset + count;
  }
  EXPECT_GE(l.num_elements, end);
  // A larger bucket never needs less room (one buffer serves every layout).
  EXPECT_GE(MakeDecodeGraphLayout(32, 1024, 16).num_elements, l.num_elements);
}

TEST(DecodeGraphsTest, PackCopiesRealRowsAndPadsTheRest) {
  const ForwardBatch b = ThreeDecodes();
  const DecodeGraphLayout l = MakeDecodeGraphLayout(4, 64, 16);  // width 4
  std::vector<int32_t> d = {7, 7, 7};  // Stale contents are overwritten.
  PackDecodeGraphInputs(b, l, &d);
  ASSERT_EQ(d.size(), l.num_elements);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(d[l.token_ids + i], b.token_ids[i]);
    EXPECT_EQ(d[l.positions + i], b.positions[i]);
    EXPECT_EQ(d[l.slot_mapping + i], b.slot_mapping[i]);
    EXPECT_EQ(d[l.seq_lens + i], b.seq_lens[i]);
    for (int j = 0; j < 4; ++j) {
      EXPECT_EQ(d[l.block_tables + i * 4 + j], b.block_tables[i * 5 + j])
          << "seq " << i << " entry " << j;
    }
  }
  // The padding row: token 0 at position 0, no KV write, no context.
  EXPECT_EQ(d[l.token_ids + 3], 0);
  EXPECT_EQ(d[l.positions + 3], 0);
  EXPECT_EQ(d[l.slot_mapping + 3], -1);
  EXPECT_EQ(d[l.seq_lens + 3], 0);
  for (int i = 0; i <= 4; ++i) EXPECT_EQ(d[l.query_start_loc + i], i);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(d[l.logits_indices + i], i);
}

}  // namespace
}  // namespace infernum::models
