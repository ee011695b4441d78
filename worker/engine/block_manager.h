// BlockManager: owns the paged KV cache's block pool. It hands out fixed-size
// blocks (block_size token slots each) to sequences through move-only
// BlockTable objects, reference-counts shared blocks, and keeps an automatic
// prefix cache of FULL, computed blocks keyed by HashBlockTokens.
//
// Block states (every block is in exactly one):
//   used       ref_count > 0 (owned by >= 1 BlockTable; may also be cached)
//   free       ref_count == 0, not cached (in the free list)
//   evictable  ref_count == 0, cached: still reusable by a prefix hit until it
//              is evicted, least recently released first, when a fresh block
//              is needed and the free list is empty.
//
// Prefix-cache identity is exact, not hash-trusting: a cached block stores its
// token ids and its cached parent block, a lookup compares both, and evicting
// a block also uncaches its cached descendants (so "child cached => parent
// cached" always holds). A hash collision can therefore only cost a cache
// miss, never a wrong hit. A block is cached only after its tokens' KV has
// been computed (CommitComputedTokens), so a hit never reads unwritten KV.
//
// Not thread-safe: the engine loop owns it (through the Scheduler).
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/engine/block_hash.h"

namespace infernum::worker {

struct BlockManagerConfig {
  int num_blocks = 0;   // KV blocks in the pool; > 0.
  int block_size = 16;  // Token slots per block; > 0.
  bool enable_prefix_caching = true;
  // Testing only: keep the low `hash_bits_for_testing` bits of each block hash
  // (1..64) to force collisions. Must stay 64 in production.
  int hash_bits_for_testing = 64;
};

struct BlockManagerStats {
  int num_blocks = 0;
  int num_used_blocks = 0;       // ref_count > 0
  int num_free_blocks = 0;       // ref_count == 0, not cached
  int num_evictable_blocks = 0;  // ref_count == 0, cached
  int num_cached_blocks = 0;     // in the prefix cache (used or evictable)
  // Prefix-cache counters, in tokens as vLLM counts them: one query of
  // len(tokens) per Allocate, hits = tokens served from the cache.
  int64_t prefix_cache_requests = 0;
  int64_t prefix_cache_query_tokens = 0;
  int64_t prefix_cache_hit_tokens = 0;
  int64_t num_evicted_blocks = 0;  // cached blocks dropped from the cache

  // Fraction of blocks owned by live sequences (evictable counts as free).
  double usage() const {
    return num_blocks == 0 ? 0.0 : double(num_used_blocks) / num_blocks;
  }
  double prefix_cache_hit_rate() const {
    return prefix_cache_query_tokens == 0
               ? 0.0
               : double(prefix_cache_hit_tokens) / prefix_cache_query_tokens;
  }
};

class BlockManager;

// The blocks of one sequence: entry j holds the KV of positions
// [j * block_size, (j + 1) * block_size). Move-only; the destructor (or
// Release) drops this table's reference on every block, so a block can never
// be freed twice. Must not outlive its BlockManager. A default-constructed
// table owns nothing.
class BlockTable {
 public:
  BlockTable() = default;
  ~BlockTable() { Release(); }
  BlockTable(BlockTable&& other) noexcept;
  BlockTable& operator=(BlockTable&& other) noexcept;
  BlockTable(const BlockTable&) = delete;
  BlockTable& operator=(const BlockTable&) = delete;

  const std::vector<int32_t>& block_ids() const { return block_ids_; }
  int num_blocks() const { return static_cast<int>(block_ids_.size()); }
  // Token slots this table can hold (num_blocks * block_size).
  int capacity() const;
  // KV-cache slot of `position` (block_id * block_size + offset).
  // position must be in [0, capacity()) (CHECKed).
  int32_t SlotOf(int position) const;
  // Leading tokens that were served from the prefix cache at Allocate time.
  int num_cached_tokens() const { return num_cached_tokens_; }
  // True while the table is attached to a BlockManager.
  bool attached() const { return manager_ != nullptr; }
  // Returns every block to the manager (last block first, so a sequence's
  // tail is evicted before its shareable head). Idempotent.
  void Release();

 private:
  friend class BlockManager;
  BlockManager* manager_ = nullptr;
  std::vector<int32_t> block_ids_;
  int num_cached_tokens_ = 0;
  // Prefix-cache chain state maintained by CommitComputedTokens: blocks
  // [0, num_committed_blocks_) have been hashed; last_hash_ is the hash of
  // the last of them; chain_block_/chain_generation_ name the cached block
  // holding that content (-1: root, i.e. nothing committed yet).
  int num_committed_blocks_ = 0;
  BlockHash last_hash_ = kRootBlockHash;
  int32_t chain_block_ = -1;
  uint32_t chain_generation_ = 0;
  bool chain_broken_ = false;  // a parent left the cache: stop caching
};

class BlockManager {
 public:
  // InvalidArgument for a bad config.
  static absl::StatusOr<std::unique_ptr<BlockManager>> Create(
      const BlockManagerConfig& config);
  // CHECK-fails if a BlockTable is still attached (programmer error).
  ~BlockManager();
  BlockManager(const BlockManager&) = delete;
  BlockManager& operator=(const BlockManager&) = delete;

