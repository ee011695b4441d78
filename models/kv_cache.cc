#include "models/kv_cache.h"

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status.h"

namespace infernum::models {
namespace {

size_t BytesPerLayerBlock(const KvCacheShape& s) {
  return static_cast<size_t>(s.block_size) * s.num_kv_heads * s.head_dim *
         kernels::DTypeSize(s.dtype);
}

}  // namespace

size_t KvCacheShape::BytesPerBlock() const {
  return 2 * static_cast<size_t>(num_layers) * BytesPerLayerBlock(*this);
}

int64_t KvCache::NumBlocksThatFit(size_t bytes, const KvCacheShape& shape) {
  const size_t per_block = shape.BytesPerBlock();
  if (per_block == 0) return 0;
  return static_cast<int64_t>(bytes / per_block);
}

absl::StatusOr<KvCache> KvCache::Create(kernels::Backend& backend,
                                        const KvCacheShape& shape) {
  if (shape.num_layers <= 0 || shape.num_blocks <= 0 || shape.block_size <= 0 ||
      shape.num_kv_heads <= 0 || shape.head_dim <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid KV cache shape: layers=", shape.num_layers,
        " blocks=", shape.num_blocks, " block_size=", shape.block_size,
        " kv_heads=", shape.num_kv_heads, " head_dim=", shape.head_dim));
  }
  if (shape.dtype == kernels::DType::kI32) {
    return absl::InvalidArgumentError("KV cache dtype must be a float type");
  }
  KvCache cache;
  cache.shape_ = shape;
  const size_t layer_bytes = BytesPerLayerBlock(shape) * shape.num_blocks;
  kernels::Stream* stream = backend.default_stream();
  for (int l = 0; l < shape.num_layers; ++l) {
    for (auto* list : {&cache.k_, &cache.v_}) {
      ASSIGN_OR_RETURN(kernels::DeviceBuffer buf,
                       backend.Allocate(layer_bytes));
      RETURN_IF_ERROR(backend.Memset(buf.data(), 0, layer_bytes, stream));
      list->push_back(std::move(buf));
    }
  }
  RETURN_IF_ERROR(backend.Synchronize(stream));
  return cache;
}

kernels::Tensor KvCache::View(const kernels::DeviceBuffer& buffer) const {
  return kernels::Tensor(buffer.data(), shape_.dtype,
                         {shape_.num_blocks, shape_.block_size,
                          shape_.num_kv_heads, shape_.head_dim});
}

kernels::Tensor KvCache::k(int layer) const {
  CHECK(layer >= 0 && layer < shape_.num_layers) << "layer " << layer;
  return View(k_[layer]);
}

kernels::Tensor KvCache::v(int layer) const {
  CHECK(layer >= 0 && layer < shape_.num_layers) << "layer " << layer;
  return View(v_[layer]);
}

}  // namespace infernum::models
