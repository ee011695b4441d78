#include "models/tokenizer/bpe.h"

#include <queue>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "models/tokenizer/tokenizer_json.h"
#include "models/tokenizer/unicode.h"

namespace infernum::models::tokenizer_internal {
namespace {

absl::StatusOr<std::string> OptionalString(const Json& j,
                                           std::string_view key) {
  const Json* f = FindField(j, key);
  if (f == nullptr || f->is_null()) return std::string();
  if (!f->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("BPE model: field \"", AV(key), "\" is not a string"));
  }
  return f->get<std::string>();
}

}  // namespace

absl::StatusOr<BpeOptions> BpeModel::ParseOptions(const Json& model) {
  BpeOptions o;
  ASSIGN_OR_RETURN(std::string unk, OptionalString(model, "unk_token"));
  if (!unk.empty()) o.unk_token = std::move(unk);
  ASSIGN_OR_RETURN(o.fuse_unk, GetBool(model, "fuse_unk", false, "BPE model"));
  ASSIGN_OR_RETURN(o.byte_fallback,
                   GetBool(model, "byte_fallback", false, "BPE model"));
  ASSIGN_OR_RETURN(o.ignore_merges,
                   GetBool(model, "ignore_merges", false, "BPE model"));
  ASSIGN_OR_RETURN(o.continuing_subword_prefix,
                   OptionalString(model, "continuing_subword_prefix"));
  ASSIGN_OR_RETURN(o.end_of_word_suffix,
                   OptionalString(model, "end_of_word_suffix"));
  if (const Json* d = FindField(model, "dropout");
      d != nullptr && !d->is_null() &&
      !(d->is_number() && d->get<double>() == 0.0)) {
    return absl::UnimplementedError("BPE model: dropout is not supported");
  }
  return o;
}

namespace {

absl::StatusOr<std::pair<std::string, std::string>> ParseMerge(const Json& m) {
  if (m.is_string()) return SplitMergeString(m.get<std::string>());
  if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
    return std::make_pair(m[0].get<std::string>(), m[1].get<std::string>());
  }
  return absl::InvalidArgumentError(
      "BPE merge is neither \"a b\" nor [\"a\", \"b\"]");
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::FromJson(
    const Json& model) {
  ASSIGN_OR_RETURN(BpeOptions options, ParseOptions(model));
  const Json* vocab = FindField(model, "vocab");
  if (vocab == nullptr || !vocab->is_object()) {
    return absl::InvalidArgumentError("BPE model: missing \"vocab\" object");
  }
  const Json* merges = FindField(model, "merges");
  if (merges == nullptr || !merges->is_array()) {
    return absl::InvalidArgumentError("BPE model: missing \"merges\" array");
  }
  std::vector<std::pair<std::string, int32_t>> entries;
  entries.reserve(vocab->size());
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it.value().is_number_integer()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "BPE vocab entry \"", it.key(), "\" has a non-integer id"));
    }
    entries.emplace_back(it.key(), it.value().get<int64_t>());
  }
  std::vector<std::pair<std::string, std::string>> pairs;
  pairs.reserve(merges->size());
  for (const Json& m : *merges) {
    ASSIGN_OR_RETURN(auto pair, ParseMerge(m));
    pairs.push_back(std::move(pair));
  }
  return Create(std::move(entries), pairs, std::move(options));
}

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::Create(
    std::vector<std::pair<std::string, int32_t>> vocab,
    const std::vector<std::pair<std::string, std::string>>& merges,
    BpeOptions options) {
  std::unique_ptr<BpeModel> m(new BpeModel(std::move(options)));
  int32_t max_id = -1;
  for (const auto& [token, id] : vocab) {
    if (id < 0 || id >= (1 << 30)) {
      return absl::InvalidArgumentError(
          absl::StrCat("BPE vocab id out of range: ", id));
    }
    max_id = std::max(max_id, id);
  }
  m->id_to_token_.resize(max_id + 1);
  m->id_present_.resize(max_id + 1, false);
  m->token_to_id_.reserve(vocab.size());
  for (auto& [token, id] : vocab) {
    if (m->id_present_[id]) {
      return absl::InvalidArgumentError(
          absl::StrCat("BPE vocab: duplicate id ", id));
    }
    m->id_present_[id] = true;
    m->id_to_token_[id] = token;
    m->token_to_id_.emplace(std::move(token), id);
  }
  if (m->options_.unk_token.has_value()) {
    m->unk_id_ = m->TokenToId(*m->options_.unk_token);
    if (!m->unk_id_.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "BPE unk_token \"", *m->options_.unk_token, "\" not in vocab"));
    }
  }
  m->byte_ids_.assign(256, -1);
  for (int b = 0; b < 256; ++b) {
    m->byte_ids_[b] = m->TokenToId(absl::StrFormat("<0x%02X>", b)).value_or(-1);
  }
  m->merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    RETURN_IF_ERROR(m->AddMerge(merges[rank].first, merges[rank].second,
                                static_cast<int32_t>(rank)));
  }
  return m;
}

