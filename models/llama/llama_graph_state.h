// LlamaModel::GraphState: what the padded decode path keeps between steps
// (llama_decode_graphs.cc). Private to models/llama's .cc files.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/buffer.h"
#include "kernels/cuda/cuda_graphs.h"
#include "models/llama/llama_model.h"

namespace infernum::models {

struct LlamaModel::GraphState {
  DecodeGraphOptions options;
  // Disabled (eager) when the backend is not CUDA (pad_without_graphs).
  std::unique_ptr<kernels::CudaGraphCache> cache;
  kernels::DeviceBuffer inputs;  // The largest layout's i32 arrays.
  size_t input_capacity = 0;     // i32 elements.
  std::vector<int32_t> host;     // Staging for one step's inputs.
  // What the captured graphs point at: the workspace generation, and the KV
  // cache's shape and every layer's K/V address (KvIdentity in
  // llama_decode_graphs.cc). A change invalidates them.
  int64_t workspace_generation = -1;
  std::vector<uintptr_t> kv_identity;
};

}  // namespace infernum::models
