// WeightSource over sharded checkpoints (model.safetensors.index.json).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "models/io/safetensors.h"
#include "models/io/test_util.h"

namespace infernum::models {
namespace {

using ::testing::ElementsAre;
using testing::F32Bytes;
using ::testing::HasSubstr;
using testing::RawTensor;
using testing::SerializeSafetensors;

constexpr char kShard1[] = "model-00001-of-00002.safetensors";
constexpr char kShard2[] = "model-00002-of-00002.safetensors";

struct Checkpoint {
  std::string dir;
  std::vector<RawTensor> shard1, shard2;
};

void WriteIndex(const std::string& dir, const nlohmann::json& weight_map) {
  nlohmann::json index = {{"metadata", {{"total_size", 123}}},
                          {"weight_map", weight_map}};
  testing::WriteFile(dir + "/model.safetensors.index.json", index.dump(2));
}

// Two shards; shard 2 also holds "stray", which the index does not list.
Checkpoint WriteSharded() {
  Checkpoint c;
  c.dir = testing::MakeTempDir();
  c.shard1 = {{"model.embed_tokens.weight", "F32", {4, 2}, F32Bytes(8, 1.0f)},
              {"model.layers.0.input_layernorm.weight", "BF16", {2}, "abcd"}};
  c.shard2 = {{"model.norm.weight", "F16", {2}, "wxyz"},
              {"lm_head.weight", "F32", {4, 2}, F32Bytes(8, -1.0f, 0.25f)},
              {"stray", "F32", {1}, F32Bytes(1)}};
  testing::WriteFile(c.dir + "/" + kShard1, SerializeSafetensors(c.shard1));
  testing::WriteFile(c.dir + "/" + kShard2, SerializeSafetensors(c.shard2));
  nlohmann::json map = nlohmann::json::object();
  for (const RawTensor& t : c.shard1) map[t.name] = kShard1;
  for (const RawTensor& t : c.shard2) {
    if (t.name != "stray") map[t.name] = kShard2;
  }
  WriteIndex(c.dir, map);
  return c;
}

TEST(WeightSourceTest, ShardedRoundTrip) {
  const Checkpoint c = WriteSharded();
  // A stale single-file checkpoint next to the index is ignored.
  testing::WriteFile(c.dir + "/model.safetensors", "garbage");
  absl::StatusOr<std::unique_ptr<WeightSource>> w = WeightSource::Open(c.dir);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->num_files(), 2u);
  EXPECT_THAT((*w)->names(),
              ElementsAre("lm_head.weight", "model.embed_tokens.weight",
                          "model.layers.0.input_layernorm.weight",
                          "model.norm.weight"));
  EXPECT_FALSE((*w)->Contains("stray"));
  for (const auto* shard : {&c.shard1, &c.shard2}) {
    for (const RawTensor& r : *shard) {
      if (r.name == "stray") continue;
      SCOPED_TRACE(r.name);
      absl::StatusOr<const TensorInfo*> t = (*w)->GetChecked(r.name, r.shape);
      ASSERT_TRUE(t.ok()) << t.status();
      EXPECT_EQ((*t)->dtype_name, r.dtype);
      ASSERT_EQ((*t)->nbytes, r.bytes.size());
      EXPECT_EQ(std::memcmp((*t)->data, r.bytes.data(), r.bytes.size()), 0);
    }
  }
}

TEST(WeightSourceTest, MissingShardIsNotFound) {
  const Checkpoint c = WriteSharded();
  ASSERT_EQ(std::remove((c.dir + "/" + kShard2).c_str()), 0);
  absl::StatusOr<std::unique_ptr<WeightSource>> w = WeightSource::Open(c.dir);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(w.status().message(), HasSubstr(kShard2));
}

TEST(WeightSourceTest, TensorListedButAbsentFromShard) {
  const Checkpoint c = WriteSharded();
  nlohmann::json map = {{"model.norm.weight", kShard2},
                        {"model.ghost.weight", kShard1}};
  WriteIndex(c.dir, map);
  absl::StatusOr<std::unique_ptr<WeightSource>> w = WeightSource::Open(c.dir);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(w.status().message(), HasSubstr("'model.ghost.weight'"));
  EXPECT_THAT(w.status().message(), HasSubstr("does not contain it"));
}

TEST(WeightSourceTest, CorruptShardIsNamed) {
  const Checkpoint c = WriteSharded();
  testing::WriteFile(c.dir + "/" + kShard1,
                     testing::FrameSafetensors("{oops", ""));
  absl::StatusOr<std::unique_ptr<WeightSource>> w = WeightSource::Open(c.dir);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(w.status().message(), HasSubstr(kShard1));
  EXPECT_THAT(w.status().message(), HasSubstr("invalid JSON"));
}

TEST(WeightSourceTest, BadIndexFiles) {
  const Checkpoint c = WriteSharded();
  const std::string index = c.dir + "/model.safetensors.index.json";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{not json", "invalid JSON"},
      {R"({"metadata": {}})", "weight_map"},
      {R"({"weight_map": {}})", "weight_map"},
      {R"({"weight_map": []})", "weight_map"},
      {R"([])", "weight_map"},
      {R"({"weight_map": {"a": 3}})", "not a file name"},
      {R"({"weight_map": {"a": "../model.safetensors"}})", "not a file name"},
      {R"({"weight_map": {"a": ""}})", "not a file name"},
      {R"({"weight_map": {"a": ".."}})", "not a file name"},
  };
  for (const auto& [text, substr] : cases) {
    SCOPED_TRACE(text);
    testing::WriteFile(index, text);
    absl::StatusOr<std::unique_ptr<WeightSource>> w = WeightSource::Open(c.dir);
    EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument)
        << w.status();
    EXPECT_THAT(w.status().message(), HasSubstr(substr));
  }
}

TEST(WeightSourceTest, EmptyDirectoryIsNotFound) {
  const std::string dir = testing::MakeTempDir();
  absl::StatusOr<std::unique_ptr<WeightSource>> w = WeightSource::Open(dir);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(w.status().message(), HasSubstr("model.safetensors"));
  EXPECT_EQ(WeightSource::Open(dir + "/nope").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace infernum::models
