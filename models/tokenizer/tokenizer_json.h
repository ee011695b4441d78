// Fast tokenizer.json reader. A 33 MB tokenizer.json is mostly model.vocab
// and model.merges; building an nlohmann DOM for them takes seconds, so this
// streams the document with nlohmann's SAX parser, collecting those two
// directly into vectors and building a DOM for everything else.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "models/tokenizer/json_util.h"

namespace infernum::models::tokenizer_internal {

struct TokenizerJson {
  // The whole document minus model.vocab and model.merges.
  Json rest;
  bool has_vocab = false;
  bool has_merges = false;
  std::vector<std::pair<std::string, int32_t>> vocab;       // in file order
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
};

// Parses tokenizer.json text. Errors: malformed JSON (with position), a
// vocab entry that is not an integer, a merge that is neither "a b" nor
// ["a", "b"].
absl::StatusOr<TokenizerJson> ParseTokenizerJson(const std::string& text);

// Splits a legacy "a b" merge (exactly one space).
absl::StatusOr<std::pair<std::string, std::string>> SplitMergeString(
    const std::string& s);

}  // namespace infernum::models::tokenizer_internal
