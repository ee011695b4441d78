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
// accumulates in f32, so they agree to rounding. Matmuls with bf16 weights
// may opt into bf16 activations (CpuMatmulPrecision::kBf16).
#pragma once

#include <memory>
#include <string_view>

#include "kernels/backend.h"

namespace infernum::kernels {

// Instruction sets the CPU kernels are written for, in increasing order.
enum class CpuIsa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// The best CpuIsa this CPU supports (avx512f/bw/vl/dq; avx2+fma+f16c; else
// scalar).
CpuIsa DetectCpuIsa();
const char* CpuIsaName(CpuIsa isa);

// Whether the CPU has AVX512-BF16 (vdpbf16ps) on top of CpuIsa::kAvx512.
bool CpuHasAvx512Bf16();

// The arithmetic of Matmul with bf16 weights.
enum class CpuMatmulPrecision {
  // Exact: x stays f32, w is widened exactly, f32 FMAs (the reference).
  kF32,
  // llama.cpp-style (opt-in): x is rounded to bf16 (nearest even) first and
  // the dot products follow AVX512-BF16 vdpbf16ps (exact bf16 products, f32
  // accumulation in pairs, denormals flushed); see matmul_kernels.h. The
  // same bits on every CPU (vdpbf16ps or an exact emulation) and for every
  // row whatever the batch. f32 and f16 weights keep the exact path.
  kBf16,
};

// "f32" / "bf16".
const char* CpuMatmulPrecisionName(CpuMatmulPrecision precision);
// Parses CpuMatmulPrecisionName's output; false for anything else.
bool ParseCpuMatmulPrecision(std::string_view name,
                             CpuMatmulPrecision* precision);

struct CpuBackendOptions {
  // Threads in the pool including the caller; 0 = all cores.
  int num_threads = 0;
  // Never use an ISA above this (tests use it to cover the AVX2 and scalar
  // kernels on an AVX-512 machine).
  CpuIsa max_isa = CpuIsa::kAvx512;
  // Use vdpbf16ps when the CPU has it; false forces its exact emulation.
  bool allow_avx512_bf16 = true;
  CpuMatmulPrecision matmul_precision = CpuMatmulPrecision::kF32;
};

// Creates a CPU backend with the best ISA the CPU supports within `options`.
// Never fails.
std::unique_ptr<Backend> CreateCpuBackend(const CpuBackendOptions& options);

// Shorthands for CreateCpuBackend({num_threads}) and
// CreateCpuBackend({num_threads, max_isa}).
std::unique_ptr<Backend> CreateCpuBackend(int num_threads);
std::unique_ptr<Backend> CreateCpuBackend(int num_threads, CpuIsa max_isa);

}  // namespace infernum::kernels
