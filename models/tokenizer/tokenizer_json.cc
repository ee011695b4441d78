#include "models/tokenizer/tokenizer_json.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace infernum::models::tokenizer_internal {
namespace {

// SAX handler: DOM for everything but model.vocab / model.merges.
class Handler : public nlohmann::json_sax<Json> {
 public:
  explicit Handler(TokenizerJson* out) : out_(out) {}
  const std::string& error() const { return error_; }

  bool null() override { return Value(Json(nullptr)); }
  bool boolean(bool v) override { return Value(Json(v)); }
  bool number_integer(number_integer_t v) override { return Integer(v); }
  bool number_unsigned(number_unsigned_t v) override {
    return Integer(static_cast<number_integer_t>(v));
  }
  bool number_float(number_float_t v, const string_t&) override {
    return Value(Json(v));
  }
  bool binary(binary_t&) override { return Fail("unexpected binary value"); }
  bool string(string_t& v) override {
    if (mode_ == Mode::kMerges) return MergeString(v);
    if (mode_ == Mode::kVocab) return Fail("model.vocab: id is a string");
    return Value(Json(std::move(v)));
  }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool start_object(std::size_t) override {
    if (mode_ != Mode::kNone)
      return Fail("model.vocab/merges: unexpected object");
    if (AtModelField("vocab")) {
      mode_ = Mode::kVocab;
      out_->has_vocab = true;
      return true;
    }
    return Open(Json::object());
  }
  bool end_object() override {
    if (mode_ == Mode::kVocab) {
      mode_ = Mode::kNone;
      return true;
    }
    return Close();
  }
  bool start_array(std::size_t) override {
    if (mode_ == Mode::kMerges) {
      if (merge_depth_ != 0) return Fail("model.merges: nested too deep");
      merge_depth_ = 1;
      parts_.clear();
      return true;
    }
    if (mode_ == Mode::kVocab) return Fail("model.vocab: unexpected array");
    if (AtModelField("merges")) {
      mode_ = Mode::kMerges;
      out_->has_merges = true;
      return true;
    }
    return Open(Json::array());
  }
  bool end_array() override {
    if (mode_ != Mode::kMerges) return Close();
    if (merge_depth_ == 0) {
      mode_ = Mode::kNone;
      return true;
    }
    merge_depth_ = 0;
    if (parts_.size() != 2) return Fail("model.merges: entry is not a pair");
    out_->merges.emplace_back(std::move(parts_[0]), std::move(parts_[1]));
    return true;
  }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& e) override {
    error_ = absl::StrCat("malformed tokenizer.json at byte ", position, ": ",
                          e.what());
    return false;
  }

 private:
  enum class Mode { kNone, kVocab, kMerges };

  bool Fail(const std::string& message) {
    error_ = absl::StrCat("tokenizer.json: ", message);
    return false;
  }
  // True when the value about to start is root["model"][field].
  bool AtModelField(const char* field) const {
    return stack_.size() == 2 && keys_[1] == "model" &&
           stack_[1]->is_object() && key_ == field;
  }
  Json* Insert(Json v) {
    if (stack_.empty()) {
      out_->rest = std::move(v);
      return &out_->rest;
    }
    Json* parent = stack_.back();
    if (parent->is_object()) return &((*parent)[key_] = std::move(v));
    parent->push_back(std::move(v));
    return &parent->back();
  }
  bool Value(Json v) {
    if (mode_ != Mode::kNone)
      return Fail("model.vocab/merges: unexpected value");
    Insert(std::move(v));
    return true;
  }
  bool Integer(int64_t v) {
    if (mode_ == Mode::kVocab) {
      if (v < 0 || v >= (1 << 30))
        return Fail(absl::StrCat("model.vocab: bad id ", v));
      out_->vocab.emplace_back(std::move(key_), static_cast<int32_t>(v));
      return true;
    }
    return Value(Json(v));
  }
  bool Open(Json container) {
    const std::string key =
        !stack_.empty() && stack_.back()->is_object() ? key_ : "";
    stack_.push_back(Insert(std::move(container)));
    keys_.push_back(key);
    return true;
  }
  bool Close() {
    stack_.pop_back();
    keys_.pop_back();
    return true;
  }
  bool MergeString(std::string& s) {
    if (merge_depth_ == 1) {
      parts_.push_back(std::move(s));
      return true;
    }
    auto pair = SplitMergeString(s);
    if (!pair.ok()) return Fail(std::string(pair.status().message()));
    out_->merges.push_back(*std::move(pair));
    return true;
  }

  TokenizerJson* out_;
  std::vector<Json*> stack_;
  std::vector<std::string> keys_;
  std::string key_;
  Mode mode_ = Mode::kNone;
  int merge_depth_ = 0;
  std::vector<std::string> parts_;
  std::string error_;
};

}  // namespace

absl::StatusOr<std::pair<std::string, std::string>> SplitMergeString(
    const std::string& s) {
  const size_t space = s.find(' ');
  if (space == std::string::npos ||
      s.find(' ', space + 1) != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("BPE merge \"", s, "\" is not \"a b\""));
  }
  return std::make_pair(s.substr(0, space), s.substr(space + 1));
}

absl::StatusOr<TokenizerJson> ParseTokenizerJson(const std::string& text) {
  TokenizerJson out;
  Handler handler(&out);
  bool ok = false;
  try {
    ok = Json::sax_parse(text, &handler);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed tokenizer.json: ", e.what()));
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        handler.error().empty() ? "malformed tokenizer.json" : handler.error());
  }
  return out;
}

}  // namespace infernum::models::tokenizer_internal
