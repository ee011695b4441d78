#include "models/io/model_config.h"

#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "models/io/test_util.h"

namespace infernum::models {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> ConfigFiles() {
  const std::string dir = testing::SharedDir() + "/models/configs";
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name.size() > 5 && name.substr(name.size() - 5) == ".json")
        out.push_back(dir + "/" + name);
    }
    closedir(d);
  }
  return out;
}

// A small valid llama config; tests patch fields into it.
nlohmann::json BaseConfig() {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"hidden_size", 64},
          {"intermediate_size", 172},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 8},
          {"num_key_value_heads", 4},
          {"vocab_size", 512}};
}

absl::StatusOr<ModelConfig> Parse(const nlohmann::json& cfg,
                                  const std::string& gen = "") {
  return ParseModelConfig(cfg.dump(), gen);
}

// Every real config parses, and each field matches the JSON read directly.
TEST(ModelConfigTest, ParsesEveryRealConfig) {
  const std::vector<std::string> files = ConfigFiles();
  ASSERT_GE(files.size(), 5u);
  for (const std::string& path : files) {
    SCOPED_TRACE(path);
    const std::string text = ReadAll(path);
    const nlohmann::json j = nlohmann::json::parse(text);
    absl::StatusOr<ModelConfig> c = ParseModelConfig(text, "");
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->model_type, j["model_type"].get<std::string>());
    EXPECT_EQ(c->hidden_size, j["hidden_size"].get<int>());
    EXPECT_EQ(c->intermediate_size, j["intermediate_size"].get<int>());
    EXPECT_EQ(c->num_hidden_layers, j["num_hidden_layers"].get<int>());
    EXPECT_EQ(c->num_attention_heads, j["num_attention_heads"].get<int>());
    EXPECT_EQ(c->num_key_value_heads, j["num_key_value_heads"].get<int>());
    EXPECT_EQ(c->head_dim, j["head_dim"].get<int>());
    EXPECT_EQ(c->vocab_size, j["vocab_size"].get<int>());
    EXPECT_EQ(c->max_position_embeddings,
              j["max_position_embeddings"].get<int>());
    EXPECT_FLOAT_EQ(c->rms_norm_eps, j["rms_norm_eps"].get<float>());
    EXPECT_FLOAT_EQ(c->rope_theta, j["rope_theta"].get<float>());
    EXPECT_EQ(c->tie_word_embeddings, j["tie_word_embeddings"].get<bool>());
    EXPECT_EQ(c->torch_dtype, j["torch_dtype"].get<std::string>());
    EXPECT_EQ(c->bos_token_id, j["bos_token_id"].get<int>());
    std::vector<int32_t> eos;
    if (j["eos_token_id"].is_array()) {
      eos = j["eos_token_id"].get<std::vector<int32_t>>();
    } else {
      eos = {j["eos_token_id"].get<int32_t>()};
    }
    EXPECT_EQ(c->eos_token_ids, eos);
    EXPECT_EQ(c->qk_norm, c->model_type == "qwen3");
    const bool has_scaling =
        j.contains("rope_scaling") && !j["rope_scaling"].is_null();
    EXPECT_EQ(c->rope_scaling.type, has_scaling ? "llama3" : "default");
  }
}

