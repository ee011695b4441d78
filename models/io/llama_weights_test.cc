#include "models/io/llama_weights.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "models/io/test_util.h"

namespace infernum::models {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::RawTensor;

// h=8, I=12, 1 layer, 2 heads of 4, 1 KV head, vocab 16.
ModelConfig TinyConfig() {
  ModelConfig c;
  c.model_type = "llama";
  c.hidden_size = 8;
  c.intermediate_size = 12;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 4;
  c.vocab_size = 16;
  return c;
}

// The tiny model's tensors, listed by hand from the HF Llama layout.
std::vector<RawTensor> TinyTensors() {
  auto t = [](const std::string& name, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return RawTensor{name, "BF16", shape,
                     std::string(static_cast<size_t>(n) * 2, '\0')};
  };
  return {t("model.embed_tokens.weight", {16, 8}),
          t("model.layers.0.input_layernorm.weight", {8}),
          t("model.layers.0.post_attention_layernorm.weight", {8}),
          t("model.layers.0.self_attn.q_proj.weight", {8, 8}),
          t("model.layers.0.self_attn.k_proj.weight", {4, 8}),
          t("model.layers.0.self_attn.v_proj.weight", {4, 8}),
          t("model.layers.0.self_attn.o_proj.weight", {8, 8}),
          t("model.layers.0.mlp.gate_proj.weight", {12, 8}),
          t("model.layers.0.mlp.up_proj.weight", {12, 8}),
          t("model.layers.0.mlp.down_proj.weight", {8, 12}),
          t("model.norm.weight", {8}),
          t("lm_head.weight", {16, 8})};
}

absl::Status Validate(const ModelConfig& c,
                      const std::vector<RawTensor>& tensors) {
  const std::string dir = testing::MakeTempDir();
  testing::WriteFile(dir + "/model.safetensors",
                     testing::SerializeSafetensors(tensors));
  absl::StatusOr<std::unique_ptr<WeightSource>> w = WeightSource::Open(dir);
  if (!w.ok()) return w.status();
  return ValidateLlamaWeights(c, **w);
}

std::vector<RawTensor> Without(std::vector<RawTensor> v,
                               const std::string& name) {
  std::erase_if(v, [&](const RawTensor& t) { return t.name == name; });
  return v;
}

TEST(LlamaWeightsTest, Stories260KIsValid) {
  absl::StatusOr<ModelConfig> c = LoadModelConfig(testing::Stories260KDir());
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<std::unique_ptr<WeightSource>> w =
      WeightSource::Open(testing::Stories260KDir());
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_TRUE(ValidateLlamaWeights(*c, **w).ok())
      << ValidateLlamaWeights(*c, **w);
  // The README's count: 47 tensors, tied head with no lm_head.weight.
  EXPECT_EQ(ExpectedLlamaTensors(*c).size(), 47u);
  std::set<std::string> expected;
  for (const ExpectedTensor& e : ExpectedLlamaTensors(*c))
    expected.insert(e.name);
  const std::vector<std::string> names = (*w)->names();
  EXPECT_EQ(expected, std::set<std::string>(names.begin(), names.end()));
}

TEST(LlamaWeightsTest, HandWrittenLayoutIsValid) {
  EXPECT_TRUE(Validate(TinyConfig(), TinyTensors()).ok())
      << Validate(TinyConfig(), TinyTensors());
  std::vector<RawTensor> extra = TinyTensors();
  extra.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq",
                   "F32",
                   {2},
                   std::string(8, 0)});
  EXPECT_TRUE(Validate(TinyConfig(), extra).ok());
}

TEST(LlamaWeightsTest, MissingTensorsAreListed) {
  absl::Status s =
      Validate(TinyConfig(), Without(Without(TinyTensors(), "lm_head.weight"),
                                     "model.layers.0.mlp.up_proj.weight"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      s.message(),
      HasSubstr("missing tensor 'lm_head.weight' (expected shape [16, 8])"));
  EXPECT_THAT(s.message(), HasSubstr("'model.layers.0.mlp.up_proj.weight'"));
  EXPECT_THAT(s.message(), HasSubstr("2 problems"));
}

TEST(LlamaWeightsTest, WrongShapeNamesTensorAndShapes) {
  std::vector<RawTensor> t = TinyTensors();
  t[4].shape = {8, 4};  // k_proj transposed.
  absl::Status s = Validate(TinyConfig(), t);
  EXPECT_THAT(s.message(), HasSubstr("'model.layers.0.self_attn.k_proj.weight' "
                                     "has shape [8, 4], expected [4, 8]"));
}

TEST(LlamaWeightsTest, TiedEmbeddings) {
  ModelConfig c = TinyConfig();
  c.tie_word_embeddings = true;
  EXPECT_TRUE(Validate(c, Without(TinyTensors(), "lm_head.weight")).ok());
  EXPECT_TRUE(
      Validate(c, TinyTensors()).ok());  // A present, well-shaped head is fine.
  std::vector<RawTensor> t = TinyTensors();
  t.back().shape = {8, 16};
  EXPECT_THAT(Validate(c, t).message(), HasSubstr("lm_head.weight"));
  c.tie_word_embeddings = false;
  EXPECT_THAT(Validate(c, Without(TinyTensors(), "lm_head.weight")).message(),
              HasSubstr("lm_head.weight"));
}

TEST(LlamaWeightsTest, Qwen3NeedsQkNorms) {
  ModelConfig c = TinyConfig();
  c.qk_norm = true;
  absl::Status s = Validate(c, TinyTensors());
  EXPECT_THAT(s.message(), HasSubstr("model.layers.0.self_attn.q_norm.weight"));
  EXPECT_THAT(s.message(), HasSubstr("model.layers.0.self_attn.k_norm.weight"));
  std::vector<RawTensor> t = TinyTensors();
  t.push_back({"model.layers.0.self_attn.q_norm.weight",
               "F32",
               {4},
               std::string(16, 0)});
  t.push_back({"model.layers.0.self_attn.k_norm.weight",
               "F32",
               {4},
               std::string(16, 0)});
  EXPECT_TRUE(Validate(c, t).ok()) << Validate(c, t);
}

TEST(LlamaWeightsTest, UnsupportedDTypeIsReported) {
  std::vector<RawTensor> t = TinyTensors();
  t[1].dtype = "F64";
  t[1].bytes = std::string(64, '\0');
  absl::Status s = Validate(TinyConfig(), t);
  EXPECT_THAT(
      s.message(),
      HasSubstr("'model.layers.0.input_layernorm.weight' has dtype F64"));
  EXPECT_THAT(s.message(), Not(HasSubstr("lm_head")));
}

}  // namespace
}  // namespace infernum::models
