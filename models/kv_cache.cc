#include "models/kv_cache.h"

#include <string>

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

absl::StatusOr<std::optional<kernels::DType>> ParseKvCacheDType(
    std::string_view name) {
  if (name == "auto") return std::nullopt;
  if (name == "f32" || name == "float32") return kernels::DType::kF32;
  if (name == "bf16" || name == "bfloat16") return kernels::DType::kBF16;
  if (name == "f16" || name == "float16" || name == "half") {
    return kernels::DType::kF16;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown KV cache dtype '", std::string(name),
                   "' (expected auto, f32, bf16 or f16)"));
}

absl::StatusOr<kernels::DType> ResolveKvCacheDType(
    const kernels::Backend& backend, std::optional<kernels::DType> dtype) {
  const kernels::DType act = backend.activation_dtype();
  if (!dtype.has_value() || *dtype == act) return act;
  // The CPU attention ops widen a bf16 cache to f32 on read (and round on
  // write); every other backend needs the cache in its activation dtype.
  const bool cpu = backend.device_type() == kernels::DeviceType::kCpu;
  if (cpu && act == kernels::DType::kF32 && *dtype == kernels::DType::kBF16) {
    return *dtype;
  }
  const std::string supported =
      cpu && act == kernels::DType::kF32
          ? "f32 or bf16"
          : absl::StrCat(kernels::DTypeName(act), " only");
  return absl::InvalidArgumentError(
      absl::StrCat("KV cache dtype ", kernels::DTypeName(*dtype),
                   " is not supported on the ", cpu ? "cpu" : "cuda",
                   " backend (supported: auto, ", supported, ")"));
}

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
