// LlamaWeights: the device-resident weights of a Llama-layout model, loaded
// from a checkpoint or generated at random ("dummy" load format) for
// benchmarks at real shapes.
//
// Every tensor keeps its checkpoint dtype (f32/bf16/f16; the Matmul and
// Embedding ops accept all three). At load time q/k/v are fused into one
// [(nh + 2 nkv) * hd, h] weight (rows q, then k, then v) and gate/up into one
// [2 * I, h] weight (rows gate, then up), so the forward pass reads each with
// one matmul. With tied embeddings the lm head is a view of the embedding
// table (no copy).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "models/io/model_config.h"
#include "models/io/safetensors.h"

namespace infernum::models {

// One device weight: `tensor` views `buffer` (or, for a tied weight, another
// Weight's buffer, in which case `buffer` is empty).
struct Weight {
  kernels::DeviceBuffer buffer;
  kernels::Tensor tensor;
};

struct LlamaLayerWeights {
  Weight input_norm;  // [h]
  Weight qkv;         // [(nh + 2 nkv) * hd, h]
  Weight o_proj;      // [h, nh * hd]
  Weight post_norm;   // [h]
  Weight gate_up;     // [2 * I, h]
  Weight down;        // [h, I]
};

struct LlamaWeights {
  Weight embed;  // [V, h]
  std::vector<LlamaLayerWeights> layers;
  Weight final_norm;       // [h]
  Weight lm_head;          // [V, h]; views embed's buffer when tied.
  size_t total_bytes = 0;  // Device bytes owned by these weights.
};

// Validates `source` against `config` (ValidateLlamaWeights: every tensor
// present with the right shape, float dtype) and copies it to `backend`.
// InvalidArgument naming the tensor for a missing/misshapen tensor or for
// fused parts with different dtypes; ResourceExhausted when out of device
// memory. Unimplemented for qk_norm (Qwen3) configs. Synchronizes the
// backend's default stream before returning.
absl::StatusOr<LlamaWeights> LoadLlamaWeights(const ModelConfig& config,
                                              const WeightSource& source,
                                              kernels::Backend& backend);

struct DummyWeightOptions {
  kernels::DType dtype = kernels::DType::kBF16;  // f32, bf16 or f16.
  uint64_t seed = 0;
  float stddev = 0.02f;  // Of the (approximately normal) matrix entries.
  int num_threads = 0;   // Host threads generating values; 0 = all cores.
};

// Random weights with `config`'s shapes: matrices ~ N(0, stddev) (a
// triangular approximation), norm weights = 1. Deterministic for a given seed
// (independent of num_threads). Errors as LoadLlamaWeights.
absl::StatusOr<LlamaWeights> MakeDummyLlamaWeights(
    const ModelConfig& config, const DummyWeightOptions& options,
    kernels::Backend& backend);

}  // namespace infernum::models
