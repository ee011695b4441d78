#include "models/io/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "models/io/test_util.h"

namespace infernum::models {
namespace {

using ::testing::ElementsAre;
using testing::F32Bytes;
using testing::FrameSafetensors;
using ::testing::HasSubstr;
using testing::RawTensor;
using testing::SerializeSafetensors;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes `contents` into a fresh temp dir and opens it as a safetensors file.
absl::StatusOr<std::unique_ptr<SafetensorsFile>> OpenBytes(
    const std::string& contents) {
  const std::string path = testing::MakeTempDir() + "/t.safetensors";
  testing::WriteFile(path, contents);
  return SafetensorsFile::Open(path);
}

void ExpectInvalid(const std::string& contents, const std::string& substr) {
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> f = OpenBytes(contents);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument)
      << f.status();
  EXPECT_THAT(f.status().message(), HasSubstr(substr));
}

std::string OneTensorHeader(const std::string& entry) {
  return std::string(R"({"w": )") + entry + "}";
}

// The converted weights equal the arrays of the original llama2.c file
// (7 x int32 header, then token_embedding_table, rms_att, wq, wk, wv, ...).
TEST(SafetensorsTest, Stories260KMatchesOriginalCheckpoint) {
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> f =
      SafetensorsFile::Open(testing::Stories260KDir() + "/model.safetensors");
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ((*f)->tensors().size(), 47u);
  for (const TensorInfo& t : (*f)->tensors()) {
    EXPECT_EQ(t.dtype_name, "F32") << t.name;
    EXPECT_TRUE(t.dtype_supported);
    EXPECT_EQ(t.dtype, kernels::DType::kF32);
    EXPECT_EQ(t.nbytes, static_cast<size_t>(t.numel) * 4);
  }
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
  const TensorInfo* emb = (*f)->Find("model.embed_tokens.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_THAT(emb->shape, ElementsAre(512, 64));
  EXPECT_THAT((*f)->Find("model.layers.4.self_attn.k_proj.weight")->shape,
              ElementsAre(32, 64));
  EXPECT_THAT((*f)->Find("model.layers.0.mlp.down_proj.weight")->shape,
              ElementsAre(64, 172));
  EXPECT_EQ((*f)->Find("lm_head.weight"), nullptr);

  const std::string orig =
      ReadAll(testing::Stories260KDir() + "/original/stories260K.bin");
  ASSERT_EQ(orig.size(), 1056540u);
  auto orig_at = [&](size_t float_offset) {
    return orig.data() + 28 + float_offset * 4;
  };
  EXPECT_EQ(std::memcmp(emb->data, orig_at(0), emb->nbytes), 0);
  const TensorInfo* norm3 = (*f)->Find("model.layers.3.input_layernorm.weight");
  EXPECT_EQ(std::memcmp(norm3->data, orig_at(32768 + 3 * 64), 64 * 4), 0);
  const size_t wv = 32768 + 320 + 20480 + 10240;
  const TensorInfo* v2 = (*f)->Find("model.layers.2.self_attn.v_proj.weight");
  EXPECT_EQ(std::memcmp(v2->data, orig_at(wv + 2 * 32 * 64), 32 * 64 * 4), 0);
}

TEST(SafetensorsTest, WeightSourceOnStories260K) {
  absl::StatusOr<std::unique_ptr<WeightSource>> w =
      WeightSource::Open(testing::Stories260KDir());
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->names().size(), 47u);
  EXPECT_EQ((*w)->num_files(), 1u);
  EXPECT_TRUE((*w)->GetChecked("model.norm.weight", {64}).ok());
  absl::StatusOr<const TensorInfo*> bad =
      (*w)->GetChecked("model.norm.weight", {32, 2});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      bad.status().message(),
      HasSubstr("'model.norm.weight' has shape [64], expected [32, 2]"));
  absl::StatusOr<const TensorInfo*> missing = (*w)->Get("lm_head.weight");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("lm_head.weight"));
}

