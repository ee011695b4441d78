// Rough single-thread CPU cost of Sample() per call at LLM vocabulary sizes.
//   BZ=... tools/bazelw run //worker/sampling:sampler_bench
#include <time.h>

#include <cstdio>
#include <random>
#include <vector>

#include "worker/sampling/sampler.h"

namespace {

using infernum::worker::SamplerScratch;
using infernum::worker::SamplingParams;
using infernum::worker::SequenceSamplerState;

struct Config {
  const char* name;
  SamplingParams params;
};

std::vector<Config> Configs() {
  std::vector<Config> out;
  SamplingParams p;
  p.seed = 1;
  p.temperature = 0.0f;
  out.push_back({"greedy", p});
  p.temperature = 1.0f;
  out.push_back({"temperature only", p});
  p.top_k = 50;
  out.push_back({"top_k=50", p});
  p.top_k = 0;
  p.top_p = 0.9f;
  out.push_back({"top_p=0.9", p});
  p.top_k = 50;
  p.min_p = 0.05f;
  p.repetition_penalty = 1.1f;
  p.num_logprobs = 5;
  out.push_back({"k50 p0.9 minp rep logprobs5", p});
  return out;
}

// CPU time of this thread: less sensitive than wall time to other load on
// a shared machine.
double ThreadCpuMicros() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}

}  // namespace

int main() {
  std::mt19937 rng(0);
  std::normal_distribution<float> dist(0.0f, 2.5f);
  for (int vocab : {32000, 128256, 256000}) {
    std::vector<float> logits(vocab);
    for (float& x : logits) x = dist(rng);
    std::vector<int32_t> prompt(2000);
    for (int32_t& t : prompt) t = static_cast<int32_t>(rng() % vocab);
    for (const Config& c : Configs()) {
      SequenceSamplerState state(c.params, prompt);
      SamplerScratch scratch;
      constexpr int kIters = 200;
      const double start = ThreadCpuMicros();
      for (int i = 0; i < kIters; ++i) {
        auto r = infernum::worker::Sample(logits, c.params, state, &scratch);
        if (!r.ok()) return 1;
        state.Append(r->token);
      }
      const double us = (ThreadCpuMicros() - start) / kIters;
      std::printf("V=%6d %-30s %8.1f us/call (thread CPU)\n", vocab, c.name,
                  us);
    }
  }
  return 0;
}
