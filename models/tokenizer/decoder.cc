#include "models/tokenizer/decoder.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/status.h"
#include "models/tokenizer/normalizer.h"
#include "models/tokenizer/unicode.h"

namespace infernum::models::tokenizer_internal {
namespace {

// Maps each token's characters back to bytes; a token with any character
// outside the byte-level alphabet (e.g. an added token) keeps its own bytes.
class ByteLevelDecoder : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>* tokens) const override {
    std::string bytes;
    for (const std::string& token : *tokens) {
      std::string mapped;
      bool ok = true;
      size_t pos = 0;
      while (ok && pos < token.size()) {
        const int b = CharToByte(NextCodePoint(token, &pos));
        ok = b >= 0;
        mapped.push_back(static_cast<char>(b));
      }
      bytes += ok ? mapped : token;
    }
    tokens->assign(1, Utf8Lossy(bytes));
  }
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(std::string from, std::string to)
      : from_(std::move(from)), to_(std::move(to)) {}
  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (std::string& t : *tokens) t = absl::StrReplaceAll(t, {{from_, to_}});
  }

 private:
  std::string from_;
  std::string to_;
};

// Parses "<0xAB>" into its byte, or -1.
int ParseByteToken(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  int value = 0;
  for (int k = 3; k < 5; ++k) {
    const char c = t[k];
    int d = -1;
    if (c >= '0' && c <= '9') d = c - '0';
    if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    if (d < 0) return -1;
    value = value * 16 + d;
  }
  return value;
}

// Runs of <0xXX> tokens become their UTF-8 text; a run that is not valid
// UTF-8 becomes one U+FFFD per byte (HF's rule).
class ByteFallbackDecoder : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>* tokens) const override {
    std::vector<std::string> out;
    std::string run;
    size_t run_len = 0;
    const auto flush = [&] {
      if (run_len == 0) return;
      if (IsValidUtf8(run)) {
        out.push_back(run);
      } else {
        for (size_t k = 0; k < run_len; ++k) out.push_back("\xEF\xBF\xBD");
      }
      run.clear();
      run_len = 0;
    };
    for (std::string& t : *tokens) {
      const int b = ParseByteToken(t);
      if (b >= 0) {
        run.push_back(static_cast<char>(b));
        ++run_len;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    *tokens = std::move(out);
  }
};

class FuseDecoder : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>* tokens) const override {
    tokens->assign(1, absl::StrJoin(*tokens, ""));
  }
};

// Removes up to `start` leading and `stop` trailing copies of one character
// from every token.
class StripDecoder : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop)
      : content_(content), start_(start), stop_(stop) {}
  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (std::string& t : *tokens) {
      const CodePoints cps = Decompose(t);
      size_t b = 0;
      while (b < start_ && b < cps.size() && cps.cps[b] == content_) ++b;
      size_t e = cps.size();
      while (cps.size() - e < stop_ && e > b && cps.cps[e - 1] == content_) --e;
      t = t.substr(cps.offsets[b], cps.offsets[e] - cps.offsets[b]);
    }
  }

 private:
  char32_t content_;
  size_t start_;
  size_t stop_;
};

// Replacement character -> space; the first token loses one leading space
// unless prepend_scheme is "never".
class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first)
      : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (size_t i = 0; i < tokens->size(); ++i) {
      std::string& t = (*tokens)[i];
      t = absl::StrReplaceAll(t, {{replacement_, " "}});
      if (i == 0 && strip_first_ && !t.empty() && t[0] == ' ') t.erase(0, 1);
    }
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts)
      : parts_(std::move(parts)) {}
  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (const auto& p : parts_) p->DecodeChain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

absl::StatusOr<std::unique_ptr<Decoder>> MakeStrip(const Json& j) {
  ASSIGN_OR_RETURN(const std::string content,
                   GetString(j, "content", "Strip decoder"));
  if (!IsValidUtf8(content) || Decompose(content).size() != 1) {
    return absl::InvalidArgumentError(
        "Strip decoder: content must be one character");
  }
  const CodePoints cps = Decompose(content);
  ASSIGN_OR_RETURN(const int64_t start, GetInt(j, "start", 0, "Strip decoder"));
  ASSIGN_OR_RETURN(const int64_t stop, GetInt(j, "stop", 0, "Strip decoder"));
  if (start < 0 || stop < 0)
    return absl::InvalidArgumentError("Strip decoder: negative count");
  return std::make_unique<StripDecoder>(cps.cps[0], start, stop);
}

absl::StatusOr<std::unique_ptr<Decoder>> MakeSequence(const Json& j) {
  const Json* list = FindField(j, "decoders");
  if (list == nullptr || !list->is_array()) {
    return absl::InvalidArgumentError(
        "Sequence decoder: missing \"decoders\" array");
  }
  std::vector<std::unique_ptr<Decoder>> parts;
  for (const Json& item : *list) {
    ASSIGN_OR_RETURN(auto part, MakeDecoder(item));
    if (part != nullptr) parts.push_back(std::move(part));
  }
  return std::make_unique<SequenceDecoder>(std::move(parts));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Decoder>> MakeDecoder(const Json& j) {
  if (j.is_null()) return std::unique_ptr<Decoder>();
  ASSIGN_OR_RETURN(const std::string type, GetString(j, "type", "decoder"));
  if (type == "Sequence") return MakeSequence(j);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") return MakeStrip(j);
  if (type == "Replace") {
    ASSIGN_OR_RETURN(std::string from, GetStringPattern(j, "Replace decoder"));
    ASSIGN_OR_RETURN(std::string to,
                     GetString(j, "content", "Replace decoder"));
    return std::make_unique<ReplaceDecoder>(std::move(from), std::move(to));
  }
  if (type == "Metaspace") {
    ASSIGN_OR_RETURN(std::string replacement,
                     GetString(j, "replacement", "Metaspace decoder"));
    bool strip_first = true;
    if (const Json* s = FindField(j, "prepend_scheme");
        s != nullptr && s->is_string()) {
      strip_first = s->get<std::string>() != "never";
    } else {
      ASSIGN_OR_RETURN(strip_first, GetBool(j, "add_prefix_space", true,
                                            "Metaspace decoder"));
    }
    return std::make_unique<MetaspaceDecoder>(std::move(replacement),
                                              strip_first);
  }
  return absl::UnimplementedError(
      absl::StrCat("unsupported decoder type: ", type));
}

}  // namespace infernum::models::tokenizer_internal
