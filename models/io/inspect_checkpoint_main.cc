// inspect_checkpoint DIR: loads DIR's config.json (+ generation_config.json)
// and safetensors weights, prints the config and every tensor, and checks
// the Llama layout. Exit status 0 only if everything loads and validates.
#include <cstdio>
#include <string>

#include "absl/strings/str_join.h"
#include "models/io/llama_weights.h"
#include "models/io/model_config.h"
#include "models/io/safetensors.h"

namespace infernum::models {
namespace {

int Run(const std::string& dir) {
  absl::StatusOr<ModelConfig> config = LoadModelConfig(dir);
  if (!config.ok()) {
    std::fprintf(stderr, "config: %s\n", config.status().ToString().c_str());
    return 1;
  }
  const ModelConfig& c = *config;
  std::printf(
      "model_type=%s hidden=%d intermediate=%d layers=%d heads=%d kv_heads=%d "
      "head_dim=%d "
      "vocab=%d max_pos=%d eps=%g theta=%g rope=%s tie=%d qk_norm=%d dtype=%s "
      "bos=%d "
      "eos=[%s]\n",
      c.model_type.c_str(), c.hidden_size, c.intermediate_size,
      c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads,
      c.head_dim, c.vocab_size, c.max_position_embeddings, c.rms_norm_eps,
      c.rope_theta, c.rope_scaling.type.c_str(), c.tie_word_embeddings,
      c.qk_norm, c.torch_dtype.c_str(), c.bos_token_id.value_or(-1),
      absl::StrJoin(c.eos_token_ids, ",").c_str());
  absl::StatusOr<std::unique_ptr<WeightSource>> weights =
      WeightSource::Open(dir);
  if (!weights.ok()) {
    std::fprintf(stderr, "weights: %s\n", weights.status().ToString().c_str());
    return 1;
  }
  std::printf("%zu tensors in %zu file(s)\n", (*weights)->names().size(),
              (*weights)->num_files());
  for (const std::string& name : (*weights)->names()) {
    absl::StatusOr<const TensorInfo*> t = (*weights)->Get(name);
    if (!t.ok()) {
      std::printf("  %s: %s\n", name.c_str(), t.status().ToString().c_str());
      continue;
    }
    std::printf("  %s %s %s\n", name.c_str(), (*t)->dtype_name.c_str(),
                ShapeToString((*t)->shape).c_str());
  }
  absl::Status valid = ValidateLlamaWeights(c, **weights);
  std::printf("llama layout: %s\n", valid.ToString().c_str());
  return valid.ok() ? 0 : 1;
}

}  // namespace
}  // namespace infernum::models

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CHECKPOINT_DIR\n", argv[0]);
    return 2;
  }
  return infernum::models::Run(argv[1]);
}
