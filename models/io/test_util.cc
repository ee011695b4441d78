#include "models/io/test_util.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/logging.h"

namespace infernum::models::testing {

std::string SharedDir() {
  const char* env = std::getenv("INFERNUM_SHARED");
  return (env != nullptr && *env != '\0') ? std::string(env)
                                          : std::string("/work/shared");
}

std::string Stories260KDir() { return SharedDir() + "/models/stories260K"; }

std::string MakeTempDir() {
  const char* env = std::getenv("TEST_TMPDIR");
  std::string tmpl =
      std::string(env != nullptr && *env != '\0' ? env : "/tmp") +
      "/models_io_XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  CHECK(::mkdtemp(buf.data()) != nullptr) << "mkdtemp failed for " << tmpl;
  return std::string(buf.data());
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  CHECK(out.good()) << "cannot write " << path;
}

std::string SerializeSafetensors(
    const std::vector<RawTensor>& tensors,
    const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string data;
  for (const RawTensor& t : tensors) {
    const uint64_t begin = data.size();
    data += t.bytes;
    header[t.name] = {
        {"dtype", t.dtype},
        {"shape", t.shape},
        {"data_offsets", {begin, static_cast<uint64_t>(data.size())}}};
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  return FrameSafetensors(text, data);
}

std::string FrameSafetensors(const std::string& header, const std::string& data,
                             std::optional<uint64_t> declared_len) {
  const uint64_t len = declared_len.value_or(header.size());
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string F32Bytes(int64_t n, float start, float step) {
  std::string out(static_cast<size_t>(n) * 4, '\0');
  for (int64_t i = 0; i < n; ++i) {
    const float v = start + static_cast<float>(i) * step;
    std::memcpy(&out[static_cast<size_t>(i) * 4], &v, 4);
  }
  return out;
}

}  // namespace infernum::models::testing
