// LlamaModel / weight loading / batch validation behaviour that does not need
// the PyTorch oracle: load errors on broken checkpoints, fused weight layout,
// dummy weights, and rejection of malformed batches.
#include "models/llama/llama_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include "common/logging.h"
#include "kernels/cpu/cpu_backend.h"
#include "models/io/test_util.h"
#include "models/llama/profiling_backend.h"

namespace infernum::models {
namespace {

namespace mt = ::infernum::models::testing;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes a copy of stories260K (config + weights) to a fresh directory after
// `mutate` edits the tensor list; returns the directory.
std::string WriteStoriesCopy(
    const std::function<void(std::vector<mt::RawTensor>&)>& mutate) {
  const std::string src = mt::Stories260KDir();
  auto source = WeightSource::Open(src);
  CHECK_OK(source.status());
  std::vector<mt::RawTensor> tensors;
  for (const std::string& name : (*source)->names()) {
    const TensorInfo* t = *(*source)->Get(name);
    tensors.push_back(
        {name, t->dtype_name, t->shape,
         std::string(static_cast<const char*>(t->data), t->nbytes)});
  }
  mutate(tensors);
  const std::string dir = mt::MakeTempDir();
  mt::WriteFile(dir + "/config.json", ReadFile(src + "/config.json"));
  mt::WriteFile(dir + "/model.safetensors", mt::SerializeSafetensors(tensors));
  return dir;
}

absl::Status LoadFrom(const std::string& dir, kernels::Backend& backend) {
  auto config = LoadModelConfig(dir);
  if (!config.ok()) return config.status();
  auto source = WeightSource::Open(dir);
  if (!source.ok()) return source.status();
  return LlamaModel::Load(*config, **source, backend).status();
}

class LlamaModelTest : public ::testing::Test {
 protected:
  std::unique_ptr<kernels::Backend> backend_ = kernels::CreateCpuBackend(0);
};

TEST_F(LlamaModelTest, MissingTensorIsAClearError) {
  const std::string dir = WriteStoriesCopy([](auto& t) {
    std::erase_if(t, [](const mt::RawTensor& r) {
      return r.name == "model.layers.3.mlp.up_proj.weight";
    });
  });
  absl::Status st = LoadFrom(dir, *backend_);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("model.layers.3.mlp.up_proj.weight"),
            absl::string_view::npos)
      << st;
}

TEST_F(LlamaModelTest, WrongShapeIsAClearError) {
  const std::string dir = WriteStoriesCopy([](auto& t) {
    for (mt::RawTensor& r : t) {
      if (r.name == "model.layers.1.self_attn.k_proj.weight") {
        r.shape = {16, 64};
        r.bytes.resize(16 * 64 * 4);
      }
    }
  });
  absl::Status st = LoadFrom(dir, *backend_);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("model.layers.1.self_attn.k_proj.weight"),
            absl::string_view::npos)
      << st;
}

TEST_F(LlamaModelTest, MixedDtypesInAFusedWeightAreRejected) {
  const std::string dir = WriteStoriesCopy([](auto& t) {
    for (mt::RawTensor& r : t) {
      if (r.name == "model.layers.0.mlp.up_proj.weight") {
        r.dtype = "F16";
        r.bytes.resize(r.bytes.size() / 2);
      }
    }
  });
  absl::Status st = LoadFrom(dir, *backend_);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("fuse"), absl::string_view::npos) << st;
}

TEST_F(LlamaModelTest, FusedWeightsAreRowConcatenations) {
  const std::string dir = mt::Stories260KDir();
  auto config = LoadModelConfig(dir);
  ASSERT_TRUE(config.ok());
  auto source = WeightSource::Open(dir);
  ASSERT_TRUE(source.ok());
  auto w = LoadLlamaWeights(*config, **source, *backend_);
  ASSERT_TRUE(w.ok()) << w.status();
  const LlamaLayerWeights& l2 = w->layers[2];
  ASSERT_EQ(l2.qkv.tensor.dim(0), 64 + 32 + 32);
  ASSERT_EQ(l2.gate_up.tensor.dim(0), 2 * 172);
  size_t offset = 0;
  for (const char* part : {"q_proj", "k_proj", "v_proj"}) {
    const TensorInfo* t = *(*source)->Get(
        std::string("model.layers.2.self_attn.") + part + ".weight");
    EXPECT_EQ(std::memcmp(static_cast<char*>(l2.qkv.tensor.data) + offset,
                          t->data, t->nbytes),
              0)
        << part;
    offset += t->nbytes;
  }
  const TensorInfo* up = *(*source)->Get("model.layers.2.mlp.up_proj.weight");
  EXPECT_EQ(std::memcmp(static_cast<char*>(l2.gate_up.tensor.data) + up->nbytes,
                        up->data, up->nbytes),
            0);
  // Tied: the head is the embedding table itself.
  EXPECT_EQ(w->lm_head.tensor.data, w->embed.tensor.data);
  EXPECT_TRUE(w->lm_head.buffer.empty());
}

