#include "kernels/backend.h"

#include "common/status.h"
#include "kernels/op_checks.h"

namespace infernum::kernels {

absl::Status Backend::SplitMatmul(const SplitMatmulParams& p, Stream* stream) {
  RETURN_IF_ERROR(CheckSplitMatmul(p));
  int64_t row = 0;
  for (int i = 0; i < p.num_outs; ++i) {
    const int64_t n = p.outs[i].dim(1);
    RETURN_IF_ERROR(Matmul({p.x, p.w.Rows(row, n), p.outs[i]}, stream));
    row += n;
  }
  return absl::OkStatus();
}

}  // namespace infernum::kernels
