#include "cli/engine_flags.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace infernum::cli {

const std::vector<FlagSpec>& EngineFlagSpecs() {
  static const auto* specs = new std::vector<FlagSpec>{
      {"kv-cache-memory", FlagType::kString,
       "KV cache size in bytes (suffix K/M/G ok; default: what the run needs, "
       "at most 1G)"},
      {"num-kv-blocks", FlagType::kInt,
       "KV cache size in blocks (overrides --kv-cache-memory)"},
      {"block-size", FlagType::kInt, "KV block size in tokens (default 16)"},
      {"max-num-seqs", FlagType::kInt,
       "most requests batched at once (default 256)"},
      {"max-num-batched-tokens", FlagType::kInt,
       "token budget per step (default 2048)"},
      {"max-model-len", FlagType::kInt,
       "prompt + output limit (default: the model's context)"},
      {"enable-prefix-caching", FlagType::kBool,
       "reuse KV of shared prompt prefixes (default on; "
       "--no-enable-prefix-caching)"},
      {"chunked-prefill", FlagType::kBool,
       "split long prompts across steps (default on; --no-chunked-prefill)"},
  };
  return *specs;
}

absl::StatusOr<int64_t> ParseByteSize(const std::string& text) {
  size_t end = 0;
  while (end < text.size() &&
         std::isdigit(static_cast<unsigned char>(text[end])))
    ++end;
  std::string suffix = text.substr(end);
  for (char& c : suffix)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  int shift = -1;
  for (const auto& [name, s] :
       std::vector<std::pair<std::string, int>>{{"", 0},
                                                {"B", 0},
                                                {"K", 10},
                                                {"KB", 10},
                                                {"KIB", 10},
                                                {"M", 20},
                                                {"MB", 20},
                                                {"MIB", 20},
                                                {"G", 30},
                                                {"GB", 30},
                                                {"GIB", 30},
                                                {"T", 40},
                                                {"TB", 40},
                                                {"TIB", 40}}) {
    if (suffix == name) shift = s;
  }
  int64_t value = 0;
  if (end == 0 || shift < 0 || !absl::SimpleAtoi(text.substr(0, end), &value) ||
      value <= 0 || value > (int64_t{1} << (62 - shift))) {
    return absl::InvalidArgumentError(
        absl::StrCat("--kv-cache-memory: expected a positive byte count such "
                     "as 536870912 or 512M, got '",
                     text, "'"));
  }
  return value << shift;
}

absl::StatusOr<worker::EngineConfig> EngineConfigFromFlags(
    const ParsedArgs& a) {
  worker::EngineConfig c;
  auto positive = [&](const char* flag, int64_t fallback, int64_t max,
                      int* out) -> absl::Status {
    const int64_t v = a.GetInt(flag, fallback);
    if (v < 1 || v > max) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, " must be in [1, ", max, "]"));
    }
    *out = static_cast<int>(v);
    return absl::OkStatus();
  };
  constexpr int64_t kMax = 1 << 24;
  if (auto st = positive("block-size", 16, 4096, &c.block_size); !st.ok())
    return st;
  if (auto st = positive("max-num-seqs", 256, 65536, &c.max_num_seqs); !st.ok())
    return st;
  if (auto st = positive("max-num-batched-tokens", 2048, kMax,
                         &c.max_num_batched_tokens);
      !st.ok()) {
    return st;
  }
  if (a.Has("max-model-len")) {
    if (auto st = positive("max-model-len", 0, kMax, &c.max_model_len);
        !st.ok())
      return st;
  }
  if (a.Has("num-kv-blocks")) {
    if (auto st = positive("num-kv-blocks", 0, kMax, &c.num_blocks); !st.ok())
      return st;
  } else if (a.Has("kv-cache-memory")) {
    auto bytes = ParseByteSize(a.GetString("kv-cache-memory", ""));
    if (!bytes.ok()) return bytes.status();
    c.kv_cache_memory_bytes = *bytes;
  }
  c.enable_prefix_caching = a.GetBool("enable-prefix-caching", true);
  c.enable_chunked_prefill = a.GetBool("chunked-prefill", true);
  return c;
}

int DefaultNumKvBlocks(const std::vector<int64_t>& tokens_per_request,
                       int block_size, size_t bytes_per_block) {
  int64_t blocks = 0;
  for (int64_t t : tokens_per_request)
    blocks += (t + block_size - 1) / block_size;
  const int64_t cap = std::max<int64_t>(
      1, kDefaultKvCacheBytes / std::max<size_t>(1, bytes_per_block));
  return static_cast<int>(std::clamp<int64_t>(blocks, 1, cap));
}

}  // namespace infernum::cli