  int block_size() const { return config_.block_size; }
  int num_blocks() const { return config_.num_blocks; }
  // ceil(num_tokens / block_size).
  int NumBlocksForTokens(int num_tokens) const;

  // Leading tokens of `tokens` (a prompt, or prompt + outputs of a preempted
  // sequence) that cached full blocks already hold, capped so that at least
  // the last token is left to compute (its logits are needed): a multiple of
  // block_size, <= tokens.size() - 1. No side effects.
  int NumCachedPrefixTokens(std::span<const int32_t> tokens) const;

  // Whether Allocate(tokens, num_slots) would succeed now.
  bool CanAllocate(std::span<const int32_t> tokens, int num_slots) const;
  // Creates the table of a new (or resumed) sequence: takes a reference on
  // the cached prefix blocks (NumCachedPrefixTokens(tokens) tokens, reported
  // by table.num_cached_tokens()) and adds fresh blocks until the table holds
  // max(num_slots, cached) slots. Counts one prefix-cache query.
  // ResourceExhausted (nothing changed) if blocks are short; InvalidArgument
  // if num_slots < 0.
  absl::StatusOr<BlockTable> Allocate(std::span<const int32_t> tokens,
                                      int num_slots);

  // Whether `table` can grow to hold num_slots slots (true if it already does).
  bool CanGrow(const BlockTable& table, int num_slots) const;
  // Appends fresh blocks until `table` holds num_slots slots (never shrinks).
  // ResourceExhausted (nothing changed) if blocks are short. `table` must
  // belong to this manager (CHECKed).
  absl::Status Grow(BlockTable& table, int num_slots);

  // Call after a step computed KV for tokens[0, num_computed_tokens) of the
  // sequence owning `table` (tokens = its prompt + outputs): every newly FULL
  // computed block enters the prefix cache (unless identical content is
  // cached already). Partial blocks are never cached. No-op when prefix
  // caching is off.
  void CommitComputedTokens(BlockTable& table, std::span<const int32_t> tokens,
                            int num_computed_tokens);

  BlockManagerStats stats() const;
  // Introspection for tests and metrics.
  int RefCount(int32_t block_id) const;
  bool IsCached(int32_t block_id) const;
  // Hash under which a cached block is registered (nullopt if not cached);
  // equals HashFullBlocks(sequence tokens)[j] for its position j, which lets
  // the worker report its cache content to the router.
  std::optional<BlockHash> CachedHash(int32_t block_id) const;
  // Internal consistency of free list, LRU, hash map and counters; Internal
  // error describing the first violation. O(num_blocks); for tests.
  absl::Status CheckConsistency() const;

 private:
  struct Block {
    int32_t ref_count = 0;
    uint32_t generation = 0;  // bumped whenever the block leaves the cache
    bool cached = false;
    BlockHash hash = 0;
    int32_t parent = -1;            // cached parent block, -1 for the first
    std::vector<int32_t> tokens;    // token ids, while cached
    std::vector<int32_t> children;  // cached blocks whose parent this is
    bool in_lru = false;
    std::list<int32_t>::iterator lru_it;
  };
  struct PrefixHit {
    std::vector<int32_t> block_ids;
    BlockHash last_hash = kRootBlockHash;
    int num_evictable = 0;  // hit blocks currently at ref_count 0
  };

  explicit BlockManager(const BlockManagerConfig& config);
  BlockHash Hash(BlockHash parent, std::span<const int32_t> tokens) const;
  PrefixHit FindPrefix(std::span<const int32_t> tokens) const;
  int NumAvailable() const;
  void Acquire(int32_t block_id);
  int32_t TakeFreshBlock();
  void Uncache(int32_t block_id);
  void RegisterBlock(int32_t block_id, BlockHash hash, int32_t parent,
                     std::span<const int32_t> tokens);
  void Release(BlockTable& table);
  friend class BlockTable;

  BlockManagerConfig config_;
  uint64_t hash_mask_;
  std::vector<Block> blocks_;
  std::vector<int32_t> free_;  // stack of free block ids
  std::list<int32_t> lru_;     // evictable blocks, least recent first
  absl::flat_hash_map<BlockHash, int32_t> cache_;  // hash -> cached block
  int num_used_ = 0;
  int num_attached_tables_ = 0;
  BlockManagerStats counters_;  // only the prefix/eviction counters are used
};

}  // namespace infernum::worker
