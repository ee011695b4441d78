// The libFuzzer entry point every harness here defines. Built two ways:
// - with clang -fsanitize=fuzzer (tests/fuzz/run_libfuzzer.sh) to search
//   for inputs;
// - with replay_main.cc as a Bazel cc_test that runs the checked-in corpus
//   (corpus/<harness>/) through it, so CI replays every input found so far.
// A harness aborts (and so fails the test) when a property it checks does
// not hold; crashes and sanitizer reports fail it too.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
