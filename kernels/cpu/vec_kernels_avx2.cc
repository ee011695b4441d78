// TODO(phase 2): Avx2 vector kernels; uses the scalar ones for now.
#include "kernels/cpu/vec_kernels.h"

namespace infernum::kernels::cpu {
const VecKernels& Avx2VecKernels() { return ScalarVecKernels(); }
}  // namespace infernum::kernels::cpu
