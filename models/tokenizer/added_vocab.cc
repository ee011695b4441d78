#include "models/tokenizer/added_vocab.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "models/tokenizer/unicode.h"

namespace infernum::models::tokenizer_internal {
namespace {

// Start of the character that ends at s[end) (end > 0, valid UTF-8).
size_t PrevCharStart(std::string_view s, size_t end) {
  size_t b = end - 1;
  while (b > 0 && (static_cast<uint8_t>(s[b]) & 0xC0) == 0x80) --b;
  return b;
}

bool EndsWithWordChar(std::string_view s) {
  if (s.empty()) return false;
  size_t b = PrevCharStart(s, s.size());
  return (ClassOf(NextCodePoint(s, &b)) & kWord) != 0;
}

bool StartsWithWordChar(std::string_view s) {
  if (s.empty()) return false;
  size_t pos = 0;
  return (ClassOf(NextCodePoint(s, &pos)) & kWord) != 0;
}

// Offset where the run of White_Space characters ending s ends begins.
size_t TrailingSpaceStart(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t b = PrevCharStart(s, end);
    const size_t start = b;
    if ((ClassOf(NextCodePoint(s, &b)) & kWhiteSpace) == 0) break;
    end = start;
  }
  return end;
}

// Length of the run of White_Space characters that starts s.
size_t LeadingSpaceLength(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    size_t next = pos;
    if ((ClassOf(NextCodePoint(s, &next)) & kWhiteSpace) == 0) break;
    pos = next;
  }
  return pos;
}

}  // namespace

absl::StatusOr<std::vector<AddedToken>> ParseAddedTokens(const Json* j) {
  std::vector<AddedToken> out;
  if (j == nullptr || j->is_null()) return out;
  if (!j->is_array())
    return absl::InvalidArgumentError("\"added_tokens\" is not an array");
  for (const Json& t : *j) {
    AddedToken a;
    ASSIGN_OR_RETURN(const int64_t id, GetInt(t, "id", -1, "added token"));
    if (id < 0 || id >= (1 << 30)) {
      return absl::InvalidArgumentError("added token: missing or bad \"id\"");
    }
    a.id = static_cast<int32_t>(id);
    ASSIGN_OR_RETURN(a.content, GetString(t, "content", "added token"));
    if (a.content.empty())
      return absl::InvalidArgumentError("added token: empty content");
    ASSIGN_OR_RETURN(a.single_word,
                     GetBool(t, "single_word", false, "added token"));
    ASSIGN_OR_RETURN(a.lstrip, GetBool(t, "lstrip", false, "added token"));
    ASSIGN_OR_RETURN(a.rstrip, GetBool(t, "rstrip", false, "added token"));
    ASSIGN_OR_RETURN(a.special, GetBool(t, "special", false, "added token"));
    ASSIGN_OR_RETURN(a.normalized,
                     GetBool(t, "normalized", !a.special, "added token"));
    out.push_back(std::move(a));
  }
  return out;
}

void AddedVocabulary::Trie::Insert(std::string_view s, int32_t token_index) {
  int32_t node = 0;
  for (const char c : s) {
    const uint64_t key =
        (static_cast<uint64_t>(node) << 8) | static_cast<uint8_t>(c);
    auto [it, inserted] =
        edges.try_emplace(key, static_cast<int32_t>(terminal.size()));
    if (inserted) terminal.push_back(-1);
    node = it->second;
  }
  terminal[node] = token_index;
}

std::pair<int32_t, size_t> AddedVocabulary::Trie::Longest(std::string_view text,
                                                          size_t pos) const {
  std::pair<int32_t, size_t> best{-1, 0};
  int32_t node = 0;
  for (size_t j = pos; j < text.size(); ++j) {
    const uint64_t key =
        (static_cast<uint64_t>(node) << 8) | static_cast<uint8_t>(text[j]);
    const auto it = edges.find(key);
    if (it == edges.end()) break;
    node = it->second;
    if (terminal[node] >= 0) best = {terminal[node], j + 1};
  }
  return best;
}

absl::StatusOr<AddedVocabulary> AddedVocabulary::Build(
    std::vector<AddedToken> tokens, const Normalizer* normalizer) {
  AddedVocabulary v;
  v.tokens_ = std::move(tokens);
  for (size_t i = 0; i < v.tokens_.size(); ++i) {
    AddedToken& t = v.tokens_[i];
    t.decoded = t.content;
    if (!IsValidUtf8(t.content)) {
      return absl::InvalidArgumentError(
          "added token content is not valid UTF-8");
    }
    v.by_id_[t.id] = i;
    v.by_content_[t.content] = t.id;
    if (t.normalized && normalizer != nullptr) {
      ASSIGN_OR_RETURN(const std::string n, normalizer->Normalize(t.content));
      if (!n.empty()) v.normalized_trie_.Insert(n, static_cast<int32_t>(i));
      t.decoded = n;
    } else if (t.normalized) {
      v.normalized_trie_.Insert(t.content, static_cast<int32_t>(i));
    } else {
      v.raw_trie_.Insert(t.content, static_cast<int32_t>(i));
    }
  }
  return v;
}

std::vector<AddedVocabulary::Segment> AddedVocabulary::Split(
    std::string_view text, bool normalized_set) const {
  const Trie& trie = normalized_set ? normalized_trie_ : raw_trie_;
  std::vector<Segment> out;
  size_t start_offset = 0;
  size_t i = 0;
  while (i < text.size()) {
    const auto [index, match_end] = trie.Longest(text, i);
    if (index < 0) {
      ++i;
      continue;
    }
    const AddedToken& tok = tokens_[index];
    size_t start = i;
    size_t stop = match_end;
    i = match_end;  // HF resumes after a match even when it is rejected.
    if (tok.single_word && (EndsWithWordChar(text.substr(0, start)) ||
                            StartsWithWordChar(text.substr(stop)))) {
      continue;
    }
    if (tok.lstrip)
      start = std::max(TrailingSpaceStart(text.substr(0, start)), start_offset);
    if (tok.rstrip) stop += LeadingSpaceLength(text.substr(stop));
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, tok.id});
    start_offset = stop;
    i = std::max(i, stop);
  }
  if (start_offset < text.size())
    out.push_back({start_offset, text.size(), -1});
  return out;
}

const AddedToken* AddedVocabulary::FindById(int32_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

std::optional<int32_t> AddedVocabulary::TokenToId(
    std::string_view content) const {
  const auto it = by_content_.find(AV(content));
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

}  // namespace infernum::models::tokenizer_internal
