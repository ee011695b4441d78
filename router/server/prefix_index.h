// Prefix-aware routing: per worker, an approximate record of which prompt
// blocks the router sent there (and so are likely in that worker's prefix
// cache), and the policy that routes a prompt to the worker holding its
// longest cached prefix.
//
// Block hashes are worker::HashFullBlocks over the prompt token ids with the
// worker's KV block size (ModelInfo.block_size): the same chained hash the
// worker's prefix cache uses (worker/engine/block_hash.h), so hash j stands
// for "the first j + 1 blocks of this prompt".
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "router/server/config.h"
#include "router/server/routing_policy.h"
#include "worker/engine/block_hash.h"

namespace infernum::router {

using worker::BlockHash;

// Bounded LRU set of block hashes (one per worker). Approximate by design:
// it forgets what the worker may still cache and remembers what the worker
// may have evicted. Not thread-safe (PrefixAwarePolicy locks around it).
class PrefixIndex {
 public:
  // Holds at most `max_blocks` (>= 1) hashes; the least recently inserted
  // go first.
  explicit PrefixIndex(int64_t max_blocks);

  // Number of leading `hashes` present (stops at the first miss).
  int MatchPrefix(absl::Span<const BlockHash> hashes) const;

  // Records the blocks of one prompt (hashes[0] = its first block). Inserts
  // at most max_blocks of the leading hashes, deepest first, so that the
  // shared leading blocks are the most recently used and evicted last.
  void Insert(absl::Span<const BlockHash> hashes);

  int64_t size() const { return static_cast<int64_t>(lru_.size()); }
  int64_t max_blocks() const { return max_blocks_; }

 private:
  void Touch(BlockHash hash);

  const int64_t max_blocks_;
  std::list<BlockHash> lru_;  // Front = most recently used.
  absl::flat_hash_map<BlockHash, std::list<BlockHash>::iterator> where_;
};

// policy: prefix_aware. Per pick:
//  1. loads = LoadScore of every candidate; the pool is imbalanced when
//     (max - min) > balance_abs_threshold AND max > balance_rel_threshold *
//     min. Imbalanced: pick the least loaded candidate.
//  2. Otherwise pick the candidate whose index matches the most leading
//     prompt blocks; ties (including "no match anywhere") go to the least
//     loaded, then rotate.
//  3. Record the prompt's block hashes in the chosen worker's index.
// Candidates with block_size <= 0 (model info unknown) match nothing and
// record nothing.
class PrefixAwarePolicy final : public RoutingPolicy {
 public:
  explicit PrefixAwarePolicy(PrefixAwareConfig config);

  size_t Pick(const PickRequest& request,
              absl::Span<const WorkerCandidate> candidates) override;
  std::string_view name() const override { return kPolicyPrefixAware; }
  void ForgetWorker(int worker) override;

  // Leading prompt blocks `worker`'s index holds (for tests and logs).
  int MatchedBlocks(int worker, absl::Span<const int32_t> prompt,
                    int block_size) const;
  // Hashes held for `worker` (0 when unknown).
  int64_t IndexSize(int worker) const;

 private:
  // True when the pool is imbalanced (step 1).
  bool Imbalanced(absl::Span<const WorkerCandidate> candidates) const;

  const PrefixAwareConfig config_;
  mutable std::mutex mu_;
  std::map<int, PrefixIndex> indexes_;  // By worker index.
  uint64_t rotate_ = 0;
};

}  // namespace infernum::router
