#include "models/tokenizer/post_processor.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace infernum::models::tokenizer_internal {
namespace {

class TemplatePostProcessor : public PostProcessor {
 public:
  TemplatePostProcessor(std::vector<int32_t> prefix,
                        std::vector<int32_t> suffix)
      : prefix_(std::move(prefix)), suffix_(std::move(suffix)) {}
  void Process(std::vector<int32_t>* ids,
               bool add_special_tokens) const override {
    if (!add_special_tokens) return;
    ids->insert(ids->begin(), prefix_.begin(), prefix_.end());
    ids->insert(ids->end(), suffix_.begin(), suffix_.end());
  }

 private:
  std::vector<int32_t> prefix_;
  std::vector<int32_t> suffix_;
};

class NoOpPostProcessor : public PostProcessor {
 public:
  void Process(std::vector<int32_t>*, bool) const override {}
};

class SequencePostProcessor : public PostProcessor {
 public:
  explicit SequencePostProcessor(
      std::vector<std::unique_ptr<PostProcessor>> parts)
      : parts_(std::move(parts)) {}
  void Process(std::vector<int32_t>* ids,
               bool add_special_tokens) const override {
    for (const auto& p : parts_) p->Process(ids, add_special_tokens);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

// Ids of a template's special token `name`, from "special_tokens".
absl::StatusOr<std::vector<int32_t>> SpecialIds(const Json& j,
                                                const std::string& name) {
  const Json* specials = FindField(j, "special_tokens");
  const Json* entry =
      specials == nullptr ? nullptr : FindField(*specials, name);
  const Json* ids = entry == nullptr ? nullptr : FindField(*entry, "ids");
  if (ids == nullptr || !ids->is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TemplateProcessing: special token \"", name, "\" has no ids"));
  }
  std::vector<int32_t> out;
  for (const Json& id : *ids) {
    if (!id.is_number_integer()) {
      return absl::InvalidArgumentError(
          "TemplateProcessing: non-integer special id");
    }
    out.push_back(id.get<int32_t>());
  }
  return out;
}

absl::StatusOr<std::unique_ptr<PostProcessor>> MakeTemplateFromJson(
    const Json& j) {
  const Json* single = FindField(j, "single");
  if (single == nullptr || !single->is_array()) {
    return absl::InvalidArgumentError(
        "TemplateProcessing: missing \"single\" array");
  }
  std::vector<int32_t> prefix, suffix;
  bool seen_sequence = false;
  for (const Json& item : *single) {
    if (const Json* seq = FindField(item, "Sequence")) {
      ASSIGN_OR_RETURN(const std::string id,
                       GetString(*seq, "id", "TemplateProcessing"));
      if (id != "A" || seen_sequence) {
        return absl::InvalidArgumentError(
            "TemplateProcessing: single template needs one $A");
      }
      seen_sequence = true;
    } else if (const Json* special = FindField(item, "SpecialToken")) {
      ASSIGN_OR_RETURN(const std::string name,
                       GetString(*special, "id", "TemplateProcessing"));
      ASSIGN_OR_RETURN(std::vector<int32_t> ids, SpecialIds(j, name));
      auto& dst = seen_sequence ? suffix : prefix;
      dst.insert(dst.end(), ids.begin(), ids.end());
    } else {
      return absl::InvalidArgumentError(
          "TemplateProcessing: unknown template item");
    }
  }
  if (!seen_sequence)
    return absl::InvalidArgumentError("TemplateProcessing: no $A");
  return MakeTemplate(std::move(prefix), std::move(suffix));
}

// RobertaProcessing / BertProcessing: "cls": ["<s>", 0], "sep": ["</s>", 2].
absl::StatusOr<std::unique_ptr<PostProcessor>> MakeClsSep(const Json& j) {
  const Json* cls = FindField(j, "cls");
  const Json* sep = FindField(j, "sep");
  const auto ok = [](const Json* p) {
    return p != nullptr && p->is_array() && p->size() == 2 &&
           (*p)[1].is_number_integer();
  };
  if (!ok(cls) || !ok(sep)) {
    return absl::InvalidArgumentError(
        "Roberta/BertProcessing: bad \"cls\" or \"sep\"");
  }
  return MakeTemplate({(*cls)[1].get<int32_t>()}, {(*sep)[1].get<int32_t>()});
}

}  // namespace

std::unique_ptr<PostProcessor> MakeTemplate(std::vector<int32_t> prefix,
                                            std::vector<int32_t> suffix) {
  return std::make_unique<TemplatePostProcessor>(std::move(prefix),
                                                 std::move(suffix));
}

absl::StatusOr<std::unique_ptr<PostProcessor>> MakePostProcessor(
    const Json& j) {
  if (j.is_null()) return std::unique_ptr<PostProcessor>();
  ASSIGN_OR_RETURN(const std::string type,
                   GetString(j, "type", "post_processor"));
  if (type == "TemplateProcessing") return MakeTemplateFromJson(j);
  if (type == "RobertaProcessing" || type == "BertProcessing")
    return MakeClsSep(j);
  if (type == "ByteLevel") return std::make_unique<NoOpPostProcessor>();
  if (type == "Sequence") {
    const Json* list = FindField(j, "processors");
    if (list == nullptr || !list->is_array()) {
      return absl::InvalidArgumentError(
          "Sequence post_processor: missing \"processors\"");
    }
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (const Json& item : *list) {
      ASSIGN_OR_RETURN(auto part, MakePostProcessor(item));
      if (part != nullptr) parts.push_back(std::move(part));
    }
    return std::make_unique<SequencePostProcessor>(std::move(parts));
  }
  return absl::UnimplementedError(
      absl::StrCat("unsupported post_processor type: ", type));
}

}  // namespace infernum::models::tokenizer_internal
