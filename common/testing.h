// Test-only helpers: where the shared test data lives.
#pragma once

#include <cstdlib>
#include <string>

namespace infernum::testing {

// The shared data folder (models, tokenizers): $INFERNUM_SHARED when set (the
// test script sets it to ../shared next to the repo), else /work/shared.
inline std::string SharedDir() {
  const char* env = std::getenv("INFERNUM_SHARED");
  return (env != nullptr && *env != '\0') ? std::string(env)
                                          : std::string("/work/shared");
}

inline std::string SharedModelsDir() { return SharedDir() + "/models"; }

// A writable scratch directory for the test ($TEST_TMPDIR under Bazel).
inline std::string TempDir() {
  const char* env = std::getenv("TEST_TMPDIR");
  return (env != nullptr && *env != '\0') ? std::string(env)
                                          : std::string("/tmp");
}

}  // namespace infernum::testing
