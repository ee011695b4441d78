#include "models/llama/llama_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/thread_pool.h"
#include "models/io/llama_weights.h"

namespace infernum::models {
namespace {

using kernels::Backend;
using kernels::DType;

// Where weight values come from: a checkpoint or a random generator.
class TensorProvider {
 public:
  virtual ~TensorProvider() = default;
  // The dtype `name` will have on the device; checks it has `shape`.
  virtual absl::StatusOr<DType> Check(const std::string& name,
                                      const std::vector<int64_t>& shape) = 0;
  // Writes the `nbytes` of `name` to device memory at `dst`.
  virtual absl::Status CopyTo(const std::string& name, void* dst,
                              size_t nbytes) = 0;
};

class CheckpointProvider : public TensorProvider {
 public:
  CheckpointProvider(const WeightSource& source, Backend& backend)
      : source_(source), backend_(backend) {}

  absl::StatusOr<DType> Check(const std::string& name,
                              const std::vector<int64_t>& shape) override {
    ASSIGN_OR_RETURN(const TensorInfo* info, source_.GetChecked(name, shape));
    return info->dtype;
  }
  absl::Status CopyTo(const std::string& name, void* dst,
                      size_t nbytes) override {
    ASSIGN_OR_RETURN(const TensorInfo* info, source_.Get(name));
    if (info->nbytes != nbytes) {
      return absl::InternalError(absl::StrCat("size mismatch for ", name));
    }
    return backend_.CopyToDevice(dst, info->data, nbytes,
                                 backend_.default_stream());
  }

 private:
  const WeightSource& source_;
  Backend& backend_;
};

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// Counter-based generator: value i of a tensor depends only on (seed, name,
// i), so chunks can be generated in any order on any thread.
class DummyProvider : public TensorProvider {
 public:
  DummyProvider(const DummyWeightOptions& options, Backend& backend)
      : options_(options), backend_(backend), pool_(options.num_threads) {}

  absl::StatusOr<DType> Check(const std::string& name,
                              const std::vector<int64_t>& shape) override {
    return options_.dtype;
  }
  absl::Status CopyTo(const std::string& name, void* dst,
                      size_t nbytes) override;

 private:
  static constexpr int64_t kChunkElems = int64_t{1} << 22;

  void Generate(uint64_t key, bool ones, int64_t first, int64_t count,
                char* out) const;

