#include "cli/bench_device_model.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "common/status.h"
#include "models/kv_cache.h"

namespace infernum::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The prefill of prompt_len tokens of one sequence whose blocks are
// 0, 1, 2, ... (enough for `total` tokens), logits for the last row.
models::ForwardBatch PrefillBatch(int prompt_len, int total, int block_size,
                                  int vocab) {
  models::ForwardBatch b;
  b.max_blocks_per_seq = (total + block_size - 1) / block_size;
  for (int j = 0; j < b.max_blocks_per_seq; ++j) b.block_tables.push_back(j);
  for (int i = 0; i < prompt_len; ++i) {
    b.token_ids.push_back(static_cast<int32_t>((i * 7919LL + 13) % vocab));
    b.positions.push_back(i);
    b.slot_mapping.push_back(i);
  }
  b.query_start_loc = {0, prompt_len};
  b.seq_lens = {prompt_len};
  b.logits_indices = {prompt_len - 1};
  return b;
}

// Turns `b` into the decode step at position `pos` feeding `token`.
void ToDecodeStep(int pos, int32_t token, models::ForwardBatch& b) {
  b.token_ids = {token};
  b.positions = {pos};
  b.slot_mapping = {pos};
  b.query_start_loc = {0, 1};
  b.seq_lens = {pos + 1};
  b.logits_indices = {0};
}

}  // namespace

absl::StatusOr<Batch1Result> RunBatch1(models::LlamaModel& model,
                                       const Batch1Options& o) {
  const models::ModelConfig& config = model.config();
  if (o.prompt_len < 1 || o.decode_len < 1 || o.reps < 1 || o.block_size < 1) {
    return absl::InvalidArgumentError(
        "batch-1 run: prompt_len, decode_len, reps and block_size must be "
        "positive");
  }
  const int total = o.prompt_len + o.decode_len;
  if (total > config.max_position_embeddings) {
    return absl::InvalidArgumentError(
        "batch-1 run: prompt + decode tokens exceed the model's context");
  }
  const int num_blocks = (total + o.block_size - 1) / o.block_size;
  ASSIGN_OR_RETURN(
      models::KvCache cache,
      models::KvCache::Create(
          model.backend(), model.MakeKvCacheShape(num_blocks, o.block_size)));
  models::DecodeGraphOptions graphs;
  graphs.enabled = o.cuda_graphs;
  graphs.max_batch_size = 1;
  graphs.max_context = total;
  graphs.block_size = o.block_size;
  RETURN_IF_ERROR(model.ConfigureDecodeGraphs(graphs));
  const int64_t padded_before = model.num_padded_decode_steps();
  const int vocab = config.vocab_size;
  Batch1Result best;
  std::vector<float> logits;
  for (int r = 0; r < o.reps; ++r) {
    models::ForwardBatch b =
        PrefillBatch(o.prompt_len, total, o.block_size, vocab);
    Clock::time_point t0 = Clock::now();
    RETURN_IF_ERROR(model.Forward(b, cache, logits, nullptr));
    const double prefill = Since(t0);
    t0 = Clock::now();
    for (int i = 0; i < o.decode_len; ++i) {
      const auto next =
          std::max_element(logits.begin(), logits.begin() + vocab);
      ToDecodeStep(o.prompt_len + i,
                   static_cast<int32_t>(next - logits.begin()), b);
      RETURN_IF_ERROR(model.Forward(b, cache, logits, nullptr));
    }
    const double decode = Since(t0);
    if (r == 0 || prefill < best.prefill_s) best.prefill_s = prefill;
    if (r == 0 || decode < best.decode_s) best.decode_s = decode;
  }
  best.num_decode_graphs = model.num_decode_graphs();
  best.graph_decode_steps = model.num_padded_decode_steps() - padded_before;
  graphs.enabled = false;  // Drops the graphs.
  RETURN_IF_ERROR(model.ConfigureDecodeGraphs(graphs));
  best.prefill_tok_s = o.prompt_len / std::max(best.prefill_s, 1e-12);
  best.decode_tok_s = o.decode_len / std::max(best.decode_s, 1e-12);
  return best;
}

}  // namespace infernum::cli