TEST(ModelConfigTest, Llama31RopeScalingAndEosList) {
  const std::string text =
      ReadAll(testing::SharedDir() + "/models/configs/llama-3.1-8b.json");
  absl::StatusOr<ModelConfig> c =
      ParseModelConfig(text, R"({"eos_token_id": [128001, 128009]})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.type, "llama3");
  EXPECT_FLOAT_EQ(c->rope_scaling.factor, 8.0f);
  EXPECT_FLOAT_EQ(c->rope_scaling.low_freq_factor, 1.0f);
  EXPECT_FLOAT_EQ(c->rope_scaling.high_freq_factor, 4.0f);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_FLOAT_EQ(c->rope_theta, 500000.0f);
  EXPECT_THAT(c->eos_token_ids, ElementsAre(128001, 128008, 128009));
  EXPECT_EQ(c->q_size(), 4096);
  EXPECT_EQ(c->kv_size(), 1024);
}

TEST(ModelConfigTest, Qwen3HeadDimIsNotHiddenOverHeads) {
  const std::string text =
      ReadAll(testing::SharedDir() + "/models/configs/qwen3-0.6b.json");
  absl::StatusOr<ModelConfig> c = ParseModelConfig(text, "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->head_dim, 128);
  EXPECT_EQ(c->q_size(), 2048);  // != hidden_size 1024.
  EXPECT_TRUE(c->qk_norm);
  EXPECT_FLOAT_EQ(c->rope_theta, 1e6f);  // Written as a JSON integer.
  EXPECT_FALSE(c->sliding_window.has_value());
}

TEST(ModelConfigTest, LoadsStories260KDirectory) {
  absl::StatusOr<ModelConfig> c = LoadModelConfig(testing::Stories260KDir());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model_type, "llama");
  EXPECT_EQ(c->hidden_size, 64);
  EXPECT_EQ(c->intermediate_size, 172);
  EXPECT_EQ(c->num_hidden_layers, 5);
  EXPECT_EQ(c->num_attention_heads, 8);
  EXPECT_EQ(c->num_key_value_heads, 4);
  EXPECT_EQ(c->head_dim, 8);
  EXPECT_EQ(c->vocab_size, 512);
  EXPECT_FLOAT_EQ(c->rms_norm_eps, 1e-5f);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_EQ(c->rope_scaling.type, "default");
  EXPECT_EQ(c->bos_token_id, 1);
  EXPECT_THAT(c->eos_token_ids, ElementsAre(2));
  EXPECT_EQ(c->torch_dtype, "float32");
}

TEST(ModelConfigTest, LlamaDefaultsMatchTransformers) {
  absl::StatusOr<ModelConfig> c =
      ParseModelConfig(R"({"model_type": "llama"})", "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->vocab_size, 32000);
  EXPECT_EQ(c->hidden_size, 4096);
  EXPECT_EQ(c->intermediate_size, 11008);
  EXPECT_EQ(c->num_hidden_layers, 32);
  EXPECT_EQ(c->num_attention_heads, 32);
  EXPECT_EQ(c->num_key_value_heads, 32);
  EXPECT_EQ(c->head_dim, 128);
  EXPECT_EQ(c->max_position_embeddings, 2048);
  EXPECT_FLOAT_EQ(c->rms_norm_eps, 1e-6f);
  EXPECT_FLOAT_EQ(c->rope_theta, 10000.0f);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_EQ(c->bos_token_id, 1);
  EXPECT_THAT(c->eos_token_ids, ElementsAre(2));
  EXPECT_EQ(c->torch_dtype, "float32");
  EXPECT_EQ(c->rope_scaling.type, "default");
}

TEST(ModelConfigTest, DerivedDefaults) {
  nlohmann::json cfg = BaseConfig();
  cfg.erase("num_key_value_heads");
  absl::StatusOr<ModelConfig> c = Parse(cfg);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_key_value_heads, 8);  // = num_attention_heads.
  EXPECT_EQ(c->head_dim, 8);             // = 64 / 8.
  cfg["num_key_value_heads"] = nullptr;
  cfg["head_dim"] = nullptr;
  c = Parse(cfg);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_key_value_heads, 8);
  EXPECT_EQ(c->head_dim, 8);
}

TEST(ModelConfigTest, MistralAndQwen3Defaults) {
  absl::StatusOr<ModelConfig> m =
      ParseModelConfig(R"({"architectures": ["MistralForCausalLM"]})", "");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->model_type, "mistral");
  EXPECT_EQ(m->num_key_value_heads, 8);
  EXPECT_EQ(m->intermediate_size, 14336);
  EXPECT_EQ(m->max_position_embeddings, 131072);
  EXPECT_EQ(m->sliding_window, 4096);
  m = ParseModelConfig(R"({"model_type": "mistral", "sliding_window": null,
                           "num_key_value_heads": null})",
                       "");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_FALSE(m->sliding_window.has_value());
  EXPECT_EQ(m->num_key_value_heads, 32);

  absl::StatusOr<ModelConfig> q =
      ParseModelConfig(R"({"model_type": "qwen3"})", "");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->vocab_size, 151936);
  EXPECT_EQ(q->head_dim, 128);
  EXPECT_EQ(q->num_key_value_heads, 32);
  EXPECT_FALSE(q->bos_token_id.has_value());
  EXPECT_TRUE(q->eos_token_ids.empty());
}