  DummyWeightOptions options_;
  Backend& backend_;
  ThreadPool pool_;
  std::vector<char> staging_;
};

// Value i of a tensor approximates N(0, stddev) by a triangular variable (the
// sum of two 16-bit uniforms: mean 65536, variance 65536^2 / 6); one 64-bit
// hash of (key, i / 2) feeds values 2j and 2j + 1.
template <DType kType>
void Fill(uint64_t key, bool ones, float scale, int64_t first, int64_t count,
          char* out) {
  uint64_t r = 0;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t index = first + i;
    if (i == 0 || (index & 1) == 0) {
      r = SplitMix64(key + static_cast<uint64_t>(index >> 1));
    }
    const uint32_t half = static_cast<uint32_t>(r >> (32 * (index & 1)));
    const int32_t sum = static_cast<int32_t>((half & 0xffff) + (half >> 16));
    const float v = ones ? 1.0f : static_cast<float>(sum - 65536) * scale;
    if constexpr (kType == DType::kF32) {
      std::memcpy(out + 4 * i, &v, 4);
    } else {
      const uint16_t b =
          kType == DType::kBF16 ? kernels::F32ToBf16(v) : kernels::F32ToF16(v);
      std::memcpy(out + 2 * i, &b, 2);
    }
  }
}

void DummyProvider::Generate(uint64_t key, bool ones, int64_t first,
                             int64_t count, char* out) const {
  const float scale = options_.stddev * std::sqrt(6.0f) / 65536.0f;
  switch (options_.dtype) {
    case DType::kF32:
      return Fill<DType::kF32>(key, ones, scale, first, count, out);
    case DType::kBF16:
      return Fill<DType::kBF16>(key, ones, scale, first, count, out);
    default:
      return Fill<DType::kF16>(key, ones, scale, first, count, out);
  }
}

absl::Status DummyProvider::CopyTo(const std::string& name, void* dst,
                                   size_t nbytes) {
  const size_t elem = kernels::DTypeSize(options_.dtype);
  const int64_t numel = static_cast<int64_t>(nbytes / elem);
  // Norm weights (the only 1-D tensors) are all ones.
  const bool ones = name.find("norm") != std::string::npos;
  const uint64_t key = SplitMix64(options_.seed ^ Fnv1a(name));
  if (backend_.device_type() == kernels::DeviceType::kCpu) {
    // Device memory is host memory: generate in place, so the first touch of
    // the fresh pages is spread over the pool too.
    char* out = static_cast<char*>(dst);
    pool_.ParallelFor(numel, [&](int64_t b, int64_t e) {
      Generate(key, ones, b, e - b, out + b * elem);
    });
    return absl::OkStatus();
  }
  staging_.resize(std::min<int64_t>(numel, kChunkElems) * elem);
  for (int64_t begin = 0; begin < numel; begin += kChunkElems) {
    const int64_t count = std::min(kChunkElems, numel - begin);
    pool_.ParallelFor(count, [&](int64_t b, int64_t e) {
      Generate(key, ones, begin + b, e - b, staging_.data() + b * elem);
    });
    RETURN_IF_ERROR(backend_.CopyToDevice(
        static_cast<char*>(dst) + begin * elem, staging_.data(), count * elem,
        backend_.default_stream()));
    // The staging buffer is reused: wait for the (possibly async) copy.
    RETURN_IF_ERROR(backend_.Synchronize(backend_.default_stream()));
  }
  return absl::OkStatus();
}

struct Part {
  std::string name;
  std::vector<int64_t> shape;  // [rows, cols], or [n] for a lone 1-D part.
};

// Allocates one device weight holding `parts` concatenated along rows.
class WeightBuilder {
 public:
  WeightBuilder(TensorProvider& provider, Backend& backend)
      : provider_(provider), backend_(backend) {}

  absl::StatusOr<Weight> Build(const std::vector<Part>& parts);
  size_t total_bytes() const { return total_bytes_; }

 private:
  // Copies `parts` ([rows_i, cols] of `dtype` each), concatenated, to `dst`.
  absl::Status CopyParts(const std::vector<Part>& parts, int64_t cols,
                         DType dtype, void* dst);

  TensorProvider& provider_;
  Backend& backend_;
  size_t total_bytes_ = 0;
};

absl::StatusOr<Weight> WeightBuilder::Build(const std::vector<Part>& parts) {
  std::vector<DType> dtypes;
  int64_t rows = 0;
  for (const Part& p : parts) {
    ASSIGN_OR_RETURN(DType dt, provider_.Check(p.name, p.shape));
    if (!dtypes.empty() && dt != dtypes[0]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot fuse ", p.name, " (", kernels::DTypeName(dt), ") with ",
          parts[0].name, " (", kernels::DTypeName(dtypes[0]),
          "): fused weights need one dtype"));
    }
    dtypes.push_back(dt);
    rows += p.shape[0];
  }
  const DType stored = dtypes[0];
  const DType dtype = backend_.WeightDType(stored);
  const bool is_1d = parts[0].shape.size() == 1;
  const int64_t cols = is_1d ? 1 : parts[0].shape[1];
  const auto tensor = [&](void* data, DType dt) {
    return is_1d ? kernels::Tensor(data, dt, {rows})
                 : kernels::Tensor(data, dt, {rows, cols});
  };
  const size_t bytes = rows * cols * kernels::DTypeSize(dtype);
  Weight w;
  ASSIGN_OR_RETURN(w.buffer, backend_.Allocate(bytes));
  w.tensor = tensor(w.buffer.data(), dtype);
  if (dtype == stored) {
    RETURN_IF_ERROR(CopyParts(parts, cols, stored, w.buffer.data()));
  } else {
    // Cast once on the device. The staging buffer goes back to the backend's
    // allocator after the cast is enqueued: only later work on the same
    // (default) stream can reuse it.
    ASSIGN_OR_RETURN(
        kernels::DeviceBuffer staging,
        backend_.Allocate(rows * cols * kernels::DTypeSize(stored)));
    RETURN_IF_ERROR(CopyParts(parts, cols, stored, staging.data()));
    RETURN_IF_ERROR(backend_.Cast({tensor(staging.data(), stored), w.tensor},
                                  backend_.default_stream()));
  }
  total_bytes_ += bytes;
  return w;
}

