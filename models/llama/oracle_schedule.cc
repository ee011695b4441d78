#include "models/llama/oracle_schedule.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "common/status.h"

namespace infernum::models {

std::vector<Schedule> StandardSchedules() {
  return {
      {"prefill", 16, false, {0}, false, 0},
      {"decode", 4, false, {1}, true, 1},
      {"chunked", 4, false, {7}, true, 2},
      {"batched_mixed", 4, true, {1, 0, 1, 16, 5}, true, 3},
      {"batched_prefill", 16, true, {0}, false, 0},
  };
}

absl::StatusOr<KvCache*> ScheduleRunner::CacheFor(int block_size) {
  auto it = caches_.find(block_size);
  if (it == caches_.end()) {
    const int num_blocks = 1024 / block_size;  // Room for 1024 tokens.
    ASSIGN_OR_RETURN(
        KvCache cache,
        KvCache::Create(model_.backend(),
                        model_.MakeKvCacheShape(num_blocks, block_size)));
    it = caches_.emplace(block_size, std::move(cache)).first;
  }
  return &it->second;
}

absl::StatusOr<std::vector<std::vector<float>>> ScheduleRunner::Run(
    const std::vector<std::vector<int32_t>>& prompts, const Schedule& s) {
  const int vocab = model_.config().vocab_size;
  std::vector<std::vector<float>> out(prompts.size());
  for (size_t p = 0; p < prompts.size(); ++p) {
    out[p].assign(prompts[p].size() * vocab, 0.0f);
  }
  std::vector<int> all(prompts.size());
  std::iota(all.begin(), all.end(), 0);
  if (s.together) {
    RETURN_IF_ERROR(RunBatch(prompts, all, s, out));
  } else {
    for (int p : all) RETURN_IF_ERROR(RunBatch(prompts, {p}, s, out));
  }
  return out;
}

absl::Status ScheduleRunner::RunBatch(
    const std::vector<std::vector<int32_t>>& prompts,
    const std::vector<int>& seqs, const Schedule& s,
    std::vector<std::vector<float>>& out) {
  ASSIGN_OR_RETURN(KvCache * cache, CacheFor(s.block_size));
  const int bs = s.block_size, vocab = model_.config().vocab_size;
  std::vector<int32_t> perm(cache->num_blocks());
  std::iota(perm.begin(), perm.end(), 0);
  if (s.shuffle_blocks)
    std::shuffle(perm.begin(), perm.end(), std::mt19937(s.seed));
  // Block table rows, and the number of tokens done, per sequence.
  int max_blocks = 0;
  std::vector<std::vector<int32_t>> tables;
  size_t next_block = 0;
  for (int p : seqs) {
    const int n = (static_cast<int>(prompts[p].size()) + bs - 1) / bs;
    if (next_block + n > perm.size()) {
      return absl::ResourceExhaustedError("test cache too small");
    }
    tables.emplace_back(perm.begin() + next_block,
                        perm.begin() + next_block + n);
    next_block += n;
    max_blocks = std::max(max_blocks, n);
  }
  std::vector<int> done(seqs.size(), 0);
  std::vector<float> logits;
  while (true) {
    ForwardBatch b;
    b.query_start_loc = {0};
    b.max_blocks_per_seq = max_blocks;
    std::vector<std::pair<int, int>> rows;  // (prompt, position) per row.
    for (size_t i = 0; i < seqs.size(); ++i) {
      const std::vector<int32_t>& prompt = prompts[seqs[i]];
      const int len = static_cast<int>(prompt.size());
      if (done[i] == len) continue;
      const int c = s.chunk_sizes[i % s.chunk_sizes.size()];
      const int end = c == 0 ? len : std::min(len, done[i] + c);
      for (int pos = done[i]; pos < end; ++pos) {
        b.token_ids.push_back(prompt[pos]);
        b.positions.push_back(pos);
        b.slot_mapping.push_back(tables[i][pos / bs] * bs + pos % bs);
        b.logits_indices.push_back(b.num_tokens() - 1);
        rows.emplace_back(seqs[i], pos);
      }
      b.query_start_loc.push_back(b.num_tokens());
      b.seq_lens.push_back(end);
      std::vector<int32_t> row = tables[i];
      row.resize(max_blocks, 0);
      b.block_tables.insert(b.block_tables.end(), row.begin(), row.end());
      done[i] = end;
    }
    if (b.num_tokens() == 0) return absl::OkStatus();
    RETURN_IF_ERROR(model_.Forward(b, *cache, logits, nullptr));
    for (size_t r = 0; r < rows.size(); ++r) {
      std::copy(logits.begin() + r * vocab, logits.begin() + (r + 1) * vocab,
                out[rows[r].first].begin() + rows[r].second * vocab);
    }
  }
}

}  // namespace infernum::models
