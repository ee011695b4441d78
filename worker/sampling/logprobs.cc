#include "worker/sampling/logprobs.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace infernum::worker {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// log(sum(exp(logits))): the softmax normalizer in log space.
double LogSumExp(absl::Span<const float> logits) {
  float max_logit = kNegInf;
  for (float v : logits) max_logit = std::max(max_logit, v);
  double sum = 0.0;
  for (float v : logits) sum += std::exp(v - max_logit);
  return static_cast<double>(max_logit) + std::log(sum);
}

// Strict order: higher logit first, then lower id. As a heap comparator it
// puts the least likely kept token at the front.
bool MoreLikely(const TokenLogprob& a, const TokenLogprob& b) {
  return a.logprob > b.logprob || (a.logprob == b.logprob && a.token < b.token);
}

// The k most likely entries by raw logit (stored in `logprob`), sorted.
std::vector<TokenLogprob> TopLogits(absl::Span<const float> logits, size_t k) {
  std::vector<TokenLogprob> heap;
  heap.reserve(k + 1);
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] == kNegInf) continue;
    const TokenLogprob entry{static_cast<int32_t>(i), logits[i]};
    if (heap.size() == k && !MoreLikely(entry, heap.front())) continue;
    heap.push_back(entry);
    std::push_heap(heap.begin(), heap.end(), MoreLikely);
    if (heap.size() > k) {
      std::pop_heap(heap.begin(), heap.end(), MoreLikely);
      heap.pop_back();
    }
  }
  std::sort_heap(heap.begin(), heap.end(), MoreLikely);
  return heap;
}

}  // namespace

RawLogprobs ComputeRawLogprobs(absl::Span<const float> logits, int32_t token,
                               int num_top) {
  const double log_z = LogSumExp(logits);
  RawLogprobs out;
  out.chosen = static_cast<float>(logits[token] - log_z);
  if (num_top <= 0) return out;
  out.top = TopLogits(logits, static_cast<size_t>(num_top));
  for (TokenLogprob& t : out.top) {
    t.logprob = static_cast<float>(t.logprob - log_z);
  }
  return out;
}

}  // namespace infernum::worker
