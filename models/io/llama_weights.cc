#include "models/io/llama_weights.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace infernum::models {

std::vector<ExpectedTensor> ExpectedLlamaTensors(const ModelConfig& c) {
  const int64_t h = c.hidden_size, inter = c.intermediate_size, hd = c.head_dim;
  const int64_t q = c.q_size(), kv = c.kv_size(), v = c.vocab_size;
  std::vector<ExpectedTensor> out;
  out.push_back({"model.embed_tokens.weight", {v, h}});
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = absl::StrCat("model.layers.", i, ".");
    out.push_back({p + "input_layernorm.weight", {h}});
    out.push_back({p + "post_attention_layernorm.weight", {h}});
    out.push_back({p + "self_attn.q_proj.weight", {q, h}});
    out.push_back({p + "self_attn.k_proj.weight", {kv, h}});
    out.push_back({p + "self_attn.v_proj.weight", {kv, h}});
    out.push_back({p + "self_attn.o_proj.weight", {h, q}});
    if (c.qk_norm) {
      out.push_back({p + "self_attn.q_norm.weight", {hd}});
      out.push_back({p + "self_attn.k_norm.weight", {hd}});
    }
    out.push_back({p + "mlp.gate_proj.weight", {inter, h}});
    out.push_back({p + "mlp.up_proj.weight", {inter, h}});
    out.push_back({p + "mlp.down_proj.weight", {h, inter}});
  }
  out.push_back({"model.norm.weight", {h}});
  if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {v, h}});
  return out;
}

absl::Status ValidateLlamaWeights(const ModelConfig& config,
                                  const WeightSource& weights) {
  std::vector<ExpectedTensor> expected = ExpectedLlamaTensors(config);
  if (config.tie_word_embeddings && weights.Contains("lm_head.weight")) {
    expected.push_back(
        {"lm_head.weight",
         {config.vocab_size, static_cast<int64_t>(config.hidden_size)}});
  }
  constexpr size_t kMaxListed = 10;
  std::vector<std::string> problems;
  size_t num_problems = 0;
  for (const ExpectedTensor& e : expected) {
    absl::StatusOr<const TensorInfo*> t = weights.GetChecked(e.name, e.shape);
    if (t.ok()) continue;
    if (++num_problems > kMaxListed) continue;
    if (absl::IsNotFound(t.status())) {
      problems.push_back(absl::StrCat("missing tensor '", e.name,
                                      "' (expected shape ",
                                      ShapeToString(e.shape), ")"));
    } else {
      problems.emplace_back(t.status().message());
    }
  }
  if (num_problems == 0) return absl::OkStatus();
  if (num_problems > kMaxListed) {
    problems.push_back(
        absl::StrCat("... and ", num_problems - kMaxListed, " more"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      weights.path(), " does not match the ", config.model_type, " layout (",
      num_problems, " problem", num_problems == 1 ? "" : "s",
      "): ", absl::StrJoin(problems, "; ")));
}

}  // namespace infernum::models
