// Rotary embedding frequencies, computed on the host once per model, the way
// Hugging Face transformers does (_compute_default_rope_parameters and the
// "linear" and "llama3" variants), in f32.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace infernum::kernels {

struct RopeScaling {
  std::string type = "default";  // "default" | "linear" | "llama3".
  float factor = 1.0f;
  float low_freq_factor = 1.0f;                 // llama3 only.
  float high_freq_factor = 4.0f;                // llama3 only.
  int original_max_position_embeddings = 8192;  // llama3 only.
};

// inv_freq[j] = 1 / theta^(2j / rotary_dim), then scaled per `scaling`.
// InvalidArgument for an unknown type or non-positive factors.
absl::StatusOr<std::vector<float>> ComputeRopeInvFreq(
    float theta, int rotary_dim, const RopeScaling& scaling);

}  // namespace infernum::kernels