ModelConfig SmallConfig() {
  ModelConfig c;
  c.model_type = "llama";
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.vocab_size = 100;
  c.max_position_embeddings = 128;
  c.rms_norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  return c;
}

TEST_F(LlamaModelTest, DummyWeightsAreSeededAndScaled) {
  DummyWeightOptions opt;
  opt.dtype = kernels::DType::kBF16;
  opt.seed = 7;
  auto a = MakeDummyLlamaWeights(SmallConfig(), opt, *backend_);
  auto b = MakeDummyLlamaWeights(SmallConfig(), opt, *backend_);
  opt.seed = 8;
  auto c = MakeDummyLlamaWeights(SmallConfig(), opt, *backend_);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  const kernels::Tensor& wa = a->layers[1].gate_up.tensor;
  EXPECT_EQ(wa.dtype, kernels::DType::kBF16);
  EXPECT_EQ(std::memcmp(wa.data, b->layers[1].gate_up.tensor.data, wa.nbytes()),
            0);
  EXPECT_NE(std::memcmp(wa.data, c->layers[1].gate_up.tensor.data, wa.nbytes()),
            0);
  EXPECT_NE(a->lm_head.tensor.data, a->embed.tensor.data);  // Untied.
  double sum = 0, sum2 = 0;
  const int64_t n = wa.numel();
  for (int64_t i = 0; i < n; ++i) {
    const double v = kernels::Bf16ToF32(wa.as<uint16_t>()[i]);
    sum += v;
    sum2 += v * v;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.002);
  EXPECT_NEAR(std::sqrt(sum2 / n), 0.02, 0.002);
  const kernels::Tensor& norm = a->layers[0].post_norm.tensor;
  for (int64_t i = 0; i < norm.numel(); ++i) {
    EXPECT_EQ(kernels::Bf16ToF32(norm.as<uint16_t>()[i]), 1.0f);
  }
}

// The CPU backend, but asking for f16 weights as bf16 (as CUDA does).
class F16AsBf16Backend : public ProfilingBackend {
 public:
  using ProfilingBackend::ProfilingBackend;
  kernels::DType WeightDType(kernels::DType stored) const override {
    return stored == kernels::DType::kF16 ? kernels::DType::kBF16 : stored;
  }
};

TEST_F(LlamaModelTest, LoaderCastsToTheBackendsWeightDType) {
  F16AsBf16Backend casting(*backend_);
  DummyWeightOptions opt;
  opt.dtype = kernels::DType::kF16;
  opt.seed = 3;
  auto f16 = MakeDummyLlamaWeights(SmallConfig(), opt, *backend_);
  auto bf16 = MakeDummyLlamaWeights(SmallConfig(), opt, casting);
  ASSERT_TRUE(f16.ok() && bf16.ok()) << bf16.status();
  EXPECT_EQ(bf16->total_bytes, f16->total_bytes);
  const auto check = [](const Weight& from, const Weight& to) {
    ASSERT_EQ(from.tensor.dtype, kernels::DType::kF16);
    ASSERT_EQ(to.tensor.dtype, kernels::DType::kBF16);
    ASSERT_EQ(to.tensor.ndim, from.tensor.ndim);
    for (int d = 0; d < from.tensor.ndim; ++d) {
      ASSERT_EQ(to.tensor.dim(d), from.tensor.dim(d));
    }
    for (int64_t i = 0; i < from.tensor.numel(); ++i) {
      const float v = kernels::F16ToF32(from.tensor.as<uint16_t>()[i]);
      ASSERT_EQ(to.tensor.as<uint16_t>()[i], kernels::F32ToBf16(v)) << i;
    }
  };
  check(f16->embed, bf16->embed);
  check(f16->layers[1].qkv, bf16->layers[1].qkv);  // Fused: 3 parts.
  check(f16->layers[0].post_norm, bf16->layers[0].post_norm);  // 1-D.
  check(f16->lm_head, bf16->lm_head);
  // Other dtypes stay as stored.
  opt.dtype = kernels::DType::kF32;
  auto f32 = MakeDummyLlamaWeights(SmallConfig(), opt, casting);
  ASSERT_TRUE(f32.ok());
  EXPECT_EQ(f32->layers[0].gate_up.tensor.dtype, kernels::DType::kF32);
}

