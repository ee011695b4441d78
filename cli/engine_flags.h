// Flags that configure the worker engine (KV cache and batching), shared by
// `infernum generate` and `infernum bench`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/args.h"
#include "worker/engine/engine_types.h"

namespace infernum::cli {

// --kv-cache-memory, --num-kv-blocks, --block-size, --max-num-seqs,
// --max-num-batched-tokens, --max-model-len, --enable-prefix-caching
// (--no-enable-prefix-caching), --chunked-prefill (--no-chunked-prefill).
const std::vector<FlagSpec>& EngineFlagSpecs();

// Parses "1073741824", "512M", "2G", "64KiB", ... (K/M/G/T, optional "iB"
// or "B", powers of 1024). InvalidArgument otherwise or when not positive.
absl::StatusOr<int64_t> ParseByteSize(const std::string& text);

// The engine config the flags describe. The KV cache is --num-kv-blocks
// blocks if given, else --kv-cache-memory bytes if given; with neither,
// num_blocks and kv_cache_memory_bytes stay 0 and the caller picks the size
// (see DefaultNumKvBlocks). InvalidArgument (naming the flag) for bad values.
absl::StatusOr<worker::EngineConfig> EngineConfigFromFlags(
    const ParsedArgs& args);

// Default KV cache size in blocks: enough for every request at once
// (`tokens_per_request` = prompt + max_tokens of each), at most what fits in
// kDefaultKvCacheBytes.
inline constexpr int64_t kDefaultKvCacheBytes = int64_t{1} << 30;
int DefaultNumKvBlocks(const std::vector<int64_t>& tokens_per_request,
                       int block_size, size_t bytes_per_block);

}  // namespace infernum::cli
