// Encodes / decodes the parity corpus with Infernum's tokenizer, for the
// parity driver (run_parity.sh) to compare with Hugging Face's output.
//
//   tokenize_corpus <corpus.jsonl> <out_dir> <name>=<tokenizer dir> ...
//
// For each tokenizer writes <out_dir>/<name>.ours.jsonl, one JSON object per
// corpus line: ids, ids_special, decoded / decoded_skip (of ids_special),
// decoded_plain (of ids), decoded_cleanup, and stream_ok / stream_skip_ok
// (whether IncrementalDetokenizer's pieces concatenate to the full decode).
// If <out_dir>/<name>.randids.jsonl exists (id lists written by
// hf_encode.mjs), also writes <name>.ours_rand.jsonl with their decodes.
// Prints load and encode times to stdout. Exit code 1 on any error.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/status.h"
#include "models/tokenizer/incremental_detokenizer.h"
#include "models/tokenizer/tokenizer.h"

namespace infernum {
namespace {

using models::IncrementalDetokenizer;
using models::Tokenizer;
using Json = nlohmann::json;

absl::StatusOr<std::vector<Json>> ReadJsonLines(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot open " + path);
  std::vector<Json> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded())
      return absl::InvalidArgumentError("bad JSON line in " + path);
    out.push_back(std::move(j));
  }
  return out;
}

// Streams `ids` through an IncrementalDetokenizer; true if the pieces
// concatenate to `expected`.
absl::StatusOr<bool> StreamMatches(const Tokenizer& tok,
                                   const std::vector<int32_t>& ids, bool skip,
                                   const std::string& expected) {
  IncrementalDetokenizer detok(tok, skip);
  std::string text;
  for (const int32_t id : ids) {
    ASSIGN_OR_RETURN(const std::string piece, detok.Append(id));
    text += piece;
  }
  ASSIGN_OR_RETURN(const std::string rest, detok.Flush());
  return text + rest == expected;
}

absl::StatusOr<Json> ProcessText(const Tokenizer& tok,
                                 const std::string& text) {
  Json row;
  ASSIGN_OR_RETURN(const std::vector<int32_t> ids, tok.Encode(text, false));
  ASSIGN_OR_RETURN(const std::vector<int32_t> ids_special,
                   tok.Encode(text, true));
  ASSIGN_OR_RETURN(const std::string decoded, tok.Decode(ids_special, false));
  ASSIGN_OR_RETURN(const std::string decoded_skip,
                   tok.Decode(ids_special, true));
  ASSIGN_OR_RETURN(const std::string decoded_plain, tok.Decode(ids, false));
  ASSIGN_OR_RETURN(const bool stream_ok,
                   StreamMatches(tok, ids_special, false, decoded));
  ASSIGN_OR_RETURN(const bool stream_skip_ok,
                   StreamMatches(tok, ids_special, true, decoded_skip));
  row["ids"] = ids;
  row["ids_special"] = ids_special;
  row["decoded"] = decoded;
  row["decoded_skip"] = decoded_skip;
  row["decoded_plain"] = decoded_plain;
  row["decoded_cleanup"] = models::CleanUpTokenizationSpaces(decoded);
  row["stream_ok"] = stream_ok;
  row["stream_skip_ok"] = stream_skip_ok;
  return row;
}

absl::Status WriteLines(const std::string& path,
                        const std::vector<Json>& rows) {
  std::ofstream out(path);
  for (const Json& r : rows)
    out << r.dump(-1, ' ', false, Json::error_handler_t::strict) << "\n";
  return out ? absl::OkStatus() : absl::DataLossError("cannot write " + path);
}

absl::Status DecodeRandom(const Tokenizer& tok, const std::string& out_dir,
                          const std::string& name) {
  const std::string path = out_dir + "/" + name + ".randids.jsonl";
  if (!std::ifstream(path).good()) return absl::OkStatus();
  ASSIGN_OR_RETURN(const std::vector<Json> lines, ReadJsonLines(path));
  std::vector<Json> rows;
  for (const Json& line : lines) {
    const std::vector<int32_t> ids = line.at("ids").get<std::vector<int32_t>>();
    Json row;
    ASSIGN_OR_RETURN(const std::string decoded, tok.Decode(ids, false));
    ASSIGN_OR_RETURN(const std::string decoded_skip, tok.Decode(ids, true));
    ASSIGN_OR_RETURN(const bool stream_ok,
                     StreamMatches(tok, ids, false, decoded));
    row["decoded"] = decoded;
    row["decoded_skip"] = decoded_skip;
    row["stream_ok"] = stream_ok;
    rows.push_back(std::move(row));
  }
  return WriteLines(out_dir + "/" + name + ".ours_rand.jsonl", rows);
}

absl::Status Run(int argc, char** argv) {
  if (argc < 4) {
    return absl::InvalidArgumentError(
        "usage: tokenize_corpus <corpus.jsonl> <out_dir> <name>=<dir> ...");
  }
  ASSIGN_OR_RETURN(const std::vector<Json> corpus, ReadJsonLines(argv[1]));
  const std::string out_dir = argv[2];
  for (int a = 3; a < argc; ++a) {
    const std::string spec = argv[a];
    const size_t eq = spec.find('=');
    if (eq == std::string::npos)
      return absl::InvalidArgumentError("bad spec " + spec);
    const std::string name = spec.substr(0, eq);
    const auto t0 = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(auto tok, Tokenizer::FromDirectory(spec.substr(eq + 1)));
    const auto t1 = std::chrono::steady_clock::now();
    std::vector<Json> rows;
    size_t num_tokens = 0;
    for (const Json& text : corpus) {
      auto row = ProcessText(*tok, text.get<std::string>());
      if (!row.ok()) return Annotate(row.status(), name);
      num_tokens += (*row)["ids"].size();
      rows.push_back(*std::move(row));
    }
    const auto t2 = std::chrono::steady_clock::now();
    RETURN_IF_ERROR(WriteLines(out_dir + "/" + name + ".ours.jsonl", rows));
    RETURN_IF_ERROR(DecodeRandom(*tok, out_dir, name));
    const auto ms = [](auto d) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    };
    std::printf(
        "%-12s load %5lld ms, encode+decode+stream %zu strings (%zu tokens) "
        "%5lld ms\n",
        name.c_str(), static_cast<long long>(ms(t1 - t0)), corpus.size(),
        num_tokens, static_cast<long long>(ms(t2 - t1)));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace infernum

int main(int argc, char** argv) {
  const absl::Status s = infernum::Run(argc, argv);
  if (!s.ok()) {
    std::cerr << "tokenize_corpus: " << s << "\n";
    return 1;
  }
  return 0;
}
