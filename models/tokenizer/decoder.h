// tokenizer.json "decoder" section: ByteLevel, Replace, ByteFallback, Fuse,
// Strip, Metaspace and Sequence, with the semantics of HF's Rust
// `decode_chain`: each decoder maps a list of token strings to a new list, and
// the final list is concatenated.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/tokenizer/json_util.h"

namespace infernum::models::tokenizer_internal {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Transforms the token strings in place. Output is valid UTF-8 whenever
  // the input strings are (byte-producing decoders replace invalid
  // sequences with U+FFFD).
  virtual void DecodeChain(std::vector<std::string>* tokens) const = 0;
};

// Builds a decoder from its JSON; null JSON yields nullptr (tokens are then
// joined with spaces, as HF does).
absl::StatusOr<std::unique_ptr<Decoder>> MakeDecoder(const Json& j);

}  // namespace infernum::models::tokenizer_internal