TEST(ModelConfigTest, EosIdsMergeAndDeduplicate) {
  nlohmann::json cfg = BaseConfig();
  cfg["eos_token_id"] = {5, 2};
  absl::StatusOr<ModelConfig> c = Parse(cfg, R"({"eos_token_id": [2, 7, 5]})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->eos_token_ids, ElementsAre(5, 2, 7));
  c = Parse(cfg, R"({"eos_token_id": 9})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->eos_token_ids, ElementsAre(5, 2, 9));
  // Only generation_config sets eos: the llama default (2) is not added.
  cfg.erase("eos_token_id");
  c = Parse(cfg, R"({"eos_token_id": 9, "bos_token_id": 3})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->eos_token_ids, ElementsAre(9));
  EXPECT_EQ(c->bos_token_id,
            3);  // config.json has no bos: generation_config's.
  cfg["bos_token_id"] = nullptr;
  c = Parse(cfg, R"({"bos_token_id": 3})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(
      c->bos_token_id.has_value());  // Explicit null in config.json wins.
}

TEST(ModelConfigTest, RopeScalingVariants) {
  nlohmann::json cfg = BaseConfig();
  cfg["rope_scaling"] = {{"type", "linear"}, {"factor", 4.0}};  // Legacy key.
  absl::StatusOr<ModelConfig> c = Parse(cfg);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.type, "linear");
  EXPECT_FLOAT_EQ(c->rope_scaling.factor, 4.0f);

  cfg["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", 8},
                         {"low_freq_factor", 1},
                         {"high_freq_factor", 4},
                         {"original_max_position_embeddings", 64}};
  c = Parse(cfg);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.type, "llama3");
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 64);

  cfg.erase("rope_scaling");  // transformers >= 5 layout.
  cfg["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 123456.0}};
  c = Parse(cfg);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.type, "default");
  EXPECT_FLOAT_EQ(c->rope_theta, 123456.0f);
}

TEST(ModelConfigTest, RopeScalingErrors) {
  nlohmann::json cfg = BaseConfig();
  cfg["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", 8},
                         {"high_freq_factor", 4},
                         {"original_max_position_embeddings", 64}};
  absl::StatusOr<ModelConfig> c = Parse(cfg);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("rope_scaling.low_freq_factor"));

  cfg["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4}};
  EXPECT_EQ(Parse(cfg).status().code(), absl::StatusCode::kUnimplemented);
  cfg["rope_scaling"] = {{"rope_type", "linear"}, {"factor", -1}};
  EXPECT_EQ(Parse(cfg).status().code(), absl::StatusCode::kInvalidArgument);
  cfg["rope_scaling"] = "llama3";
  EXPECT_THAT(Parse(cfg).status().message(), HasSubstr("rope_scaling"));
  cfg["rope_scaling"] = {{"factor", 2}};  // No type at all.
  EXPECT_THAT(Parse(cfg).status().message(),
              HasSubstr("rope_scaling.rope_type"));
}

TEST(ModelConfigTest, MalformedJsonNamesTheFile) {
  absl::StatusOr<ModelConfig> c = ParseModelConfig("{\"hidden_size\": 64,", "");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("config.json"));
  c = ParseModelConfig(BaseConfig().dump(), "not json");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("generation_config.json"));
  EXPECT_FALSE(ParseModelConfig("[1, 2]", "").ok());
  EXPECT_FALSE(ParseModelConfig(BaseConfig().dump(), "[]").ok());
  EXPECT_FALSE(ParseModelConfig("", "").ok());
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_THAT(ParseModelConfig(deep, "").status().message(),
              HasSubstr("config.json: invalid JSON: nested deeper"));
}

