#include "worker/engine/block_manager.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace infernum::worker {

// ---------------------------------------------------------------- BlockTable

BlockTable::BlockTable(BlockTable&& other) noexcept {
  *this = std::move(other);
}

BlockTable& BlockTable::operator=(BlockTable&& other) noexcept {
  if (this == &other) return *this;
  Release();
  manager_ = std::exchange(other.manager_, nullptr);
  block_ids_ = std::move(other.block_ids_);
  other.block_ids_.clear();
  num_cached_tokens_ = std::exchange(other.num_cached_tokens_, 0);
  num_committed_blocks_ = std::exchange(other.num_committed_blocks_, 0);
  last_hash_ = std::exchange(other.last_hash_, kRootBlockHash);
  chain_block_ = std::exchange(other.chain_block_, -1);
  chain_generation_ = std::exchange(other.chain_generation_, 0);
  chain_broken_ = std::exchange(other.chain_broken_, false);
  return *this;
}

int BlockTable::capacity() const {
  return manager_ == nullptr ? 0 : num_blocks() * manager_->block_size();
}

int32_t BlockTable::SlotOf(int position) const {
  CHECK(position >= 0 && position < capacity())
      << "position " << position << " capacity " << capacity();
  const int bs = manager_->block_size();
  return block_ids_[position / bs] * bs + position % bs;
}

void BlockTable::Release() {
  if (manager_ != nullptr) manager_->Release(*this);
}

// -------------------------------------------------------------- BlockManager

absl::StatusOr<std::unique_ptr<BlockManager>> BlockManager::Create(
    const BlockManagerConfig& config) {
  if (config.num_blocks <= 0 || config.block_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "BlockManager: num_blocks (", config.num_blocks, ") and block_size (",
        config.block_size, ") must be positive"));
  }
  if (config.hash_bits_for_testing < 1 || config.hash_bits_for_testing > 64) {
    return absl::InvalidArgumentError("BlockManager: hash bits must be 1..64");
  }
  return std::unique_ptr<BlockManager>(new BlockManager(config));
}

BlockManager::BlockManager(const BlockManagerConfig& config)
    : config_(config),
      hash_mask_(config.hash_bits_for_testing == 64
                     ? ~uint64_t{0}
                     : (uint64_t{1} << config.hash_bits_for_testing) - 1),
      blocks_(config.num_blocks) {
  free_.reserve(config.num_blocks);
  // A stack: push in reverse so block 0 is handed out first.
  for (int32_t id = config.num_blocks - 1; id >= 0; --id) free_.push_back(id);
  counters_.num_blocks = config.num_blocks;
}

BlockManager::~BlockManager() {
  CHECK(num_attached_tables_ == 0)
      << num_attached_tables_ << " BlockTable(s) outlive their BlockManager";
}

int BlockManager::NumBlocksForTokens(int num_tokens) const {
  return num_tokens <= 0
             ? 0
             : (num_tokens + config_.block_size - 1) / config_.block_size;
}

BlockHash BlockManager::Hash(BlockHash parent,
                             std::span<const int32_t> tokens) const {
  return HashBlockTokens(parent, tokens) & hash_mask_;
}

BlockManager::PrefixHit BlockManager::FindPrefix(
    std::span<const int32_t> tokens) const {
  PrefixHit hit;
  if (!config_.enable_prefix_caching || tokens.empty()) return hit;
  const int bs = config_.block_size;
  // Leave at least the last token to compute.
  const int max_blocks = static_cast<int>((tokens.size() - 1) / bs);
  int32_t parent = -1;
  for (int j = 0; j < max_blocks; ++j) {
    const auto block_tokens = tokens.subspan(j * bs, bs);
    const BlockHash h = Hash(hit.last_hash, block_tokens);
    const auto it = cache_.find(h);
    if (it == cache_.end()) break;
    const Block& b = blocks_[it->second];
    // Exact check: same parent block and same tokens (a hash collision
    // otherwise), so a hit is never wrong.
    if (b.parent != parent ||
        !std::equal(b.tokens.begin(), b.tokens.end(), block_tokens.begin(),
                    block_tokens.end())) {
      break;
    }
    hit.block_ids.push_back(it->second);
    if (b.ref_count == 0) ++hit.num_evictable;
    hit.last_hash = h;
    parent = it->second;
  }
  return hit;
}