TEST(SafetensorsTest, RoundTripDTypes) {
  std::string bf16(6, '\0'), f16(4, '\0'), i64(16, '\x01');
  for (int i = 0; i < 6; ++i) bf16[i] = static_cast<char>(i + 1);
  const std::vector<RawTensor> in = {
      {"b", "BF16", {3}, bf16},
      {"a", "F32", {2, 3}, F32Bytes(6, 0.5f)},
      {"c", "F16", {1, 2}, f16},
      {"ids", "I64", {2}, i64},
      {"scalar", "F32", {}, F32Bytes(1, 7.0f)},
      {"empty", "F32", {0, 4}, ""},
  };
  const std::string dir = testing::MakeTempDir();
  testing::WriteFile(dir + "/model.safetensors",
                     SerializeSafetensors(in, {{"format", "pt"}}));
  absl::StatusOr<std::unique_ptr<WeightSource>> w = WeightSource::Open(dir);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_THAT((*w)->names(),
              ElementsAre("a", "b", "c", "empty", "ids", "scalar"));
  for (const RawTensor& r : in) {
    SCOPED_TRACE(r.name);
    absl::StatusOr<const TensorInfo*> t = (*w)->Get(r.name);
    if (r.dtype == "I64") {
      EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(t.status().message(), HasSubstr("I64"));
      continue;
    }
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ((*t)->shape, r.shape);
    ASSERT_EQ((*t)->nbytes, r.bytes.size());
    EXPECT_EQ(std::memcmp((*t)->data, r.bytes.data(), r.bytes.size()), 0);
  }
  EXPECT_EQ((*(*w)->Get("b"))->dtype, kernels::DType::kBF16);
  EXPECT_EQ((*(*w)->Get("c"))->dtype, kernels::DType::kF16);
  EXPECT_EQ((*(*w)->Get("scalar"))->numel, 1);
  EXPECT_EQ((*(*w)->Get("empty"))->numel, 0);
  // Opening a file path directly works too.
  EXPECT_TRUE(WeightSource::Open(dir + "/model.safetensors").ok());
}

TEST(SafetensorsTest, RejectsI32AsWeight) {
  const std::string dir = testing::MakeTempDir();
  testing::WriteFile(
      dir + "/model.safetensors",
      SerializeSafetensors({{"n", "I32", {2}, std::string(8, '\0')}}));
  absl::StatusOr<std::unique_ptr<WeightSource>> w = WeightSource::Open(dir);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_TRUE((*w)->Get("n").ok());
  EXPECT_THAT((*w)->GetChecked("n", {2}).status().message(),
              HasSubstr("F32, BF16 or F16"));
}

TEST(SafetensorsTest, BadFraming) {
  ExpectInvalid("", "too short");
  ExpectInvalid("abc", "too short");
  ExpectInvalid(FrameSafetensors("{}", "", 1000), "header length 1000 exceeds");
  ExpectInvalid(FrameSafetensors("{}", "", ~uint64_t{0}), "exceeds");
  ExpectInvalid(FrameSafetensors("not json at all", ""), "invalid JSON");
  ExpectInvalid(FrameSafetensors("", ""), "invalid JSON");
  ExpectInvalid(FrameSafetensors("[1, 2]", ""), "must be a JSON object");
  ExpectInvalid(FrameSafetensors(R"({"__metadata__": {"k": 1}})", ""),
                "__metadata__");
  ExpectInvalid(FrameSafetensors(R"({"__metadata__": []})", ""),
                "__metadata__");
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  ExpectInvalid(FrameSafetensors(deep, ""), "nested deeper than 64");
  ExpectInvalid(FrameSafetensors(R"({"w": )" + deep + "}", ""),
                "nested deeper");
  // A header holding only metadata (no tensors) is valid.
  EXPECT_TRUE(
      OpenBytes(FrameSafetensors(R"({"__metadata__": {"k": "v"}})", "")).ok());
}

