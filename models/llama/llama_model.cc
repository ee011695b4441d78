#include "models/llama/llama_model.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "kernels/rope.h"
#include "models/llama/llama_graph_state.h"
#include "models/llama/mlp.h"

namespace infernum::models {

using kernels::DType;
using kernels::Tensor;

namespace {

constexpr size_t kAlign = 256;

size_t RoundUp(size_t x, size_t m) { return (x + m - 1) / m * m; }

// Carves aligned tensors out of one allocation. With a null base it only
// measures (the tensors it returns are then unusable).
class Carver {
 public:
  explicit Carver(void* base) : base_(static_cast<char*>(base)) {}
  Tensor Take(DType dtype, int64_t rows, int64_t cols) {
    Tensor t(base_ == nullptr ? nullptr : base_ + offset_, dtype, {rows, cols});
    offset_ += RoundUp(t.nbytes(), kAlign);
    return t;
  }
  size_t size() const { return offset_; }

 private:
  char* base_;
  size_t offset_ = 0;
};

// A [count] i32 device view `offset` elements into `base`.
Tensor I32At(const kernels::DeviceBuffer& base, size_t offset, int64_t count) {
  return Tensor(static_cast<int32_t*>(base.data()) + offset, DType::kI32,
                {count});
}

}  // namespace

LlamaModel::LlamaModel(const ModelConfig& config, LlamaWeights weights,
                       kernels::Backend& backend)
    : config_(config),
      weights_(std::move(weights)),
      backend_(backend),
      act_dtype_(backend.activation_dtype()),
      kv_dtype_(act_dtype_) {}

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Load(
    const ModelConfig& config, const WeightSource& source,
    kernels::Backend& backend) {
  return Finish(config, LoadLlamaWeights(config, source, backend), backend);
}

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::LoadDummy(
    const ModelConfig& config, DType dtype, uint64_t seed,
    kernels::Backend& backend) {
  DummyWeightOptions options;
  options.dtype = dtype;
  options.seed = seed;
  return Finish(config, MakeDummyLlamaWeights(config, options, backend),
                backend);
}

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Finish(
    const ModelConfig& config, absl::StatusOr<LlamaWeights> weights,
    kernels::Backend& backend) {
  if (!weights.ok()) return weights.status();
  ASSIGN_OR_RETURN(
      std::vector<float> inv_freq,
      kernels::ComputeRopeInvFreq(config.rope_theta, config.head_dim,
                                  config.rope_scaling));
  std::unique_ptr<LlamaModel> model(
      new LlamaModel(config, std::move(weights).value(), backend));
  const size_t bytes = inv_freq.size() * sizeof(float);
  ASSIGN_OR_RETURN(model->inv_freq_buffer_, backend.Allocate(bytes));
  model->inv_freq_ = Tensor(model->inv_freq_buffer_.data(), DType::kF32,
                            {static_cast<int64_t>(inv_freq.size())});
  kernels::Stream* stream = backend.default_stream();
  RETURN_IF_ERROR(backend.CopyToDevice(model->inv_freq_buffer_.data(),
                                       inv_freq.data(), bytes, stream));
  RETURN_IF_ERROR(backend.Synchronize(stream));
  return model;
}

KvCacheShape LlamaModel::MakeKvCacheShape(int num_blocks,
                                          int block_size) const {
  KvCacheShape shape;
  shape.num_layers = config_.num_hidden_layers;
  shape.num_blocks = num_blocks;
  shape.block_size = block_size;
  shape.num_kv_heads = config_.num_key_value_heads;
  shape.head_dim = config_.head_dim;
  shape.dtype = kv_dtype_;
  return shape;
}

absl::Status LlamaModel::SetKvCacheDType(std::optional<DType> dtype) {
  ASSIGN_OR_RETURN(kv_dtype_, ResolveKvCacheDType(backend_, dtype));
  return absl::OkStatus();
}

absl::Status LlamaModel::CheckCache(const KvCache& cache) const {
  const KvCacheShape& s = cache.shape();
  if (s.num_layers != config_.num_hidden_layers ||
      s.num_kv_heads != config_.num_key_value_heads ||
      s.head_dim != config_.head_dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KV cache (layers ", s.num_layers, ", kv heads ", s.num_kv_heads,
        ", head_dim ", s.head_dim, ") does not fit the model (layers ",
        config_.num_hidden_layers, ", kv heads ", config_.num_key_value_heads,
        ", head_dim ", config_.head_dim, ")"));
  }
  return absl::OkStatus();
}