class ForwardValidationTest : public LlamaModelTest {
 protected:
  void SetUp() override {
    auto model = LlamaModel::LoadDummy(SmallConfig(), kernels::DType::kF32, 1,
                                       *backend_);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::move(model).value();
    auto cache = KvCache::Create(*backend_, model_->MakeKvCacheShape(4, 8));
    ASSERT_TRUE(cache.ok());
    cache_ = std::make_unique<KvCache>(std::move(cache).value());
  }
  // A valid 3-token prefill of one sequence in blocks {2}.
  static ForwardBatch Valid() {
    ForwardBatch b;
    b.token_ids = {5, 6, 7};
    b.positions = {0, 1, 2};
    b.slot_mapping = {16, 17, 18};
    b.query_start_loc = {0, 3};
    b.seq_lens = {3};
    b.block_tables = {2};
    b.max_blocks_per_seq = 1;
    b.logits_indices = {2};
    return b;
  }
  absl::StatusCode Run(const ForwardBatch& b) {
    return model_->Forward(b, *cache_, logits_, nullptr).code();
  }
  std::unique_ptr<LlamaModel> model_;
  std::unique_ptr<KvCache> cache_;
  std::vector<float> logits_;
};

TEST_F(ForwardValidationTest, AcceptsValidBatch) {
  EXPECT_EQ(Run(Valid()), absl::StatusCode::kOk);
  EXPECT_EQ(logits_.size(), 100u);
  ForwardBatch none = Valid();
  none.logits_indices.clear();
  EXPECT_EQ(Run(none), absl::StatusCode::kOk);
  EXPECT_TRUE(logits_.empty());
}

TEST_F(ForwardValidationTest, RejectsMalformedBatches) {
  const std::vector<std::function<void(ForwardBatch&)>> breakers = {
      [](ForwardBatch& b) { b.token_ids[1] = 100; },
      [](ForwardBatch& b) { b.token_ids[1] = -1; },
      [](ForwardBatch& b) { b.positions.pop_back(); },
      [](ForwardBatch& b) { b.positions[0] = -3; },
      [](ForwardBatch& b) { b.slot_mapping[2] = 32; },
      [](ForwardBatch& b) { b.block_tables[0] = 4; },
      [](ForwardBatch& b) {
        b.query_start_loc = {0, 2};
      },
      [](ForwardBatch& b) {
        b.query_start_loc = {1, 3};
      },
      [](ForwardBatch& b) { b.seq_lens = {2}; },  // < query_len.
      [](ForwardBatch& b) { b.seq_lens = {9}; },  // > one block of 8.
      [](ForwardBatch& b) { b.max_blocks_per_seq = 2; },
      [](ForwardBatch& b) { b.logits_indices = {3}; },
      [](ForwardBatch& b) { b = ForwardBatch(); },
  };
  for (size_t i = 0; i < breakers.size(); ++i) {
    ForwardBatch b = Valid();
    breakers[i](b);
    EXPECT_EQ(Run(b), absl::StatusCode::kInvalidArgument) << "case " << i;
  }
}

TEST_F(ForwardValidationTest, RejectsMismatchedCache) {
  KvCacheShape shape = model_->MakeKvCacheShape(4, 8);
  shape.num_layers = 3;
  auto cache = KvCache::Create(*backend_, shape);
  ASSERT_TRUE(cache.ok());
  EXPECT_EQ(model_->Forward(Valid(), *cache, logits_, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ForwardValidationTest, RejectsContextBeyondSlidingWindow) {
  ModelConfig config = SmallConfig();
  config.sliding_window = 2;
  auto model =
      LlamaModel::LoadDummy(config, kernels::DType::kF32, 1, *backend_);
  ASSERT_TRUE(model.ok());
  EXPECT_EQ((*model)->Forward(Valid(), *cache_, logits_, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace infernum::models
