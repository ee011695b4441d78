#include "models/llama/step_inputs.h"

#include <algorithm>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace infernum::models {
namespace {

absl::Status CheckSize(std::string_view field, size_t actual, size_t expected) {
  if (actual == expected) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "ForwardBatch.", absl::string_view(field.data(), field.size()), " has ",
      actual, " entries, expected ", expected));
}

// Every value in [lo, hi).
absl::Status CheckRange(std::string_view field, const std::vector<int32_t>& v,
                        int64_t lo, int64_t hi) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] < lo || v[i] >= hi) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ForwardBatch.", absl::string_view(field.data(), field.size()), "[",
          i, "] = ", v[i], " is outside [", lo, ", ", hi, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSequences(const ForwardBatch& b, const KvCache& cache) {
  const int num_seqs = b.num_seqs();
  if (auto st =
          CheckSize("query_start_loc", b.query_start_loc.size(), num_seqs + 1);
      !st.ok()) {
    return st;
  }
  if (b.query_start_loc.front() != 0 ||
      b.query_start_loc.back() != b.num_tokens()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ForwardBatch.query_start_loc must run from 0 to num_tokens (",
        b.num_tokens(), ")"));
  }
  if (b.max_blocks_per_seq < 0) {
    return absl::InvalidArgumentError("ForwardBatch.max_blocks_per_seq < 0");
  }
  const int64_t max_len =
      static_cast<int64_t>(b.max_blocks_per_seq) * cache.block_size();
  for (int s = 0; s < num_seqs; ++s) {
    const int64_t qlen = b.query_start_loc[s + 1] - b.query_start_loc[s];
    if (qlen < 0 || qlen > b.seq_lens[s] || b.seq_lens[s] > max_len) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ForwardBatch sequence ", s, ": query_len ", qlen, ", seq_len ",
          b.seq_lens[s], ", block table capacity ", max_len,
          " (need 0 <= query_len <= seq_len <= capacity)"));
    }
  }
  if (auto st = CheckSize("block_tables", b.block_tables.size(),
                          static_cast<size_t>(num_seqs) * b.max_blocks_per_seq);
      !st.ok()) {
    return st;
  }
  return CheckRange("block_tables", b.block_tables, 0, cache.num_blocks());
}

}  // namespace

absl::Status ValidateForwardBatch(const ForwardBatch& b, int vocab_size,
                                  const KvCache& cache) {
  const size_t n = b.token_ids.size();
  if (n == 0) return absl::InvalidArgumentError("ForwardBatch has no tokens");
  if (b.num_seqs() == 0) {
    return absl::InvalidArgumentError("ForwardBatch has no sequences");
  }
  if (auto st = CheckSize("positions", b.positions.size(), n); !st.ok()) {
    return st;
  }
  if (auto st = CheckSize("slot_mapping", b.slot_mapping.size(), n); !st.ok()) {
    return st;
  }
  if (auto st = CheckRange("token_ids", b.token_ids, 0, vocab_size); !st.ok()) {
    return st;
  }
  if (auto st = CheckRange("positions", b.positions, 0, INT32_MAX); !st.ok()) {
    return st;
  }
  if (auto st =
          CheckRange("slot_mapping", b.slot_mapping, -1, cache.num_slots());
      !st.ok()) {
    return st;
  }
  if (auto st = CheckRange("logits_indices", b.logits_indices, 0, n);
      !st.ok()) {
    return st;
  }
  return CheckSequences(b, cache);
}

void PackStepInputs(const ForwardBatch& b, PackedStepInputs* out) {
  std::vector<int32_t>& d = out->data;
  d.clear();
  auto append = [&d](const std::vector<int32_t>& v) {
    const size_t offset = d.size();
    d.insert(d.end(), v.begin(), v.end());
    return offset;
  };
  out->token_ids_offset = append(b.token_ids);
  out->positions_offset = append(b.positions);
  out->slot_mapping_offset = append(b.slot_mapping);
  out->block_tables_offset = append(b.block_tables);
  out->query_start_loc_offset = append(b.query_start_loc);
  out->seq_lens_offset = append(b.seq_lens);
  out->logits_indices_offset = append(b.logits_indices);
  out->max_query_len = 0;
  for (int s = 0; s < b.num_seqs(); ++s) {
    out->max_query_len = std::max(
        out->max_query_len, b.query_start_loc[s + 1] - b.query_start_loc[s]);
  }
  out->max_seq_len = *std::max_element(b.seq_lens.begin(), b.seq_lens.end());
}

}  // namespace infernum::models
