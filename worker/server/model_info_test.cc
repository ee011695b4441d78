#include "worker/server/model_info.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/testing.h"

namespace infernum::worker {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ModelInfoTest, Stories260K) {
  const std::string dir = testing::SharedModelsDir() + "/stories260K";
  ModelSetupOptions o;
  o.model_dir = dir;
  o.backend.num_threads = 1;
  auto loaded = SetupModel(o);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ModelInfoParams p{dir, "stories", "host:1", 512, 16, 8};
  auto info = BuildModelInfo(*loaded, p);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model_id(), "stories");
  EXPECT_EQ(info->worker_id(), "host:1");
  EXPECT_EQ(info->max_context_length(), 512);
  EXPECT_EQ(info->block_size(), 16);
  EXPECT_EQ(info->max_num_seqs(), 8);
  EXPECT_EQ(info->model_type(), "llama");
  // config.json: vocab_size 512, eos 2, bos 1 (the story-end token).
  const auto config = nlohmann::json::parse(Slurp(dir + "/config.json"));
  EXPECT_EQ(info->vocab_size(), config["vocab_size"].get<int>());
  ASSERT_EQ(info->eos_token_ids_size(), 1);
  EXPECT_EQ(info->eos_token_ids(0), config["eos_token_id"].get<int>());
  ASSERT_EQ(info->extra_stop_token_ids_size(), 1);
  EXPECT_EQ(info->extra_stop_token_ids(0), config["bos_token_id"].get<int>());
  EXPECT_EQ(info->tokenizer_json(), Slurp(dir + "/tokenizer.json"));
  EXPECT_EQ(info->tokenizer_config_json(),
            Slurp(dir + "/tokenizer_config.json"));
  EXPECT_EQ(info->generation_config_json(),
            Slurp(dir + "/generation_config.json"));
  EXPECT_EQ(info->chat_template(), "");  // stories260K has none.
}

// A model directory with a chat template in each of the supported places.
class ChatTemplateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "/model_info_chat_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::create_directories(dir_);
  }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  absl::StatusOr<v1::ModelInfo> Build() {
    LoadedModel loaded;  // Only config fields are read.
    loaded.config.vocab_size = 10;
    return BuildModelInfo(loaded, ModelInfoParams{dir_, "m", "w", 8, 4, 1});
  }
  std::string dir_;
};

TEST_F(ChatTemplateTest, StringInTokenizerConfig) {
  Write("tokenizer_config.json", R"({"chat_template": "{{ messages }}"})");
  Write("chat_template.jinja", "ignored");
  auto info = Build();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->chat_template(), "{{ messages }}");
}

TEST_F(ChatTemplateTest, ListPrefersDefault) {
  Write("tokenizer_config.json",
        R"({"chat_template": [{"name": "tool_use", "template": "T"},
                              {"name": "default", "template": "D"}]})");
  auto info = Build();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->chat_template(), "D");
}

TEST_F(ChatTemplateTest, JinjaFileThenJsonFile) {
  Write("tokenizer_config.json", R"({"bos_token": "<s>"})");
  Write("chat_template.json", R"({"chat_template": "J"})");
  auto info = Build();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->chat_template(), "J");
  Write("chat_template.jinja", "JINJA");
  info = Build();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->chat_template(), "JINJA");
}

TEST_F(ChatTemplateTest, BadTokenizerConfigIsAnError) {
  Write("tokenizer_config.json", "{not json");
  auto info = Build();
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.status().message().find("tokenizer_config.json"),
            std::string::npos);
}

TEST_F(ChatTemplateTest, NoDirectoryGivesEmptyFiles) {
  LoadedModel loaded;
  auto info = BuildModelInfo(loaded, ModelInfoParams{"", "m", "w", 8, 4, 1});
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->tokenizer_json().empty());
  EXPECT_TRUE(info->chat_template().empty());
}

}  // namespace
}  // namespace infernum::worker
