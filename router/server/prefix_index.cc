#include "router/server/prefix_index.h"

#include <algorithm>
#include <span>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "common/logging.h"

namespace infernum::router {
namespace {

std::vector<BlockHash> PromptHashes(absl::Span<const int32_t> prompt,
                                    int block_size) {
  if (block_size <= 0) return {};
  return worker::HashFullBlocks(
      std::span<const int32_t>(prompt.data(), prompt.size()), block_size);
}

}  // namespace

PrefixIndex::PrefixIndex(int64_t max_blocks) : max_blocks_(max_blocks) {
  CHECK(max_blocks_ >= 1) << "PrefixIndex needs max_blocks >= 1";
}

int PrefixIndex::MatchPrefix(absl::Span<const BlockHash> hashes) const {
  int n = 0;
  for (BlockHash h : hashes) {
    if (!where_.contains(h)) break;
    ++n;
  }
  return n;
}

void PrefixIndex::Touch(BlockHash hash) {
  auto it = where_.find(hash);
  if (it != where_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.push_front(hash);
  where_.emplace(hash, lru_.begin());
  if (static_cast<int64_t>(lru_.size()) > max_blocks_) {
    where_.erase(lru_.back());
    lru_.pop_back();
  }
}

void PrefixIndex::Insert(absl::Span<const BlockHash> hashes) {
  const size_t n = std::min(hashes.size(), static_cast<size_t>(max_blocks_));
  for (size_t i = n; i-- > 0;) Touch(hashes[i]);
}

namespace {

PrefixAwareConfig AtLeastOneBlock(PrefixAwareConfig config) {
  config.max_blocks_per_worker =
      std::max<int64_t>(1, config.max_blocks_per_worker);
  return config;
}

}  // namespace

PrefixAwarePolicy::PrefixAwarePolicy(PrefixAwareConfig config)
    : config_(AtLeastOneBlock(config)) {}

bool PrefixAwarePolicy::Imbalanced(
    absl::Span<const WorkerCandidate> candidates) const {
  double lo = LoadScore(candidates[0]), hi = lo;
  for (const WorkerCandidate& c : candidates) {
    lo = std::min(lo, LoadScore(c));
    hi = std::max(hi, LoadScore(c));
  }
  return hi - lo > config_.balance_abs_threshold &&
         hi > config_.balance_rel_threshold * lo;
}

size_t PrefixAwarePolicy::Pick(const PickRequest& request,
                               absl::Span<const WorkerCandidate> candidates) {
  // Hash once per distinct block size (normally one), outside the lock.
  std::map<int, std::vector<BlockHash>> hashes;
  for (const WorkerCandidate& c : candidates) {
    if (c.block_size > 0 && !hashes.contains(c.block_size)) {
      hashes[c.block_size] =
          PromptHashes(request.prompt_token_ids, c.block_size);
    }
  }
  auto hashes_of =
      [&](const WorkerCandidate& c) -> absl::Span<const BlockHash> {
    auto it = hashes.find(c.block_size);
    return it == hashes.end() ? absl::Span<const BlockHash>() : it->second;
  };
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t rotate = rotate_++;
  size_t chosen;
  if (Imbalanced(candidates)) {
    chosen = LeastLoaded(candidates, rotate);
  } else {
    std::vector<int> matched(candidates.size(), 0);
    for (size_t i = 0; i < candidates.size(); ++i) {
      auto it = indexes_.find(candidates[i].worker);
      if (it != indexes_.end()) {
        matched[i] = it->second.MatchPrefix(hashes_of(candidates[i]));
      }
    }
    const int best = *std::max_element(matched.begin(), matched.end());
    absl::InlinedVector<bool, 16> eligible(candidates.size());
    for (size_t i = 0; i < candidates.size(); ++i) {
      eligible[i] = matched[i] == best;
    }
    chosen = LeastLoaded(candidates, rotate, eligible);
  }
  const absl::Span<const BlockHash> record = hashes_of(candidates[chosen]);
  if (!record.empty()) {
    indexes_
        .try_emplace(candidates[chosen].worker, config_.max_blocks_per_worker)
        .first->second.Insert(record);
  }
  return chosen;
}

void PrefixAwarePolicy::ForgetWorker(int worker) {
  std::lock_guard<std::mutex> lock(mu_);
  indexes_.erase(worker);
}

int PrefixAwarePolicy::MatchedBlocks(int worker,
                                     absl::Span<const int32_t> prompt,
                                     int block_size) const {
  const std::vector<BlockHash> h = PromptHashes(prompt, block_size);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = indexes_.find(worker);
  return it == indexes_.end() ? 0 : it->second.MatchPrefix(h);
}

int64_t PrefixAwarePolicy::IndexSize(int worker) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = indexes_.find(worker);
  return it == indexes_.end() ? 0 : it->second.size();
}

}  // namespace infernum::router