int BlockManager::NumCachedPrefixTokens(std::span<const int32_t> tokens) const {
  return static_cast<int>(FindPrefix(tokens).block_ids.size()) *
         config_.block_size;
}

int BlockManager::NumAvailable() const {
  return static_cast<int>(free_.size() + lru_.size());
}

bool BlockManager::CanAllocate(std::span<const int32_t> tokens,
                               int num_slots) const {
  const PrefixHit hit = FindPrefix(tokens);
  const int num_hit = static_cast<int>(hit.block_ids.size());
  const int num_fresh = std::max(NumBlocksForTokens(num_slots) - num_hit, 0);
  return num_fresh <= NumAvailable() - hit.num_evictable;
}

absl::StatusOr<BlockTable> BlockManager::Allocate(
    std::span<const int32_t> tokens, int num_slots) {
  if (num_slots < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Allocate: negative num_slots ", num_slots));
  }
  const PrefixHit hit = FindPrefix(tokens);
  const int num_hit = static_cast<int>(hit.block_ids.size());
  const int num_fresh = std::max(NumBlocksForTokens(num_slots) - num_hit, 0);
  if (num_fresh > NumAvailable() - hit.num_evictable) {
    return absl::ResourceExhaustedError(
        absl::StrCat("Allocate: need ", num_fresh, " fresh KV blocks, ",
                     NumAvailable() - hit.num_evictable, " available"));
  }
  BlockTable table;
  table.manager_ = this;
  ++num_attached_tables_;
  // Take the hits first: they leave the LRU before any eviction can run.
  for (int32_t id : hit.block_ids) {
    Acquire(id);
    table.block_ids_.push_back(id);
  }
  if (num_hit > 0) {
    table.num_committed_blocks_ = num_hit;
    table.last_hash_ = hit.last_hash;
    table.chain_block_ = hit.block_ids.back();
    table.chain_generation_ = blocks_[table.chain_block_].generation;
  }
  for (int i = 0; i < num_fresh; ++i)
    table.block_ids_.push_back(TakeFreshBlock());
  table.num_cached_tokens_ = num_hit * config_.block_size;
  ++counters_.prefix_cache_requests;
  counters_.prefix_cache_query_tokens += static_cast<int64_t>(tokens.size());
  counters_.prefix_cache_hit_tokens += table.num_cached_tokens_;
  return table;
}

bool BlockManager::CanGrow(const BlockTable& table, int num_slots) const {
  return NumBlocksForTokens(num_slots) - table.num_blocks() <= NumAvailable();
}

absl::Status BlockManager::Grow(BlockTable& table, int num_slots) {
  CHECK(table.manager_ == this) << "Grow: table of another manager";
  const int num_fresh = NumBlocksForTokens(num_slots) - table.num_blocks();
  if (num_fresh <= 0) return absl::OkStatus();
  if (num_fresh > NumAvailable()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("Grow: need ", num_fresh, " KV blocks, ", NumAvailable(),
                     " available"));
  }
  for (int i = 0; i < num_fresh; ++i)
    table.block_ids_.push_back(TakeFreshBlock());
  return absl::OkStatus();
}

void BlockManager::Acquire(int32_t block_id) {
  Block& b = blocks_[block_id];
  if (b.ref_count++ == 0) {
    ++num_used_;
    if (b.in_lru) {
      lru_.erase(b.lru_it);
      b.in_lru = false;
    }
  }
}

int32_t BlockManager::TakeFreshBlock() {
  if (free_.empty()) {
    CHECK(!lru_.empty()) << "TakeFreshBlock without capacity check";
    Uncache(lru_.front());  // moves it (and its cached subtree) to free_
  }
  const int32_t id = free_.back();
  free_.pop_back();
  Block& b = blocks_[id];
  CHECK(b.ref_count == 0 && !b.cached) << "free block " << id << " in use";
  b.ref_count = 1;
  ++num_used_;
  return id;
}

void BlockManager::Uncache(int32_t block_id) {
  Block& top = blocks_[block_id];
  if (top.parent >= 0) {
    auto& siblings = blocks_[top.parent].children;
    siblings.erase(std::find(siblings.begin(), siblings.end(), block_id));
  }
  std::vector<int32_t> stack = {block_id};
  while (!stack.empty()) {
    const int32_t id = stack.back();
    stack.pop_back();
    Block& b = blocks_[id];
    stack.insert(stack.end(), b.children.begin(), b.children.end());
    b.children.clear();
    cache_.erase(b.hash);
    b.cached = false;
    b.parent = -1;
    b.tokens.clear();
    ++b.generation;
    ++counters_.num_evicted_blocks;
    if (b.in_lru) {
      lru_.erase(b.lru_it);
      b.in_lru = false;
      free_.push_back(id);
    }
  }
}

