// The Llama SwiGLU MLP block over Backend ops:
// out = down(silu(gate(x)) * up(x)), with gate/up fused into one weight.
#pragma once

#include "absl/status/status.h"
#include "kernels/backend.h"

namespace infernum::models {

struct MlpArgs {
  kernels::Tensor x;               // [n, h] act: the normed hidden states.
  kernels::Tensor gate_up_weight;  // [2 I, h]: rows gate, then up.
  kernels::Tensor down_weight;     // [h, I].
  // Scratch, act dtype: gate_up [n, 2 I] and act [n, I]. Overwritten.
  kernels::Tensor gate_up_scratch;
  kernels::Tensor act_scratch;
  kernels::Tensor out;  // [n, h] act; must not alias x.
};

// Runs the MLP for the n rows of `args.x` into `args.out`.
absl::Status RunMlp(kernels::Backend& backend, const MlpArgs& args,
                    kernels::Stream* stream);

}  // namespace infernum::models
