// LlamaModel: the Llama / Mistral-layout decoder forward pass over a
// kernels::Backend, with a paged KV cache.
//
// One instance owns the device weights and a grow-on-demand activation
// workspace; it has no global state. Forward() is not thread-safe (one call
// at a time per instance).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "models/forward_batch.h"
#include "models/io/model_config.h"
#include "models/io/safetensors.h"
#include "models/kv_cache.h"
#include "models/llama/attention.h"
#include "models/llama/decode_graphs.h"
#include "models/llama/llama_weights.h"
#include "models/llama/step_inputs.h"

namespace infernum::models {

class LlamaModel {
 public:
  // Copies the checkpoint in `source` to `backend` (see LoadLlamaWeights for
  // the errors). `backend` must outlive the model.
  static absl::StatusOr<std::unique_ptr<LlamaModel>> Load(
      const ModelConfig& config, const WeightSource& source,
      kernels::Backend& backend);
  // Random weights of `dtype` with the shapes of `config` (--load-format
  // dummy), deterministic in `seed`.
  static absl::StatusOr<std::unique_ptr<LlamaModel>> LoadDummy(
      const ModelConfig& config, kernels::DType dtype, uint64_t seed,
      kernels::Backend& backend);

  // Runs one forward pass over the flattened `batch` (forward_batch.h).
  // Writes this step's keys/values into `kv_cache` at batch.slot_mapping and
  // reads each sequence's context through batch.block_tables. On success
  // `logits` is resized to logits_indices.size() * vocab_size and holds, row
  // by row, the f32 logits of the rows batch.logits_indices names (empty when
  // there are none). The work is complete (stream synchronized) on return.
  // InvalidArgument for a malformed batch, a cache whose layer count or
  // head shape does not match the model, or (Mistral) a context longer than
  // config.sliding_window, since windowed attention is not implemented.
  // `stream` may be null (the backend's default stream).
  absl::Status Forward(const ForwardBatch& batch, KvCache& kv_cache,
                       std::vector<float>& logits, kernels::Stream* stream);

  // Forward() without the copy to the host: enqueues the step on `stream`
  // (null: the default stream) and returns the [logits_indices.size(),
  // vocab_size] f32 logits on the device, valid until the next forward pass
  // (the caller may modify them). The work may still be running: order
  // later work on the same stream, or Synchronize. Same errors as Forward().
  // A plain decode step (IsPlainDecode) replays a CUDA graph when decode
  // graphs are configured; its logits are then rows [0, num_seqs) of the
  // padded bucket.
  absl::StatusOr<kernels::Tensor> ForwardDevice(const ForwardBatch& batch,
                                                KvCache& kv_cache,
                                                kernels::Stream* stream);

  // Turns the CUDA-graph decode path on or off (options.enabled) for later
  // forward passes and drops every captured graph. Without a CUDA backend it
  // only records the options (no graphs) unless options.pad_without_graphs.
  // Allocates the fixed graph-input buffer (ResourceExhausted if it does not
  // fit): call it before sizing the KV cache from free memory.
  // InvalidArgument for a non-positive batch size, context or block size.
  absl::Status ConfigureDecodeGraphs(const DecodeGraphOptions& options);
  // Instantiated CUDA graphs (0 without graphs).
  int num_decode_graphs() const;
  // Forward passes that took the padded decode path (graph replays,
  // captures, or eager padded runs).
  int64_t num_padded_decode_steps() const { return num_padded_decode_steps_; }

  ~LlamaModel();

  const ModelConfig& config() const { return config_; }
  const LlamaWeights& weights() const { return weights_; }
  kernels::Backend& backend() const { return backend_; }
  // The cache shape this model needs, in kv_cache_dtype().
  KvCacheShape MakeKvCacheShape(int num_blocks, int block_size) const;
  // Chooses the dtype of the caches MakeKvCacheShape describes (nullopt =
  // "auto", the activation dtype: the default). Call at setup, before any
  // cache is sized or created. InvalidArgument (naming the backend and
  // dtype, see ResolveKvCacheDType) when the backend's attention ops do not
  // accept it; the setting is then unchanged.
  absl::Status SetKvCacheDType(std::optional<kernels::DType> dtype);
  kernels::DType kv_cache_dtype() const { return kv_dtype_; }

