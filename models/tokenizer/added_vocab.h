// Added tokens (tokenizer.json "added_tokens"): special and user tokens that
// are matched in the text before the model runs, as HF's AddedVocabulary
// does: leftmost-longest matching, two sets (tokens with normalized=false
// match the raw text, normalized=true ones match the normalized text), and
// the single_word / lstrip / rstrip options.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "models/tokenizer/normalizer.h"

namespace infernum::models::tokenizer_internal {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
  // What Decode prints: HF decodes a normalized token as its normalized
  // content (filled in by AddedVocabulary::Build).
  std::string decoded;
};

// Parses the "added_tokens" array (absent or null = none).
absl::StatusOr<std::vector<AddedToken>> ParseAddedTokens(const Json* j);

class AddedVocabulary {
 public:
  // A piece of the text: an added token (id >= 0) or plain text (id == -1),
  // as [begin, end) byte offsets.
  struct Segment {
    size_t begin;
    size_t end;
    int32_t id;
  };

  // `normalizer` (may be null) gives the normalized form of the contents of
  // normalized tokens; it is only used during construction.
  static absl::StatusOr<AddedVocabulary> Build(std::vector<AddedToken> tokens,
                                               const Normalizer* normalizer);

  // Splits `text` with the raw set (normalized_set=false) or the normalized
  // set. Segments cover the text in order; plain segments are never empty.
  std::vector<Segment> Split(std::string_view text, bool normalized_set) const;

  const AddedToken* FindById(int32_t id) const;
  std::optional<int32_t> TokenToId(std::string_view content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  // Byte trie; edges keyed by (node << 8 | byte).
  struct Trie {
    absl::flat_hash_map<uint64_t, int32_t> edges;
    std::vector<int32_t> terminal{-1};  // token index per node, or -1
    void Insert(std::string_view s, int32_t token_index);
    // Longest token matching at text[pos]: (token index, end) or (-1, 0).
    std::pair<int32_t, size_t> Longest(std::string_view text, size_t pos) const;
  };

  std::vector<AddedToken> tokens_;
  absl::flat_hash_map<int32_t, size_t> by_id_;
  absl::flat_hash_map<std::string, int32_t> by_content_;
  Trie raw_trie_;
  Trie normalized_trie_;
};

}  // namespace infernum::models::tokenizer_internal
