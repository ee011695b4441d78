// Content hash of one KV-cache block, shared by the worker's prefix cache and
// the router's prefix-aware routing. A block of token ids is identified by
// HashBlockTokens(parent_hash, tokens) where parent_hash is the hash of the
// previous block of the same sequence (kRootBlockHash for the first block), so
// equal hashes mean "same tokens with the same prefix" (up to collisions,
// which the BlockManager detects by comparing stored tokens).
//
// This is a stable, platform-independent format: the router and every worker
// must compute identical values. Bump kBlockHashVersion on any change.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace infernum::worker {

using BlockHash = uint64_t;

inline constexpr int kBlockHashVersion = 1;

// Parent hash of the first block of every sequence. (Later: mix per-request
// salts such as a LoRA id into the root to keep their caches apart.)
inline constexpr BlockHash kRootBlockHash = 0x6a09e667f3bcc908ULL;

// Pure function of (parent_hash, tokens): a 64-bit mixing hash over the token
// values (not bytes, so endianness does not matter) and the token count.
BlockHash HashBlockTokens(BlockHash parent_hash,
                          std::span<const int32_t> tokens);

// Hashes of the FULL blocks of `tokens` (tokens.size() / block_size of them;
// a trailing partial block is never hashed), chained from `root`. Element j
// covers tokens [j * block_size, (j + 1) * block_size). block_size must be
// > 0 (CHECKed).
std::vector<BlockHash> HashFullBlocks(std::span<const int32_t> tokens,
                                      int block_size,
                                      BlockHash root = kRootBlockHash);

}  // namespace infernum::worker