absl::Status LlamaModel::EnsureWorkspace(int num_tokens, int num_logits,
                                         size_t num_meta) {
  const int64_t h = config_.hidden_size, inter = config_.intermediate_size;
  const int64_t vocab = config_.vocab_size;
  const int64_t qkv = config_.q_size() + 2 * config_.kv_size();
  // Measures a layout with a null base, allocates, then carves for real.
  // The old views die with the buffer: the capacity is 0 until the new
  // buffer is carved (a failed Allocate leaves nothing usable behind), and
  // the generation moves so that captured graphs are dropped.
  auto build = [this](kernels::DeviceBuffer& buffer, int& capacity,
                      auto&& layout) {
    capacity = 0;
    ++workspace_generation_;
    buffer.Reset();  // Free first: peak memory stays one workspace.
    Carver measure(nullptr);
    layout(measure);
    ASSIGN_OR_RETURN(buffer, backend_.Allocate(measure.size()));
    Carver carve(buffer.data());
    layout(carve);
    return absl::OkStatus();
  };
  if (num_tokens > token_capacity_) {
    const int64_t cap = RoundUp(num_tokens, 64);
    RETURN_IF_ERROR(build(token_buffer_, token_capacity_, [&](Carver& c) {
      act_.residual = c.Take(act_dtype_, cap, h);
      act_.hidden = c.Take(act_dtype_, cap, h);
      act_.normed = c.Take(act_dtype_, cap, h);
      act_.qkv = c.Take(act_dtype_, cap, qkv);
      act_.attn = c.Take(act_dtype_, cap, config_.q_size());
      act_.gate_up = c.Take(act_dtype_, cap, 2 * inter);
      act_.act = c.Take(act_dtype_, cap, inter);
    }));
    token_capacity_ = static_cast<int>(cap);
  }
  if (num_logits > logits_capacity_) {
    const int64_t cap = RoundUp(num_logits, 8);
    RETURN_IF_ERROR(build(logits_buffer_, logits_capacity_, [&](Carver& c) {
      out_.residual = c.Take(act_dtype_, cap, h);
      out_.hidden = c.Take(act_dtype_, cap, h);
      out_.normed = c.Take(act_dtype_, cap, h);
      out_.logits_act = c.Take(act_dtype_, cap, vocab);
      out_.logits_f32 = act_dtype_ == DType::kF32
                            ? out_.logits_act
                            : c.Take(DType::kF32, cap, vocab);
    }));
    logits_capacity_ = static_cast<int>(cap);
  }
  if (num_meta > meta_capacity_) {
    const size_t cap = std::max(num_meta, 2 * meta_capacity_);
    meta_capacity_ = 0;
    meta_buffer_.Reset();
    ASSIGN_OR_RETURN(meta_buffer_, backend_.Allocate(cap * sizeof(int32_t)));
    meta_capacity_ = cap;
  }
  return absl::OkStatus();
}

absl::Status LlamaModel::UploadInputs(const ForwardBatch& b,
                                      kernels::Stream* stream) {
  const PackedStepInputs& p = packed_;
  RETURN_IF_ERROR(backend_.CopyToDevice(meta_buffer_.data(), p.data.data(),
                                        p.data.size() * sizeof(int32_t),
                                        stream));
  const int64_t n = b.num_tokens(), num_seqs = b.num_seqs();
  views_.token_ids = I32At(meta_buffer_, p.token_ids_offset, n);
  views_.logits_indices = I32At(meta_buffer_, p.logits_indices_offset,
                                static_cast<int64_t>(b.logits_indices.size()));
  AttentionMetadata& m = views_.meta;
  m.positions = I32At(meta_buffer_, p.positions_offset, n);
  m.slot_mapping = I32At(meta_buffer_, p.slot_mapping_offset, n);
  m.block_tables = I32At(meta_buffer_, p.block_tables_offset,
                         num_seqs * b.max_blocks_per_seq)
                       .Reshape({num_seqs, b.max_blocks_per_seq});
  m.query_start_loc =
      I32At(meta_buffer_, p.query_start_loc_offset, num_seqs + 1);
  m.seq_lens = I32At(meta_buffer_, p.seq_lens_offset, num_seqs);
  m.num_seqs = static_cast<int>(num_seqs);
  m.max_query_len = p.max_query_len;
  m.max_seq_len = p.max_seq_len;
  return absl::OkStatus();
}

absl::Status LlamaModel::EnqueueStep(const StepViews& v, int64_t n, int64_t m,
                                     KvCache& kv_cache,
                                     kernels::Stream* stream) {
  RETURN_IF_ERROR(RunLayers(v, n, kv_cache, stream));
  return m == 0 ? absl::OkStatus() : ComputeLogits(v, n, m, stream);
}