TEST(ModelConfigTest, WrongTypesNameTheField) {
  const std::vector<std::pair<std::string, nlohmann::json>> cases = {
      {"hidden_size", "64"},       {"hidden_size", 64.5},
      {"num_hidden_layers", true}, {"rms_norm_eps", "small"},
      {"tie_word_embeddings", 1},  {"eos_token_id", "2"},
      {"eos_token_id", {1, "x"}},  {"vocab_size", 1e12},
      {"architectures", "Llama"},  {"torch_dtype", 16},
      {"head_dim", {8}},           {"intermediate_size", 5000000000LL},
  };
  for (const auto& [field, value] : cases) {
    nlohmann::json cfg = BaseConfig();
    cfg[field] = value;
    absl::StatusOr<ModelConfig> c = Parse(cfg);
    SCOPED_TRACE(field + " = " + value.dump());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(c.status().message(), HasSubstr("'" + field + "'"));
    EXPECT_THAT(c.status().message(), HasSubstr("config.json"));
  }
  absl::StatusOr<ModelConfig> c =
      Parse(BaseConfig(), R"({"eos_token_id": 2.5})");
  EXPECT_THAT(c.status().message(),
              HasSubstr("generation_config.json: field 'eos_token_id'"));
}

TEST(ModelConfigTest, InconsistentValuesAreRejected) {
  const std::vector<std::pair<std::string, nlohmann::json>> cases = {
      {"num_key_value_heads", 3},  // 8 % 3 != 0.
      {"head_dim", 7},             // Odd: no RoPE pairs.
      {"hidden_size", 0},
      {"num_hidden_layers", -1},
      {"vocab_size", 0},
      {"rms_norm_eps", 0},
      {"rope_theta", -5},
      {"eos_token_id", 512},  // >= vocab_size.
      {"bos_token_id", -1},
      {"torch_dtype", "int8"},
      {"num_attention_heads", 0},
  };
  for (const auto& [field, value] : cases) {
    nlohmann::json cfg = BaseConfig();
    cfg[field] = value;
    SCOPED_TRACE(field + " = " + value.dump());
    EXPECT_EQ(Parse(cfg).status().code(), absl::StatusCode::kInvalidArgument);
  }
  nlohmann::json cfg = BaseConfig();
  cfg.erase("num_key_value_heads");
  cfg["num_attention_heads"] = 6;  // 64 % 6 != 0 and no head_dim.
  EXPECT_THAT(Parse(cfg).status().message(), HasSubstr("head_dim"));
}

TEST(ModelConfigTest, UnsupportedFeaturesAreUnimplemented) {
  const std::vector<std::pair<std::string, nlohmann::json>> cases = {
      {"attention_bias", true},   {"mlp_bias", true},
      {"hidden_act", "gelu"},     {"model_type", "gpt2"},
      {"torch_dtype", "float64"}, {"architectures", {"GPT2LMHeadModel"}},
  };
  for (const auto& [field, value] : cases) {
    nlohmann::json cfg = BaseConfig();
    cfg[field] = value;
    SCOPED_TRACE(field + " = " + value.dump());
    absl::StatusOr<ModelConfig> c = Parse(cfg);
    EXPECT_EQ(c.status().code(), absl::StatusCode::kUnimplemented);
  }
  nlohmann::json cfg = BaseConfig();
  cfg["architectures"] = {"Qwen2ForCausalLM"};
  cfg["model_type"] = "qwen2";
  EXPECT_THAT(Parse(cfg).status().message(), HasSubstr("Qwen2ForCausalLM"));
  cfg = BaseConfig();
  cfg["model_type"] = "qwen3";
  cfg["use_sliding_window"] = true;
  EXPECT_EQ(Parse(cfg).status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(ParseModelConfig("{}", "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ModelConfigTest, LoadNamesFilesByPath) {
  const std::string dir = testing::MakeTempDir();
  EXPECT_EQ(LoadModelConfig(dir).status().code(), absl::StatusCode::kNotFound);
  nlohmann::json cfg = BaseConfig();
  cfg["hidden_size"] = "big";
  testing::WriteFile(dir + "/config.json", cfg.dump());
  absl::StatusOr<ModelConfig> c = LoadModelConfig(dir);
  EXPECT_THAT(c.status().message(),
              HasSubstr(dir + "/config.json: field 'hidden_size'"));
  testing::WriteFile(dir + "/config.json", BaseConfig().dump());
  testing::WriteFile(dir + "/generation_config.json",
                     R"({"eos_token_id": [3, 4]})");
  c = LoadModelConfig(dir);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->eos_token_ids, ElementsAre(3, 4));
}

}  // namespace
}  // namespace infernum::models
