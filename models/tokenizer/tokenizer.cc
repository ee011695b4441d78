#include "models/tokenizer/tokenizer.h"

#include <fstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/status.h"
#include "models/tokenizer/added_vocab.h"
#include "models/tokenizer/bpe.h"
#include "models/tokenizer/decoder.h"
#include "models/tokenizer/json_util.h"
#include "models/tokenizer/normalizer.h"
#include "models/tokenizer/post_processor.h"
#include "models/tokenizer/pre_tokenizer.h"
#include "models/tokenizer/tokenizer_config.h"
#include "models/tokenizer/tokenizer_json.h"
#include "models/tokenizer/unicode.h"

namespace infernum::models {

using tokenizer_internal::AddedVocabulary;
using tokenizer_internal::AV;
using tokenizer_internal::FindField;
using tokenizer_internal::Json;

namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  const std::streamsize size = in.tellg();
  if (size < 0) return absl::DataLossError(absl::StrCat("cannot size ", path));
  std::string data(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(data.data(), size)) {
    return absl::DataLossError(absl::StrCat("error reading ", path));
  }
  return data;
}

bool FileExists(const std::string& path) { return std::ifstream(path).good(); }

// transformers' Llama / Gemma fast tokenizers rebuild their post-processor
// from add_bos_token / add_eos_token, defaulting to BOS only.
bool RebuildsPostProcessor(const std::string& cls) {
  for (const char* name :
       {"LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer",
        "CodeLlamaTokenizerFast", "GemmaTokenizer", "GemmaTokenizerFast"}) {
    if (cls == name) return true;
  }
  return false;
}

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromDirectory(
    const std::string& dir) {
  ASSIGN_OR_RETURN(const std::string tokenizer_json,
                   ReadFile(dir + "/tokenizer.json"));
  std::string config_json;
  if (FileExists(dir + "/tokenizer_config.json")) {
    ASSIGN_OR_RETURN(config_json, ReadFile(dir + "/tokenizer_config.json"));
  }
  ASSIGN_OR_RETURN(auto tok, FromJson(tokenizer_json, config_json));
  if (tok->chat_template_.empty() && FileExists(dir + "/chat_template.jinja")) {
    ASSIGN_OR_RETURN(tok->chat_template_,
                     ReadFile(dir + "/chat_template.jinja"));
  }
  return tok;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(
    const std::string& tokenizer_json,
    const std::string& tokenizer_config_json) {
  ASSIGN_OR_RETURN(tokenizer_internal::TokenizerJson parsed,
                   tokenizer_internal::ParseTokenizerJson(tokenizer_json));
  const Json& j = parsed.rest;
  if (!j.is_object())
    return absl::InvalidArgumentError("tokenizer.json is not a JSON object");
  const Json* model = FindField(j, "model");
  if (model == nullptr || !model->is_object()) {
    return absl::InvalidArgumentError(
        "tokenizer.json: missing \"model\" object");
  }
  const Json* type = FindField(*model, "type");
  if (type != nullptr && !(type->is_string() && *type == "BPE")) {
    return absl::UnimplementedError(
        "tokenizer.json: only BPE models are supported");
  }
  if (!parsed.has_vocab || !parsed.has_merges) {
    return absl::InvalidArgumentError(
        "tokenizer.json: model needs \"vocab\" and \"merges\"");
  }
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  static const Json kNull;
  const auto section = [&](const char* key) -> const Json& {
    const Json* f = FindField(j, key);
    return f == nullptr ? kNull : *f;
  };
  ASSIGN_OR_RETURN(t->normalizer_,
                   tokenizer_internal::MakeNormalizer(section("normalizer")));
  ASSIGN_OR_RETURN(t->pre_tokenizer_, tokenizer_internal::MakePreTokenizer(
                                          section("pre_tokenizer")));
  ASSIGN_OR_RETURN(auto options,
                   tokenizer_internal::BpeModel::ParseOptions(*model));
  ASSIGN_OR_RETURN(t->model_, tokenizer_internal::BpeModel::Create(
                                  std::move(parsed.vocab), parsed.merges,
                                  std::move(options)));
  ASSIGN_OR_RETURN(t->post_processor_, tokenizer_internal::MakePostProcessor(
                                           section("post_processor")));
  ASSIGN_OR_RETURN(t->decoder_,
                   tokenizer_internal::MakeDecoder(section("decoder")));
  ASSIGN_OR_RETURN(auto added_tokens, tokenizer_internal::ParseAddedTokens(
                                          FindField(j, "added_tokens")));
  ASSIGN_OR_RETURN(
      AddedVocabulary added,
      AddedVocabulary::Build(std::move(added_tokens), t->normalizer_.get()));
  t->added_ = std::make_unique<AddedVocabulary>(std::move(added));
  t->vocab_size_ = t->model_->id_limit();
  for (const auto& a : t->added_->tokens())
    t->vocab_size_ = std::max(t->vocab_size_, a.id + 1);
  RETURN_IF_ERROR(t->LoadConfig(tokenizer_config_json));
  return t;
}

absl::Status Tokenizer::LoadConfig(const std::string& config_json) {
  ASSIGN_OR_RETURN(const auto config,
                   tokenizer_internal::ParseTokenizerConfig(config_json));
  const auto resolve =
      [&](const std::optional<std::string>& token) -> std::optional<int32_t> {
    return token.has_value() ? TokenToId(*token) : std::nullopt;
  };
  bos_id_ = resolve(config.bos_token);
  eos_id_ = resolve(config.eos_token);
  pad_id_ = resolve(config.pad_token);
  unk_id_ = resolve(config.unk_token);
  chat_template_ = config.chat_template;
  clean_up_spaces_ = config.clean_up_tokenization_spaces;
  const bool rebuild = RebuildsPostProcessor(config.tokenizer_class) ||
                       config.add_bos_token.has_value() ||
                       config.add_eos_token.has_value();
  if (!rebuild) return absl::OkStatus();
  const bool add_bos = config.add_bos_token.value_or(
      RebuildsPostProcessor(config.tokenizer_class));
  const bool add_eos = config.add_eos_token.value_or(false);
  if ((add_bos && !bos_id_) || (add_eos && !eos_id_)) {
    return absl::InvalidArgumentError(
        "tokenizer_config: add_bos_token/add_eos_token set but the token is "
        "missing");
  }
  std::vector<int32_t> prefix, suffix;
  if (add_bos) prefix.push_back(*bos_id_);
  if (add_eos) suffix.push_back(*eos_id_);
  post_processor_ =
      tokenizer_internal::MakeTemplate(std::move(prefix), std::move(suffix));
  return absl::OkStatus();
}

absl::Status Tokenizer::EncodeSegment(std::string_view text, bool at_text_start,
                                      std::vector<int32_t>* ids) const {
  std::string normalized(text);
  if (normalizer_ != nullptr) {
    ASSIGN_OR_RETURN(normalized, normalizer_->Normalize(text));
  }
  for (const auto& seg : added_->Split(normalized, /*normalized_set=*/true)) {
    if (seg.id >= 0) {
      ids->push_back(seg.id);
      continue;
    }
    std::vector<std::string> pieces{
        normalized.substr(seg.begin, seg.end - seg.begin)};
    if (pre_tokenizer_ != nullptr) {
      pre_tokenizer_->PreTokenize(&pieces, at_text_start && seg.begin == 0);
    }
    for (const std::string& piece : pieces) model_->Tokenize(piece, ids);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(
    std::string_view text, bool add_special_tokens) const {
  if (!tokenizer_internal::IsValidUtf8(text)) {
    return absl::InvalidArgumentError("Encode: text is not valid UTF-8");
  }
  std::vector<int32_t> ids;
  for (const auto& seg : added_->Split(text, /*normalized_set=*/false)) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
      continue;
    }
    RETURN_IF_ERROR(EncodeSegment(text.substr(seg.begin, seg.end - seg.begin),
                                  seg.begin == 0, &ids));
  }
  if (post_processor_ != nullptr)
    post_processor_->Process(&ids, add_special_tokens);
  return ids;
}

absl::StatusOr<std::string> Tokenizer::Decode(absl::Span<const int32_t> ids,
                                              bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const int32_t id : ids) {
    if (const auto* added = added_->FindById(id)) {
      if (!(skip_special_tokens && added->special))
        tokens.push_back(added->decoded);
      continue;
    }
    const std::string* token = model_->IdToToken(id);
    if (token == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("Decode: id ", id, " is outside the vocabulary (size ",
                       vocab_size_, ")"));
    }
    tokens.push_back(*token);
  }
  if (decoder_ == nullptr) return absl::StrJoin(tokens, " ");
  decoder_->DecodeChain(&tokens);
  return absl::StrJoin(tokens, "");
}

int Tokenizer::vocab_size() const { return vocab_size_; }

std::optional<int32_t> Tokenizer::TokenToId(std::string_view token) const {
  if (auto id = added_->TokenToId(token)) return id;
  return model_->TokenToId(token);
}

std::string Tokenizer::IdToToken(int32_t id) const {
  if (const auto* added = added_->FindById(id)) return added->content;
  const std::string* token = model_->IdToToken(id);
  return token == nullptr ? std::string() : *token;
}

bool Tokenizer::IsSpecial(int32_t id) const {
  const auto* added = added_->FindById(id);
  return added != nullptr && added->special;
}

std::string CleanUpTokenizationSpaces(std::string_view text) {
  // Sequential passes, in transformers' order (not one simultaneous pass).
  static constexpr std::pair<const char*, const char*> kRules[] = {
      {" .", "."},     {" ?", "?"},     {" !", "!"},   {" ,", ","},
      {" ' ", "'"},    {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"},
      {" 've", "'ve"}, {" 're", "'re"}};
  std::string out(text);
  for (const auto& [from, to] : kRules)
    out = absl::StrReplaceAll(out, {{from, to}});
  return out;
}

}  // namespace infernum::models