 private:
  LlamaModel(const ModelConfig& config, LlamaWeights weights,
             kernels::Backend& backend);
  static absl::StatusOr<std::unique_ptr<LlamaModel>> Finish(
      const ModelConfig& config, absl::StatusOr<LlamaWeights> weights,
      kernels::Backend& backend);

  // Per-token activation buffers for up to `capacity_tokens` rows.
  struct Activations {
    kernels::Tensor residual, hidden, normed;  // [n, h]
    kernels::Tensor qkv, attn;                 // see AttentionArgs
    kernels::Tensor gate_up, act;              // see MlpArgs
  };
  // Buffers for the rows whose logits are wanted.
  struct LogitsBuffers {
    kernels::Tensor residual, hidden, normed;  // [m, h]
    kernels::Tensor logits_act;                // [m, V] act
    kernels::Tensor logits_f32;                // [m, V] f32 (may alias)
  };

  // Device views one forward pass reads (this step's inputs).
  struct StepViews {
    kernels::Tensor token_ids;       // [n] i32.
    kernels::Tensor logits_indices;  // [m] i32.
    AttentionMetadata meta;
  };
  struct GraphState;  // llama_decode_graphs.cc

  absl::Status EnsureWorkspace(int num_tokens, int num_logits, size_t num_meta);
  absl::Status UploadInputs(const ForwardBatch& batch, kernels::Stream* stream);
  // Enqueues the layers and the logits of the m wanted rows for n tokens.
  absl::Status EnqueueStep(const StepViews& v, int64_t n, int64_t m,
                           KvCache& kv_cache, kernels::Stream* stream);
  absl::Status RunLayers(const StepViews& v, int64_t n, KvCache& kv_cache,
                         kernels::Stream* stream);
  absl::Status ComputeLogits(const StepViews& v, int64_t n, int64_t m,
                             kernels::Stream* stream);
  // The padded decode path (llama_decode_graphs.cc); false in `*taken` when
  // the step does not qualify (then nothing was enqueued).
  absl::StatusOr<kernels::Tensor> ForwardDecodeGraph(const ForwardBatch& batch,
                                                     KvCache& kv_cache,
                                                     kernels::Stream* stream,
                                                     bool* taken);
  absl::Status CheckCache(const KvCache& kv_cache) const;

  ModelConfig config_;
  LlamaWeights weights_;
  kernels::Backend& backend_;
  kernels::DType act_dtype_;
  kernels::DType kv_dtype_;  // MakeKvCacheShape's dtype (default act_dtype_).
  kernels::DeviceBuffer inv_freq_buffer_;
  kernels::Tensor inv_freq_;

  // Workspace, grown on demand and reused across steps.
  int token_capacity_ = 0;
  int logits_capacity_ = 0;
  size_t meta_capacity_ = 0;  // i32 elements.
  kernels::DeviceBuffer token_buffer_;
  kernels::DeviceBuffer logits_buffer_;
  kernels::DeviceBuffer meta_buffer_;
  PackedStepInputs packed_;  // Host staging for the step's i32 arrays.
  StepViews views_;          // Device views into meta_buffer_ (this step).
  Activations act_;
  LogitsBuffers out_;
  // Bumped whenever token_buffer_ or logits_buffer_ is reallocated (graphs
  // captured before then point at freed memory).
  int64_t workspace_generation_ = 0;
  std::unique_ptr<GraphState> graphs_;  // Null: no padded decode path.
  int64_t num_padded_decode_steps_ = 0;
};

}  // namespace infernum::models
