// TODO(phase 2): Avx2 matmul kernel; uses the scalar kernel for now.
#include "kernels/cpu/matmul_kernels.h"

namespace infernum::kernels::cpu {
const MatmulKernel& Avx2MatmulKernel() { return ScalarMatmulKernel(); }
}  // namespace infernum::kernels::cpu
