#include "worker/sampling/logits_processor.h"

#include <algorithm>
#include <cmath>
#include <limits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/strings/str_cat.h"

namespace infernum::worker::sampling_internal {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Most likely first; equal logits -> lower id first.
bool MoreLikely(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// Penalties never turn a finite logit into +-inf (nor a masked one finite).
float ClampFinite(float v) {
  constexpr float kMax = std::numeric_limits<float>::max();
  return std::clamp(v, -kMax, kMax);
}

// Top-k by a bounded heap up to this k (O(V) for typical logits); beyond
// it, nth_element over all candidates.
constexpr size_t kHeapSelectMaxK = 1024;
// Top-p buckets candidates by logit; logits below -kMaxBucketedRange (weight
// < 1e-27 each) share the last bucket.
constexpr int kNumTopPBuckets = 2048;
constexpr float kMaxBucketedRange = 64.0f;

// One candidate per finite logit, in id order.
void CollectFinite(absl::Span<const float> logits,
                   std::vector<Candidate>* out) {
  out->clear();
  out->reserve(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] != kNegInf) {
      out->push_back({logits[i], static_cast<int32_t>(i)});
    }
  }
}

// The k most likely finite logits (k < number of finite logits), in heap
// order: a bounded heap whose front is the least likely kept candidate.
void HeapSelectTopK(absl::Span<const float> logits, size_t k,
                    std::vector<Candidate>* out) {
  out->clear();
  out->reserve(k + 1);
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] == kNegInf) continue;
    const Candidate c{logits[i], static_cast<int32_t>(i)};
    if (out->size() == k && !MoreLikely(c, out->front())) continue;
    out->push_back(c);
    std::push_heap(out->begin(), out->end(), MoreLikely);
    if (out->size() > k) {
      std::pop_heap(out->begin(), out->end(), MoreLikely);
      out->pop_back();
    }
  }
}

// Replaces raw logits by (logit - max) / temperature.
void ScaleByTemperature(float temperature, std::vector<Candidate>* c) {
  float max_logit = kNegInf;
  for (const Candidate& x : *c) max_logit = std::max(max_logit, x.logit);
  for (Candidate& x : *c) x.logit = (x.logit - max_logit) / temperature;
}

// Bucket of a scaled logit (<= 0): more likely => lower or equal bucket.
struct Bucketing {
  float range;  // logits below -range go to the last bucket
  float scale;  // buckets per unit of logit
  int Of(float logit) const {
    return static_cast<int>(std::min(-logit, range) * scale);
  }
};

// Keeps the smallest most-likely prefix with mass >= top_p (minus
// kTopPTolerance) without sorting everything: bucket candidates by logit,
// find the bucket where the cumulative mass crosses the target, and sort only
// that bucket. Survivors stay in a deterministic (not sorted) order.
void KeepTopP(float top_p, std::vector<Candidate>* c) {
  float min_logit = 0.0f;
  for (const Candidate& x : *c) min_logit = std::min(min_logit, x.logit);
  const float range = std::min(-min_logit, kMaxBucketedRange);
  const Bucketing bucketing{range,
                            range > 0.0f ? (kNumTopPBuckets - 1) / range : 0};
  std::vector<double> mass(kNumTopPBuckets, 0.0);
  double total = 0.0;
  for (const Candidate& x : *c) {
    const double w = std::exp(x.logit);
    mass[bucketing.Of(x.logit)] += w;
    total += w;
  }
  const double target = (top_p - kTopPTolerance) * total;
  int boundary = kNumTopPBuckets - 1;
  double above = 0.0;  // mass of the buckets before `boundary`
  for (int b = 0; b < kNumTopPBuckets - 1; ++b) {
    if (above + mass[b] >= target) {
      boundary = b;
      break;
    }
    above += mass[b];
  }
  const auto mid = std::partition(
      c->begin(), c->end(),
      [&](const Candidate& x) { return bucketing.Of(x.logit) < boundary; });
  const auto end = std::partition(mid, c->end(), [&](const Candidate& x) {
    return bucketing.Of(x.logit) == boundary;
  });
  std::sort(mid, end, MoreLikely);
  auto keep_end = mid;
  double cumulative = above;
  while (keep_end != end) {
    cumulative += std::exp(keep_end->logit);
    ++keep_end;
    if (cumulative >= target) break;
  }
  // Rounding left the target unreached: the whole boundary bucket stays.
  c->erase(keep_end, c->end());
}

}  // namespace

