// LlamaModel's padded decode path: plain decode steps padded to a bucket,
// their inputs uploaded into one fixed buffer, and the step replayed from a
// CUDA graph captured per (batch bucket, context bucket). See
// decode_graphs.h for the bucketing and kernels/cuda/cuda_graphs.h for the
// rules a captured step follows.
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "kernels/cuda/cuda_backend.h"
#include "models/llama/llama_graph_state.h"
#include "models/llama/llama_model.h"

namespace infernum::models {

using kernels::DType;
using kernels::Tensor;

LlamaModel::~LlamaModel() = default;

int LlamaModel::num_decode_graphs() const {
  return graphs_ == nullptr ? 0 : graphs_->cache->num_graphs();
}

absl::Status LlamaModel::ConfigureDecodeGraphs(const DecodeGraphOptions& o) {
  if (o.max_batch_size <= 0 || o.max_context <= 0 || o.block_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "decode graphs need a positive max batch size, context and block "
        "size (got ",
        o.max_batch_size, ", ", o.max_context, ", ", o.block_size, ")"));
  }
  graphs_.reset();
  kernels::CudaBackend* cuda = kernels::AsCudaBackend(&backend_);
  if (!o.enabled || (cuda == nullptr && !o.pad_without_graphs)) {
    return absl::OkStatus();
  }
  auto state = std::make_unique<GraphState>();
  state->options = o;
  state->cache =
      std::make_unique<kernels::CudaGraphCache>(cuda, cuda != nullptr);
  const DecodeGraphLayout largest = MakeDecodeGraphLayout(
      DecodeBatchBucket(o.max_batch_size),
      DecodeContextBucket(o.max_context, o.max_context), o.block_size);
  ASSIGN_OR_RETURN(state->inputs,
                   backend_.Allocate(largest.num_elements * sizeof(int32_t)));
  state->input_capacity = largest.num_elements;
  graphs_ = std::move(state);
  return absl::OkStatus();
}

namespace {

Tensor I32View(const kernels::DeviceBuffer& base, size_t offset,
               int64_t count) {
  return Tensor(static_cast<int32_t*>(base.data()) + offset, DType::kI32,
                {count});
}

// What captured graphs bake in from the KV cache: every layer's K/V address
// and the shape (a new cache at the same addresses but another size counts
// as a move).
std::vector<uintptr_t> KvIdentity(const KvCache& cache) {
  const KvCacheShape& s = cache.shape();
  std::vector<uintptr_t> out = {static_cast<uintptr_t>(s.num_blocks),
                                static_cast<uintptr_t>(s.block_size),
                                static_cast<uintptr_t>(s.num_kv_heads),
                                static_cast<uintptr_t>(s.head_dim),
                                static_cast<uintptr_t>(s.dtype)};
  for (int l = 0; l < s.num_layers; ++l) {
    out.push_back(reinterpret_cast<uintptr_t>(cache.k(l).data));
    out.push_back(reinterpret_cast<uintptr_t>(cache.v(l).data));
  }
  return out;
}

}  // namespace

absl::StatusOr<Tensor> LlamaModel::ForwardDecodeGraph(const ForwardBatch& batch,
                                                      KvCache& kv_cache,
                                                      kernels::Stream* stream,
                                                      bool* taken) {
  *taken = false;
  if (graphs_ == nullptr || !IsPlainDecode(batch)) return Tensor();
  GraphState& g = *graphs_;
  const int n = batch.num_seqs();
  if (n > g.options.max_batch_size ||
      packed_.max_seq_len > g.options.max_context) {
    return Tensor();
  }
  const int bucket = DecodeBatchBucket(n);
  const DecodeGraphLayout layout = MakeDecodeGraphLayout(
      bucket, DecodeContextBucket(packed_.max_seq_len, g.options.max_context),
      kv_cache.shape().block_size);
  if (layout.num_elements > g.input_capacity) return Tensor();
  *taken = true;
  RETURN_IF_ERROR(EnsureWorkspace(bucket, bucket, 0));
  std::vector<uintptr_t> kv = KvIdentity(kv_cache);
  if (g.workspace_generation != workspace_generation_ || g.kv_identity != kv) {
    g.cache->Clear();
    g.workspace_generation = workspace_generation_;
    g.kv_identity = std::move(kv);
  }
  PackDecodeGraphInputs(batch, layout, &g.host);
  RETURN_IF_ERROR(backend_.CopyToDevice(g.inputs.data(), g.host.data(),
                                        layout.num_elements * sizeof(int32_t),
                                        stream));
  StepViews v;
  v.token_ids = I32View(g.inputs, layout.token_ids, bucket);
  v.logits_indices = I32View(g.inputs, layout.logits_indices, bucket);
  AttentionMetadata& m = v.meta;
  m.positions = I32View(g.inputs, layout.positions, bucket);
  m.slot_mapping = I32View(g.inputs, layout.slot_mapping, bucket);
  m.block_tables = I32View(g.inputs, layout.block_tables,
                           static_cast<int64_t>(bucket) * layout.table_width)
                       .Reshape({bucket, layout.table_width});
  m.query_start_loc = I32View(g.inputs, layout.query_start_loc, bucket + 1);
  m.seq_lens = I32View(g.inputs, layout.seq_lens, bucket);
  m.num_seqs = bucket;
  m.max_query_len = 1;
  m.max_seq_len = layout.context;
  const int64_t key = (static_cast<int64_t>(bucket) << 32) | layout.context;
  RETURN_IF_ERROR(g.cache->Run(key, stream, [&] {
    return EnqueueStep(v, bucket, bucket, kv_cache, stream);
  }));
  ++num_padded_decode_steps_;
  return out_.logits_f32.Rows(0, n);
}

}  // namespace infernum::models
