// Byte-pair-encoding model (tokenizer.json "model": {"type": "BPE"}).
//
// Covers both layouts in use: SentencePiece-style (byte_fallback, unk,
// fuse_unk) and GPT-2 byte-level (words arrive already mapped to the
// byte-level alphabet). Merges may be "a b" strings or ["a", "b"] pairs.
// Merging follows HF's algorithm exactly: a priority queue ordered by (merge
// rank, position), with stale entries skipped.
//
// Thread-safe: Tokenize is const and may run concurrently (the word cache
// has its own lock).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "models/tokenizer/json_util.h"

namespace infernum::models::tokenizer_internal {

struct BpeOptions {
  std::optional<std::string> unk_token;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
  std::string continuing_subword_prefix;  // "" = none
  std::string end_of_word_suffix;         // "" = none
};

class BpeModel {
 public:
  // Reads the options (unk_token, fuse_unk, byte_fallback, ignore_merges,
  // continuing_subword_prefix, end_of_word_suffix) of a "model" object.
  static absl::StatusOr<BpeOptions> ParseOptions(const Json& model);

  // Parses the "model" object. Errors: missing vocab/merges, a merge whose
  // parts or result are not in the vocab, duplicate ids, unk not in vocab.
  static absl::StatusOr<std::unique_ptr<BpeModel>> FromJson(const Json& model);

  // Builds a model directly (tests). `merges` are (left, right) pairs in rank
  // order; the same validation as FromJson applies.
  static absl::StatusOr<std::unique_ptr<BpeModel>> Create(
      std::vector<std::pair<std::string, int32_t>> vocab,
      const std::vector<std::pair<std::string, std::string>>& merges,
      BpeOptions options);

  // Appends the ids for one pre-tokenized word (valid UTF-8) to *ids.
  void Tokenize(std::string_view word, std::vector<int32_t>* ids) const;

  std::optional<int32_t> TokenToId(std::string_view token) const;
  // The token string of `id`, or nullptr if the model has no such id.
  const std::string* IdToToken(int32_t id) const;
  // One past the largest id in the vocab.
  int32_t id_limit() const { return static_cast<int32_t>(id_to_token_.size()); }

 private:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  explicit BpeModel(BpeOptions options) : options_(std::move(options)) {}
  absl::Status AddMerge(std::string_view a, std::string_view b, int32_t rank);
  // Initial symbols of `word` (chars, byte fallback, unk) before merging.
  void InitialSymbols(std::string_view word,
                      std::vector<int32_t>* symbols) const;
  void MergeWord(std::string_view word, std::vector<int32_t>* out) const;

  static uint64_t PairKey(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) |
           static_cast<uint32_t>(b);
  }

  BpeOptions options_;
  std::optional<int32_t> unk_id_;
  absl::flat_hash_map<std::string, int32_t> token_to_id_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> id_present_;
  absl::flat_hash_map<uint64_t, Merge> merges_;
  std::vector<int32_t> byte_ids_;  // <0xXX> ids, -1 when absent

  static constexpr size_t kMaxCachedWordBytes = 256;
  static constexpr size_t kMaxCacheEntries = 20000;
  mutable absl::Mutex cache_mu_;
  mutable absl::flat_hash_map<std::string, std::vector<int32_t>> cache_
      ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace infernum::models::tokenizer_internal
