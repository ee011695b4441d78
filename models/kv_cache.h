// KvCache: the paged key/value cache of one model replica on one backend.
//
// For every layer it owns one K and one V DeviceBuffer of shape
// [num_blocks, block_size, num_kv_heads, head_dim] in the cache dtype
// (normally Backend::activation_dtype()). A token at KV slot s lives in block
// s / block_size at offset s % block_size (see models/forward_batch.h). The
// cache only stores memory: which blocks belong to which sequence is decided
// by the caller (the engine's block manager, or SimpleGenerate).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"

namespace infernum::models {

struct KvCacheShape {
  int num_layers = 0;
  int num_blocks = 0;
  int block_size = 16;  // Tokens per block.
  int num_kv_heads = 0;
  int head_dim = 0;
  kernels::DType dtype = kernels::DType::kF32;

  // Bytes one block takes over all layers, K and V together.
  size_t BytesPerBlock() const;
};

// The user-facing KV cache dtype setting (--kv-cache-dtype, the worker's
// kv_cache_dtype): "auto" (nullopt: the backend's activation dtype), "f32"
// ("float32"), "bf16" ("bfloat16"), "f16" ("float16", "half").
// InvalidArgument naming the value and the accepted names otherwise.
absl::StatusOr<std::optional<kernels::DType>> ParseKvCacheDType(
    std::string_view name);

// The KV cache dtype a setting resolves to on `backend`: the activation dtype
// for nullopt ("auto"), else `dtype` when the backend's WriteKvCache and
// PagedAttention accept it: cpu f32 or bf16 (kernels/cpu/attention.cc); cuda
// only its activation dtype, bf16 (kernels/cuda/cuda_attention_op.cc).
// InvalidArgument naming the backend and the dtype otherwise.
absl::StatusOr<kernels::DType> ResolveKvCacheDType(
    const kernels::Backend& backend, std::optional<kernels::DType> dtype);

class KvCache {
 public:
  // Allocates (and zeroes) the cache on `backend`. InvalidArgument for a
  // non-positive dimension or an index dtype; ResourceExhausted when the
  // device runs out of memory.
  static absl::StatusOr<KvCache> Create(kernels::Backend& backend,
                                        const KvCacheShape& shape);

  // How many blocks of `shape` (num_blocks ignored) fit in `bytes`.
  static int64_t NumBlocksThatFit(size_t bytes, const KvCacheShape& shape);

  KvCache(KvCache&&) = default;
  KvCache& operator=(KvCache&&) = default;

  // [num_blocks, block_size, num_kv_heads, head_dim] views of layer `layer`.
  kernels::Tensor k(int layer) const;
  kernels::Tensor v(int layer) const;

  const KvCacheShape& shape() const { return shape_; }
  int num_layers() const { return shape_.num_layers; }
  int num_blocks() const { return shape_.num_blocks; }
  int block_size() const { return shape_.block_size; }
  // Total token capacity: num_blocks * block_size.
  int64_t num_slots() const {
    return static_cast<int64_t>(shape_.num_blocks) * shape_.block_size;
  }

 private:
  KvCache() = default;
  kernels::Tensor View(const kernels::DeviceBuffer& buffer) const;

  KvCacheShape shape_;
  std::vector<kernels::DeviceBuffer> k_;
  std::vector<kernels::DeviceBuffer> v_;
};

}  // namespace infernum::models
