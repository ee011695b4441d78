// Test-only helpers for //models/io: locating shared test data, scratch
// directories, and a minimal independent safetensors writer.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace infernum::models::testing {

// $INFERNUM_SHARED if set, else /work/shared. Models live under "<it>/models".
std::string SharedDir();
// <SharedDir()>/models/stories260K.
std::string Stories260KDir();

// A fresh empty directory under $TEST_TMPDIR (or /tmp), unique per call.
std::string MakeTempDir();
// Writes `contents` to `path`, replacing it; aborts the test binary on failure.
void WriteFile(const std::string& path, const std::string& contents);

struct RawTensor {
  std::string name;
  std::string dtype;  // Safetensors dtype string, written verbatim.
  std::vector<int64_t> shape;
  std::string bytes;  // Raw little-endian data.
};

// A well-formed safetensors file: tensors laid out back to back in the given
// order, header padded with spaces to a multiple of 8.
std::string SerializeSafetensors(
    const std::vector<RawTensor>& tensors,
    const std::map<std::string, std::string>& metadata = {});

// Frames an arbitrary header: 8-byte little-endian length (`declared_len`, or
// header.size() when unset), the header bytes, then `data`.
std::string FrameSafetensors(
    const std::string& header, const std::string& data,
    std::optional<uint64_t> declared_len = std::nullopt);

// `n` f32 values as raw bytes: value i is start + i * step.
std::string F32Bytes(int64_t n, float start = 0.0f, float step = 1.0f);

}  // namespace infernum::models::testing
