// BlockManager::CheckConsistency: a full O(num_blocks) audit used by tests.
#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "worker/engine/block_manager.h"

namespace infernum::worker {

absl::Status BlockManager::CheckConsistency() const {
  auto fail = [](auto&&... parts) {
    return absl::InternalError(absl::StrCat("BlockManager: ", parts...));
  };
  const int n = num_blocks();
  std::vector<int> seen(n, 0);  // 1 free list, 2 lru
  for (int32_t id : free_) {
    if (id < 0 || id >= n || seen[id] != 0) return fail("free list entry ", id);
    seen[id] = 1;
    const Block& b = blocks_[id];
    if (b.ref_count != 0 || b.cached || b.in_lru) return fail("free ", id);
  }
  for (int32_t id : lru_) {
    if (id < 0 || id >= n || seen[id] != 0) return fail("lru entry ", id);
    seen[id] = 2;
    const Block& b = blocks_[id];
    if (b.ref_count != 0 || !b.cached || !b.in_lru || *b.lru_it != id) {
      return fail("evictable ", id);
    }
  }
  int num_used = 0, num_cached = 0;
  for (int32_t id = 0; id < n; ++id) {
    const Block& b = blocks_[id];
    if (b.ref_count < 0) return fail("negative ref_count of ", id);
    if (b.ref_count > 0) {
      ++num_used;
      if (seen[id] != 0) return fail("used block ", id, " in a free list");
    } else if (seen[id] == 0) {
      return fail("block ", id, " leaked: ref 0, in no list");
    }
    if (!b.cached) {
      if (!b.children.empty() || !b.tokens.empty()) return fail("stale ", id);
      continue;
    }
    ++num_cached;
    const auto it = cache_.find(b.hash);
    if (it == cache_.end() || it->second != id) return fail("unmapped ", id);
    if (static_cast<int>(b.tokens.size()) != config_.block_size) {
      return fail("cached block ", id, " has ", b.tokens.size(), " tokens");
    }
    if (b.parent >= 0) {
      const Block& p = blocks_[b.parent];
      if (!p.cached ||
          std::count(p.children.begin(), p.children.end(), id) != 1)
        return fail("cached block ", id, " has a bad parent link");
    }
    for (int32_t c : b.children) {
      if (c < 0 || c >= n || !blocks_[c].cached || blocks_[c].parent != id)
        return fail("bad child ", c, " of ", id);
    }
  }
  if (num_used != num_used_)
    return fail("used count ", num_used_, " != ", num_used);
  if (num_cached != static_cast<int>(cache_.size()))
    return fail("cache map size ", cache_.size(), " != ", num_cached);
  if (num_attached_tables_ < 0) return fail("negative table count");
  return absl::OkStatus();
}

}  // namespace infernum::worker