void BlockManager::RegisterBlock(int32_t block_id, BlockHash hash,
                                 int32_t parent,
                                 std::span<const int32_t> tokens) {
  Block& b = blocks_[block_id];
  CHECK(!b.cached && b.ref_count > 0) << "register block " << block_id;
  b.cached = true;
  b.hash = hash;
  b.parent = parent;
  b.tokens.assign(tokens.begin(), tokens.end());
  if (parent >= 0) blocks_[parent].children.push_back(block_id);
  cache_.emplace(hash, block_id);
}

void BlockManager::CommitComputedTokens(BlockTable& table,
                                        std::span<const int32_t> tokens,
                                        int num_computed_tokens) {
  CHECK(table.manager_ == this) << "Commit: table of another manager";
  if (!config_.enable_prefix_caching) return;
  const int bs = config_.block_size;
  const int num_full =
      std::min({std::max(num_computed_tokens, 0),
                static_cast<int>(tokens.size()), table.capacity()}) /
      bs;
  for (int j = table.num_committed_blocks_; j < num_full; ++j) {
    table.num_committed_blocks_ = j + 1;
    if (table.chain_broken_) continue;
    int32_t parent = -1;
    if (j > 0) {
      const int32_t p = table.chain_block_;
      if (p < 0 || !blocks_[p].cached ||
          blocks_[p].generation != table.chain_generation_) {
        table.chain_broken_ = true;  // our prefix left the cache
        continue;
      }
      parent = p;
    }
    const auto block_tokens = tokens.subspan(j * bs, bs);
    const BlockHash h = Hash(table.last_hash_, block_tokens);
    table.last_hash_ = h;
    int32_t canonical = table.block_ids_[j];
    const auto it = cache_.find(h);
    if (it == cache_.end()) {
      RegisterBlock(canonical, h, parent, block_tokens);
    } else {
      const Block& s = blocks_[it->second];
      if (s.parent != parent ||
          !std::equal(s.tokens.begin(), s.tokens.end(), block_tokens.begin(),
                      block_tokens.end())) {
        table.chain_broken_ = true;  // hash collision: leave ours uncached
        continue;
      }
      canonical = it->second;  // identical content already cached
    }
    table.chain_block_ = canonical;
    table.chain_generation_ = blocks_[canonical].generation;
  }
}

void BlockManager::Release(BlockTable& table) {
  CHECK(table.manager_ == this) << "Release: table of another manager";
  for (auto it = table.block_ids_.rbegin(); it != table.block_ids_.rend();
       ++it) {
    Block& b = blocks_[*it];
    CHECK(b.ref_count > 0) << "block " << *it << " released twice";
    if (--b.ref_count > 0) continue;
    --num_used_;
    if (b.cached) {
      b.lru_it = lru_.insert(lru_.end(), *it);
      b.in_lru = true;
    } else {
      free_.push_back(*it);
    }
  }
  table.block_ids_.clear();
  table.manager_ = nullptr;
  --num_attached_tables_;
}

BlockManagerStats BlockManager::stats() const {
  BlockManagerStats s = counters_;
  s.num_used_blocks = num_used_;
  s.num_free_blocks = static_cast<int>(free_.size());
  s.num_evictable_blocks = static_cast<int>(lru_.size());
  s.num_cached_blocks = static_cast<int>(cache_.size());
  return s;
}

int BlockManager::RefCount(int32_t block_id) const {
  CHECK(block_id >= 0 && block_id < num_blocks()) << "block " << block_id;
  return blocks_[block_id].ref_count;
}

bool BlockManager::IsCached(int32_t block_id) const {
  CHECK(block_id >= 0 && block_id < num_blocks()) << "block " << block_id;
  return blocks_[block_id].cached;
}

std::optional<BlockHash> BlockManager::CachedHash(int32_t block_id) const {
  if (!IsCached(block_id)) return std::nullopt;
  return blocks_[block_id].hash;
}

}  // namespace infernum::worker
