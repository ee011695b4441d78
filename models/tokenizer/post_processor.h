// tokenizer.json "post_processor" section for single sequences:
// TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel (no effect
// on ids) and Sequence.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "models/tokenizer/json_util.h"

namespace infernum::models::tokenizer_internal {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Adds special tokens around *ids when add_special_tokens is true.
  virtual void Process(std::vector<int32_t>* ids,
                       bool add_special_tokens) const = 0;
};

// Builds a post-processor from its JSON; null JSON yields nullptr (none).
absl::StatusOr<std::unique_ptr<PostProcessor>> MakePostProcessor(const Json& j);

// A template "prefix $A suffix" (what transformers' update_post_processor
// builds from add_bos_token / add_eos_token).
std::unique_ptr<PostProcessor> MakeTemplate(std::vector<int32_t> prefix,
                                            std::vector<int32_t> suffix);

}  // namespace infernum::models::tokenizer_internal
