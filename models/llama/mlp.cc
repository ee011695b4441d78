#include "models/llama/mlp.h"

#include "common/status.h"

namespace infernum::models {

absl::Status RunMlp(kernels::Backend& backend, const MlpArgs& args,
                    kernels::Stream* stream) {
  RETURN_IF_ERROR(backend.Matmul(
      {args.x, args.gate_up_weight, args.gate_up_scratch}, stream));
  RETURN_IF_ERROR(
      backend.SiluMul({args.gate_up_scratch, args.act_scratch}, stream));
  return backend.Matmul({args.act_scratch, args.down_weight, args.out}, stream);
}

}  // namespace infernum::models
