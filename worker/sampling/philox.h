// Philox4x32-10 counter-based PRNG (Salmon et al., "Parallel random numbers:
// as easy as 1, 2, 3", SC'11), written from the published algorithm.
//
// The sampler derives every random draw from (key, counter) alone, so a draw
// depends only on the request's seed and the position being sampled: never on
// batch composition, thread, or how often the request was preempted.
#pragma once

#include <array>
#include <cstdint>

namespace infernum::worker {

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

// The 10-round Philox4x32 block function: a pure function of its inputs.
PhiloxCounter Philox4x32(PhiloxCounter counter, PhiloxKey key);

// Uniform double in [0, 1) with 53 random bits, from two 32-bit words.
double UniformFromWords(uint32_t hi, uint32_t lo);

}  // namespace infernum::worker