TEST(SafetensorsTest, BadEntries) {
  const std::string data = F32Bytes(4);
  auto framed = [&](const std::string& entry) {
    return FrameSafetensors(OneTensorHeader(entry), data);
  };
  ExpectInvalid(
      framed(R"({"dtype": "F32", "shape": [4], "data_offsets": [0, 20]})"),
      "data_offsets [0, 20]");
  ExpectInvalid(
      framed(R"({"dtype": "F32", "shape": [1], "data_offsets": [12, 8]})"),
      "data_offsets [12, 8]");
  ExpectInvalid(
      framed(R"({"dtype": "F33", "shape": [4], "data_offsets": [0, 16]})"),
      "unknown dtype 'F33'");
  ExpectInvalid(
      framed(R"({"dtype": 32, "shape": [4], "data_offsets": [0, 16]})"),
      "dtype");
  ExpectInvalid(
      framed(R"({"dtype": "F32", "shape": [5], "data_offsets": [0, 16]})"),
      "holds 16 bytes but shape [5] of F32 needs 20");
  ExpectInvalid(
      framed(R"({"dtype": "BF16", "shape": [4], "data_offsets": [0, 16]})"),
      "needs 8");
  ExpectInvalid(
      framed(R"({"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]})"),
      "non-negative");
  ExpectInvalid(
      framed(R"({"dtype": "F32", "shape": [4.0], "data_offsets": [0, 16]})"),
      "non-negative integers");
  ExpectInvalid(
      framed(R"({"dtype": "F32", "shape": 4, "data_offsets": [0, 16]})"),
      "shape");
  ExpectInvalid(
      framed(R"({"dtype": "F32", "shape": [4], "data_offsets": [0, 8, 16]})"),
      "2 entries");
  ExpectInvalid(framed(R"({"dtype": "F32", "shape": [4]})"), "data_offsets");
  ExpectInvalid(framed(R"("F32")"), "must be an object");
  ExpectInvalid(
      framed(R"({"dtype": "F32", "shape": [4294967296, 4294967296, 4294967296],
                           "data_offsets": [0, 16]})"),
      "too large");
  ExpectInvalid(
      framed(R"({"dtype": "F32", "shape": [4], "data_offsets": [-16, 0]})"),
      "non-negative");
  ExpectInvalid(
      FrameSafetensors(
          R"({"": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})",
          data),
      "empty tensor name");
}

// Every truncation of a valid file is an error (never a crash or an
// out-of-bounds read; run under --config=asan to check the latter).
TEST(SafetensorsTest, EveryTruncationIsRejected) {
  const std::string full =
      SerializeSafetensors({{"a", "F32", {3}, F32Bytes(3)},
                            {"b", "BF16", {2, 2}, std::string(8, 'x')}});
  ASSERT_TRUE(OpenBytes(full).ok());
  for (size_t len = 0; len < full.size(); ++len) {
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> f =
        OpenBytes(full.substr(0, len));
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument)
        << "length " << len;
  }
}

// Random byte corruption of the header must never crash; results are either
// an error or a file whose every tensor lies inside the mapping.
TEST(SafetensorsTest, RandomHeaderCorruptionNeverCrashes) {
  const std::string full =
      SerializeSafetensors({{"x", "F32", {2, 2}, F32Bytes(4)},
                            {"y", "F16", {3}, std::string(6, 'y')}});
  std::mt19937 rng(1234);
  const std::string chars = "0123456789[]{}\",:-. FBI\x01\xff";
  for (int iter = 0; iter < 300; ++iter) {
    std::string bad = full;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) {
      bad[8 + rng() % (bad.size() - 8)] = chars[rng() % chars.size()];
    }
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> f = OpenBytes(bad);
    if (!f.ok()) continue;
    for (const TensorInfo& t : (*f)->tensors()) {
      uint8_t acc = 0;  // Touch every byte: ASan flags any overrun.
      for (size_t i = 0; i < t.nbytes; ++i)
        acc ^= static_cast<const uint8_t*>(t.data)[i];
      volatile uint8_t sink = acc;
      (void)sink;
    }
  }
}

}  // namespace
}  // namespace infernum::models