namespace {

// Fast scans over the logits (SSE2, part of x86-64): the greedy sampler reads
// V logits per sequence per step, twice.
#if defined(__SSE2__)
// Whether any logit is NaN or +inf, and whether any is finite.
struct Scan {
  bool any_bad, any_finite;
};
Scan ScanLogits(absl::Span<const float> logits) {
  const __m128 pos_inf = _mm_set1_ps(std::numeric_limits<float>::infinity());
  const __m128 neg_inf = _mm_set1_ps(kNegInf);
  __m128 bad = _mm_setzero_ps(), finite = _mm_setzero_ps();
  size_t i = 0;
  for (; i + 4 <= logits.size(); i += 4) {
    const __m128 v = _mm_loadu_ps(logits.data() + i);
    bad = _mm_or_ps(bad,
                    _mm_or_ps(_mm_cmpunord_ps(v, v), _mm_cmpeq_ps(v, pos_inf)));
    // NaN compares unequal too, but then any_bad decides.
    finite = _mm_or_ps(finite, _mm_cmpneq_ps(v, neg_inf));
  }
  Scan scan{_mm_movemask_ps(bad) != 0, _mm_movemask_ps(finite) != 0};
  for (; i < logits.size(); ++i) {
    const float v = logits[i];
    scan.any_bad |= std::isnan(v) || v == -kNegInf;
    scan.any_finite |= v != kNegInf;
  }
  return scan;
}

// The largest logit (no NaN among them).
float MaxLogit(absl::Span<const float> logits) {
  __m128 best = _mm_set1_ps(kNegInf);
  size_t i = 0;
  for (; i + 4 <= logits.size(); i += 4) {
    best = _mm_max_ps(best, _mm_loadu_ps(logits.data() + i));
  }
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, best);
  float m =
      std::max(std::max(lanes[0], lanes[1]), std::max(lanes[2], lanes[3]));
  for (; i < logits.size(); ++i) m = std::max(m, logits[i]);
  return m;
}
#endif

}  // namespace

absl::Status CheckLogits(absl::Span<const float> logits) {
  if (logits.empty()) return absl::InvalidArgumentError("logits are empty");
#if defined(__SSE2__)
  const Scan scan = ScanLogits(logits);
  if (!scan.any_bad && scan.any_finite) return absl::OkStatus();
    // Fall through to find and name the first offending logit.
#endif
  bool any_finite = false;
  for (size_t i = 0; i < logits.size(); ++i) {
    const float v = logits[i];
    if (std::isnan(v) || v == std::numeric_limits<float>::infinity()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "logits[", i, "] is ", v, "; logits must be finite ", "or -inf"));
    }
    any_finite = any_finite || v != kNegInf;
  }
  if (!any_finite) {
    return absl::InvalidArgumentError("every logit is -inf: nothing to sample");
  }
  return absl::OkStatus();
}

void ApplyPenalties(const SamplingParams& params,
                    const absl::flat_hash_set<int32_t>& seen,
                    const absl::flat_hash_map<int32_t, int32_t>& output_counts,
                    std::vector<float>& logits) {
  const auto in_range = [&](int32_t id) {
    return id >= 0 && static_cast<size_t>(id) < logits.size();
  };
  const float r = params.repetition_penalty;
  if (r != 1.0f) {
    for (int32_t id : seen) {
      if (!in_range(id)) continue;
      float& v = logits[id];
      if (v != kNegInf) v = ClampFinite(v > 0.0f ? v / r : v * r);
    }
  }
  if (params.frequency_penalty == 0.0f && params.presence_penalty == 0.0f) {
    return;
  }
  for (const auto& [id, count] : output_counts) {
    if (!in_range(id) || count <= 0) continue;
    float& v = logits[id];
    if (v == kNegInf) continue;
    v -= params.frequency_penalty * static_cast<float>(count);
    v -= params.presence_penalty;
    v = ClampFinite(v);
  }
}

int32_t ArgMax(absl::Span<const float> logits) {
#if defined(__SSE2__)
  // The first index holding the maximum (-0 == +0, as the loop below).
  const float max = MaxLogit(logits);
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] == max) return static_cast<int32_t>(i);
  }
#endif
  size_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

void FilterCandidates(absl::Span<const float> logits,
                      const SamplingParams& params,
                      std::vector<Candidate>* out) {
  const size_t num_finite = static_cast<size_t>(std::count_if(
      logits.begin(), logits.end(), [](float v) { return v != kNegInf; }));
  const size_t k = params.top_k > 0 ? static_cast<size_t>(params.top_k) : 0;
  if (k > 0 && k < num_finite && k <= kHeapSelectMaxK) {
    HeapSelectTopK(logits, k, out);
  } else {
    CollectFinite(logits, out);
    if (k > 0 && k < num_finite) {
      std::nth_element(out->begin(), out->begin() + k, out->end(), MoreLikely);
      out->resize(k);
    }
  }
  ScaleByTemperature(params.temperature, out);
  if (params.top_p < 1.0f) KeepTopP(params.top_p, out);
  if (params.min_p > 0.0f) {
    // exp(logit) = p / p_max; the most likely token (logit 0) always stays.
    const float min_p = params.min_p;
    out->erase(std::remove_if(out->begin(), out->end(),
                              [min_p](const Candidate& c) {
                                return std::exp(c.logit) < min_p;
                              }),
               out->end());
  }
}

}  // namespace infernum::worker::sampling_internal