absl::Status BpeModel::AddMerge(std::string_view a, std::string_view b,
                                int32_t rank) {
  const std::optional<int32_t> a_id = TokenToId(a);
  const std::optional<int32_t> b_id = TokenToId(b);
  if (!a_id || !b_id) {
    return absl::InvalidArgumentError(absl::StrCat(
        "BPE merge \"", AV(a), " ", AV(b), "\": part not in vocab"));
  }
  std::string_view right = b;
  const std::string& prefix = options_.continuing_subword_prefix;
  if (!prefix.empty() && right.substr(0, prefix.size()) == prefix) {
    right.remove_prefix(prefix.size());
  }
  const std::string merged = absl::StrCat(AV(a), AV(right));
  const std::optional<int32_t> new_id = TokenToId(merged);
  if (!new_id) {
    return absl::InvalidArgumentError(
        absl::StrCat("BPE merge result \"", merged, "\" not in vocab"));
  }
  merges_[PairKey(*a_id, *b_id)] =
      Merge{rank, *new_id};  // later duplicates win, as in HF
  return absl::OkStatus();
}

std::optional<int32_t> BpeModel::TokenToId(std::string_view token) const {
  const auto it = token_to_id_.find(AV(token));
  if (it == token_to_id_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::IdToToken(int32_t id) const {
  if (id < 0 || id >= id_limit() || !id_present_[id]) return nullptr;
  return &id_to_token_[id];
}

void BpeModel::InitialSymbols(std::string_view word,
                              std::vector<int32_t>* symbols) const {
  const std::string& prefix = options_.continuing_subword_prefix;
  const std::string& suffix = options_.end_of_word_suffix;
  std::optional<int32_t> pending_unk;
  size_t pos = 0;
  std::string key;
  while (pos < word.size()) {
    const size_t start = pos;
    NextCodePoint(word, &pos);
    key.assign(word.substr(start, pos - start));
    if (start > 0 && !prefix.empty()) key.insert(0, prefix);
    if (pos == word.size() && !suffix.empty()) key += suffix;
    if (const std::optional<int32_t> id = TokenToId(key)) {
      if (pending_unk)
        symbols->push_back(*std::exchange(pending_unk, std::nullopt));
      symbols->push_back(*id);
      continue;
    }
    if (options_.byte_fallback) {
      bool all = true;
      for (const char c : key)
        all = all && byte_ids_[static_cast<uint8_t>(c)] >= 0;
      if (all) {
        for (const char c : key)
          symbols->push_back(byte_ids_[static_cast<uint8_t>(c)]);
        continue;  // HF leaves a pending unk pending here.
      }
    }
    if (unk_id_) {
      if (pending_unk && !options_.fuse_unk) symbols->push_back(*pending_unk);
      pending_unk = unk_id_;
    }
  }
  if (pending_unk) symbols->push_back(*pending_unk);
}

void BpeModel::MergeWord(std::string_view word,
                         std::vector<int32_t>* out) const {
  std::vector<int32_t> ids;
  InitialSymbols(word, &ids);
  const int32_t n = static_cast<int32_t>(ids.size());
  std::vector<int32_t> prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (int32_t i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Entry {
    int32_t rank, pos, new_id;
  };
  const auto later = [](const Entry& x, const Entry& y) {
    return x.rank != y.rank ? x.rank > y.rank : x.pos > y.pos;
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(later)> queue(later);
  const auto push_pair = [&](int32_t left) {
    const auto it = merges_.find(PairKey(ids[left], ids[next[left]]));
    if (it != merges_.end())
      queue.push({it->second.rank, left, it->second.new_id});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push_pair(i);
  while (!queue.empty()) {
    const Entry top = queue.top();
    queue.pop();
    const int32_t right = next[top.pos];
    if (!alive[top.pos] || right == -1) continue;
    const auto it = merges_.find(PairKey(ids[top.pos], ids[right]));
    if (it == merges_.end() || it->second.new_id != top.new_id)
      continue;  // stale
    ids[top.pos] = top.new_id;
    alive[right] = false;
    next[top.pos] = next[right];
    if (next[right] != -1) prev[next[right]] = top.pos;
    if (prev[top.pos] != -1) push_pair(prev[top.pos]);
    if (next[top.pos] != -1) push_pair(top.pos);
  }
  for (int32_t i = 0; i < n; ++i) {
    if (alive[i]) out->push_back(ids[i]);
  }
}

void BpeModel::Tokenize(std::string_view word,
                        std::vector<int32_t>* ids) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (const std::optional<int32_t> id = TokenToId(word)) {
      ids->push_back(*id);
      return;
    }
  }
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  if (cacheable) {
    absl::MutexLock lock(&cache_mu_);
    const auto it = cache_.find(AV(word));
    if (it != cache_.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> result;
  MergeWord(word, &result);
  ids->insert(ids->end(), result.begin(), result.end());
  if (cacheable) {
    absl::MutexLock lock(&cache_mu_);
    if (cache_.size() < kMaxCacheEntries)
      cache_.emplace(std::string(word), std::move(result));
  }
}

}  // namespace infernum::models::tokenizer_internal
