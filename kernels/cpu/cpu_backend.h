// The CPU backend: the default Backend and the exact f32 reference the other
// backends are tested against.
//
// Activations are f32. The KV cache is f32 (activation_dtype(), the exact
// reference) or, if the caller allocates it so, bf16: WriteKvCache rounds to
// nearest even and attention widens exactly, halving cache memory and
// traffic. Weights may be f32, bf16 or f16. Ops run eagerly on the calling
// thread plus the backend's own thread pool; streams are trivially in order
// and Synchronize is a no-op. Kernels are chosen once at construction from the
// CPU's features (AVX-512, AVX2+FMA, or portable scalar code); every variant
// accumulates in f32, so they agree to rounding.
#pragma once

#include <memory>

#include "kernels/backend.h"

namespace infernum::kernels {

// Instruction sets the CPU kernels are written for, in increasing order.
enum class CpuIsa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// The best CpuIsa this CPU supports (avx512f/bw/vl/dq; avx2+fma+f16c; else
// scalar).
CpuIsa DetectCpuIsa();
const char* CpuIsaName(CpuIsa isa);

// Creates a CPU backend whose pool runs `num_threads` threads including the
// caller (0 = all cores), using the best ISA the CPU supports. Never fails.
std::unique_ptr<Backend> CreateCpuBackend(int num_threads);

// As above but never uses an ISA above `max_isa` (tests use this to cover the
// AVX2 and scalar kernels on an AVX-512 machine).
std::unique_ptr<Backend> CreateCpuBackend(int num_threads, CpuIsa max_isa);

}  // namespace infernum::kernels
