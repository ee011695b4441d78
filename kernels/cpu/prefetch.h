// Internal to the CPU backend: software prefetches the compiler cannot drop.
//
// GCC 12's IPA mod-ref analysis treats __builtin_prefetch as free of side
// effects, so a call to a helper that only prefetches (e.g. "prefetch the next
// block") is deleted as dead code at -O2. These wrappers use volatile asm,
// which is never deleted.
#pragma once

namespace infernum::kernels::cpu {

// Prefetches the cache line at p into L1 (and L2).
inline void PrefetchL1(const void* p) {
#if defined(__x86_64__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 0, 3);
#endif
}

// Prefetches the cache line at p into L2.
inline void PrefetchL2(const void* p) {
#if defined(__x86_64__)
  asm volatile("prefetcht1 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 0, 2);
#endif
}

}  // namespace infernum::kernels::cpu