absl::Status LlamaModel::RunLayers(const StepViews& v, int64_t n,
                                   KvCache& kv_cache, kernels::Stream* stream) {
  const Tensor residual = act_.residual.Rows(0, n);
  const Tensor hidden = act_.hidden.Rows(0, n);
  const Tensor normed = act_.normed.Rows(0, n);
  RETURN_IF_ERROR(backend_.Embedding(
      {weights_.embed.tensor, v.token_ids, residual}, stream));
  AttentionDims dims;
  dims.num_heads = config_.num_attention_heads;
  dims.num_kv_heads = config_.num_key_value_heads;
  dims.head_dim = config_.head_dim;
  dims.scale = 1.0f / std::sqrt(static_cast<float>(config_.head_dim));
  const float eps = config_.rms_norm_eps;
  for (int l = 0; l < config_.num_hidden_layers; ++l) {
    const LlamaLayerWeights& w = weights_.layers[l];
    // Layer 0 normalizes the embeddings; later layers first add the previous
    // MLP output into the residual stream.
    const bool first = l == 0;
    RETURN_IF_ERROR(backend_.RmsNorm(
        {first ? residual : hidden, first ? Tensor() : residual,
         w.input_norm.tensor, normed, eps},
        stream));
    AttentionArgs attn{normed,        w.qkv.tensor,  w.o_proj.tensor, inv_freq_,
                       kv_cache.k(l), kv_cache.v(l), &v.meta,         act_.qkv,
                       act_.attn,     hidden};
    RETURN_IF_ERROR(RunAttention(backend_, dims, attn, stream));
    RETURN_IF_ERROR(backend_.RmsNorm(
        {hidden, residual, w.post_norm.tensor, normed, eps}, stream));
    MlpArgs mlp{normed,
                w.gate_up.tensor,
                w.down.tensor,
                act_.gate_up.Rows(0, n),
                act_.act.Rows(0, n),
                hidden};
    RETURN_IF_ERROR(RunMlp(backend_, mlp, stream));
  }
  return absl::OkStatus();
}

absl::Status LlamaModel::ComputeLogits(const StepViews& v, int64_t n, int64_t m,
                                       kernels::Stream* stream) {
  // Only the wanted rows go through the final residual add, norm and head.
  const Tensor residual = out_.residual.Rows(0, m);
  const Tensor hidden = out_.hidden.Rows(0, m);
  const Tensor normed = out_.normed.Rows(0, m);
  RETURN_IF_ERROR(backend_.Embedding(
      {act_.residual.Rows(0, n), v.logits_indices, residual}, stream));
  RETURN_IF_ERROR(backend_.Embedding(
      {act_.hidden.Rows(0, n), v.logits_indices, hidden}, stream));
  RETURN_IF_ERROR(
      backend_.RmsNorm({hidden, residual, weights_.final_norm.tensor, normed,
                        config_.rms_norm_eps},
                       stream));
  const Tensor logits_act = out_.logits_act.Rows(0, m);
  RETURN_IF_ERROR(
      backend_.Matmul({normed, weights_.lm_head.tensor, logits_act}, stream));
  if (act_dtype_ == DType::kF32) return absl::OkStatus();
  return backend_.Cast({logits_act, out_.logits_f32.Rows(0, m)}, stream);
}

absl::Status LlamaModel::Forward(const ForwardBatch& batch, KvCache& kv_cache,
                                 std::vector<float>& logits,
                                 kernels::Stream* stream) {
  if (stream == nullptr) stream = backend_.default_stream();
  ASSIGN_OR_RETURN(const Tensor device_logits,
                   ForwardDevice(batch, kv_cache, stream));
  logits.resize(device_logits.numel());
  if (!logits.empty()) {
    RETURN_IF_ERROR(backend_.CopyToHost(logits.data(), device_logits.data,
                                        device_logits.nbytes(), stream));
  }
  return backend_.Synchronize(stream);
}

absl::StatusOr<Tensor> LlamaModel::ForwardDevice(const ForwardBatch& batch,
                                                 KvCache& kv_cache,
                                                 kernels::Stream* stream) {
  RETURN_IF_ERROR(CheckCache(kv_cache));
  RETURN_IF_ERROR(ValidateForwardBatch(batch, config_.vocab_size, kv_cache));
  if (stream == nullptr) stream = backend_.default_stream();
  PackStepInputs(batch, &packed_);
  if (config_.sliding_window && packed_.max_seq_len > *config_.sliding_window) {
    return absl::InvalidArgumentError(
        absl::StrCat("context of ", packed_.max_seq_len,
                     " tokens exceeds the model's sliding window (",
                     *config_.sliding_window, "), which is not implemented"));
  }
  bool taken = false;
  absl::StatusOr<Tensor> graphed =
      ForwardDecodeGraph(batch, kv_cache, stream, &taken);
  if (taken || !graphed.ok()) return graphed;
  const int n = batch.num_tokens();
  const int m = static_cast<int>(batch.logits_indices.size());
  RETURN_IF_ERROR(EnsureWorkspace(n, m, packed_.data.size()));
  RETURN_IF_ERROR(UploadInputs(batch, stream));
  RETURN_IF_ERROR(EnqueueStep(views_, n, m, kv_cache, stream));
  if (m == 0) return Tensor(nullptr, DType::kF32, {0, config_.vocab_size});
  return out_.logits_f32.Rows(0, m);
}

}  // namespace infernum::models
