#include "worker/engine/block_hash.h"

#include "common/logging.h"

namespace infernum::worker {
namespace {

constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ULL;
constexpr uint64_t kPrime2 = 0xC2B2AE3D27D4EB4FULL;
constexpr uint64_t kPrime3 = 0x165667B19E3779F9ULL;

constexpr uint64_t RotateLeft(uint64_t x, int r) {
  return (x << r) | (x >> (64 - r));
}

// Final avalanche: every input bit affects every output bit.
constexpr uint64_t Avalanche(uint64_t x) {
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDULL;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ULL;
  x ^= x >> 33;
  return x;
}

}  // namespace

BlockHash HashBlockTokens(BlockHash parent_hash,
                          std::span<const int32_t> tokens) {
  uint64_t h = Avalanche(parent_hash ^ kPrime3) + kPrime1 * tokens.size();
  for (int32_t token : tokens) {
    const uint64_t v = static_cast<uint64_t>(static_cast<uint32_t>(token));
    h ^= RotateLeft(v * kPrime2 + kPrime3, 31) * kPrime1;
    h = RotateLeft(h, 27) * kPrime1 + kPrime2;
  }
  return Avalanche(h);
}

std::vector<BlockHash> HashFullBlocks(std::span<const int32_t> tokens,
                                      int block_size, BlockHash root) {
  CHECK(block_size > 0) << "block_size " << block_size;
  const size_t num_full = tokens.size() / block_size;
  std::vector<BlockHash> hashes;
  hashes.reserve(num_full);
  BlockHash parent = root;
  for (size_t j = 0; j < num_full; ++j) {
    parent =
        HashBlockTokens(parent, tokens.subspan(j * block_size, block_size));
    hashes.push_back(parent);
  }
  return hashes;
}

}  // namespace infernum::worker