absl::Status WeightBuilder::CopyParts(const std::vector<Part>& parts,
                                      int64_t cols, DType dtype, void* dst) {
  size_t offset = 0;
  for (const Part& p : parts) {
    const size_t part_bytes = p.shape[0] * cols * kernels::DTypeSize(dtype);
    RETURN_IF_ERROR(
        provider_.CopyTo(p.name, static_cast<char*>(dst) + offset, part_bytes));
    offset += part_bytes;
  }
  return absl::OkStatus();
}

absl::StatusOr<LlamaLayerWeights> BuildLayer(const ModelConfig& c, int layer,
                                             WeightBuilder& b) {
  const int64_t h = c.hidden_size, inter = c.intermediate_size;
  const int64_t q = c.q_size(), kv = c.kv_size();
  const std::string p = absl::StrCat("model.layers.", layer, ".");
  LlamaLayerWeights w;
  ASSIGN_OR_RETURN(w.input_norm,
                   b.Build({{p + "input_layernorm.weight", {h}}}));
  ASSIGN_OR_RETURN(w.qkv, b.Build({{p + "self_attn.q_proj.weight", {q, h}},
                                   {p + "self_attn.k_proj.weight", {kv, h}},
                                   {p + "self_attn.v_proj.weight", {kv, h}}}));
  ASSIGN_OR_RETURN(w.o_proj,
                   b.Build({{p + "self_attn.o_proj.weight", {h, q}}}));
  ASSIGN_OR_RETURN(w.post_norm,
                   b.Build({{p + "post_attention_layernorm.weight", {h}}}));
  ASSIGN_OR_RETURN(w.gate_up,
                   b.Build({{p + "mlp.gate_proj.weight", {inter, h}},
                            {p + "mlp.up_proj.weight", {inter, h}}}));
  ASSIGN_OR_RETURN(w.down, b.Build({{p + "mlp.down_proj.weight", {h, inter}}}));
  return w;
}

absl::StatusOr<LlamaWeights> BuildAll(const ModelConfig& c,
                                      TensorProvider& provider,
                                      Backend& backend) {
  if (c.qk_norm) {
    return absl::UnimplementedError(
        "qk_norm (Qwen3) is not supported by the Llama model yet");
  }
  const int64_t h = c.hidden_size, vocab = c.vocab_size;
  WeightBuilder b(provider, backend);
  LlamaWeights w;
  ASSIGN_OR_RETURN(w.embed,
                   b.Build({{"model.embed_tokens.weight", {vocab, h}}}));
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    ASSIGN_OR_RETURN(LlamaLayerWeights layer, BuildLayer(c, i, b));
    w.layers.push_back(std::move(layer));
  }
  ASSIGN_OR_RETURN(w.final_norm, b.Build({{"model.norm.weight", {h}}}));
  if (c.tie_word_embeddings) {
    w.lm_head.tensor = w.embed.tensor;
  } else {
    ASSIGN_OR_RETURN(w.lm_head, b.Build({{"lm_head.weight", {vocab, h}}}));
  }
  RETURN_IF_ERROR(backend.Synchronize(backend.default_stream()));
  w.total_bytes = b.total_bytes();
  return w;
}

}  // namespace

absl::StatusOr<LlamaWeights> LoadLlamaWeights(const ModelConfig& config,
                                              const WeightSource& source,
                                              Backend& backend) {
  RETURN_IF_ERROR(ValidateLlamaWeights(config, source));
  CheckpointProvider provider(source, backend);
  return BuildAll(config, provider, backend);
}

absl::StatusOr<LlamaWeights> MakeDummyLlamaWeights(
    const ModelConfig& config, const DummyWeightOptions& options,
    Backend& backend) {
  if (options.dtype == DType::kI32) {
    return absl::InvalidArgumentError("dummy weights need a float dtype");
  }
  DummyProvider provider(options, backend);
  return BuildAll(config, provider, backend);
}

}  // namespace infernum::models
