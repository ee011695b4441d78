// Fuzz harness: tokenizer encode and decode on arbitrary bytes.
// Input: byte 0 picks the tokenizer and flags, the rest is the text; the
// same bytes, read 3 at a time, are also decoded as ids. Properties: no
// crash; ids that Encode returned always Decode.
#include <cstdlib>
#include <string_view>
#include <vector>

#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/tokenizers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const auto& all = infernum::fuzz::Tokenizers();
  const infernum::models::Tokenizer& t = *all[data[0] % all.size()];
  const std::string_view text(reinterpret_cast<const char*>(data + 1),
                              size - 1);
  auto ids = t.Encode(text, (data[0] & 8) != 0);
  if (ids.ok() && !t.Decode(*ids, (data[0] & 16) != 0).ok()) std::abort();
  std::vector<int32_t> raw;  // Includes ids past the vocabulary.
  for (size_t i = 1; i + 2 < size; i += 3) {
    raw.push_back((data[i] | data[i + 1] << 8 | data[i + 2] << 16) %
                  (t.vocab_size() + 2));
  }
  (void)t.Decode(raw, (data[0] & 16) != 0);
  return 0;
}
