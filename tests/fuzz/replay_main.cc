// Replays a corpus through LLVMFuzzerTestOneInput (see fuzz_target.h):
//   <test> CORPUS_FILE...
// A corpus file holds one input per line, base64-encoded (blank lines and
// lines starting with '#' are skipped). Exits 1 on a malformed line or when
// no input was found (a corpus that went missing must not pass silently);
// an input that breaks a harness property aborts the process.
#include <array>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>

#include "tests/fuzz/fuzz_target.h"

namespace {

std::optional<std::string> DecodeBase64(const std::string& line) {
  std::array<int, 256> value;
  value.fill(-1);
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < alphabet.size(); ++i) {
    value[static_cast<unsigned char>(alphabet[i])] = static_cast<int>(i);
  }
  std::string out;
  uint32_t bits = 0;
  int num_bits = 0;
  for (const char c : line) {
    if (c == '=') break;
    const int v = value[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<uint32_t>(v);
    num_bits += 6;
    if (num_bits >= 8) {
      num_bits -= 8;
      out.push_back(static_cast<char>((bits >> num_bits) & 0xff));
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int num_inputs = 0;
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i]);
    if (!in) {
      std::fprintf(stderr, "cannot read %s\n", argv[i]);
      return 1;
    }
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      if (line.empty() || line[0] == '#') continue;
      const std::optional<std::string> data = DecodeBase64(line);
      if (!data.has_value()) {
        std::fprintf(stderr, "%s:%d: not base64\n", argv[i], n);
        return 1;
      }
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data->data()),
                             data->size());
      ++num_inputs;
    }
  }
  std::printf("replayed %d inputs\n", num_inputs);
  return num_inputs > 0 ? 0 : 1;
}
