// Fuzz harness: what the router streams. Token ids (2 bytes each from byte
// 4 on) go through the IncrementalDetokenizer one at a time, and the deltas
// through a StopMatcher. Properties, each against an independent reference:
// - the streamed text equals one Decode of all the ids (when that text is
//   valid UTF-8: bytes that never form a character may be replaced
//   differently when cut into deltas);
// - the StopMatcher's output equals the streamed text cut before the stop
//   string that completes first (ties: the one starting earliest), found
//   with std::string::find; without a match, all of it.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "models/tokenizer/incremental_detokenizer.h"
#include "router/api/stop_matcher.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/tokenizers.h"

namespace {

using infernum::models::IncrementalDetokenizer;
using infernum::models::Tokenizer;

void Fail(const char* what) {
  std::fprintf(stderr, "stream_fuzz: %s\n", what);
  std::abort();
}

// Streams `ids`; returns every delta, the flush last.
std::vector<std::string> Stream(const Tokenizer& t,
                                const std::vector<int32_t>& ids, bool skip) {
  IncrementalDetokenizer detok(t, skip);
  std::vector<std::string> deltas;
  for (int32_t id : ids) {
    auto d = detok.Append(id);
    if (!d.ok()) Fail("Append failed on an in-vocabulary id");
    deltas.push_back(*std::move(d));
  }
  auto tail = detok.Flush();
  if (!tail.ok()) Fail("Flush failed");
  deltas.push_back(*std::move(tail));
  return deltas;
}

// The reference: `text` cut before the stop that completes first.
std::string CutAtStop(const std::string& text,
                      const std::vector<std::string>& stops, bool* found) {
  size_t best_pos = std::string::npos, best_end = std::string::npos;
  for (const std::string& s : stops) {
    const size_t pos = s.empty() ? std::string::npos : text.find(s);
    if (pos == std::string::npos) continue;
    const size_t end = pos + s.size();
    if (end < best_end || (end == best_end && pos < best_pos)) {
      best_pos = pos;
      best_end = end;
    }
  }
  *found = best_pos != std::string::npos;
  return *found ? text.substr(0, best_pos) : text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const auto& all = infernum::fuzz::Tokenizers();
  const Tokenizer& t = *all[data[0] % all.size()];
  const bool skip = (data[1] & 1) != 0;
  std::vector<int32_t> ids;
  for (size_t i = 4; i + 1 < size; i += 2) {
    int32_t id = data[i] | data[i + 1] << 8;
    if (data[2] & 1) id = 200 + id % 300;  // Dense low ids: byte tokens.
    ids.push_back(id % t.vocab_size());
  }
  const std::vector<std::string> deltas = Stream(t, ids, skip);
  std::string streamed;
  for (const std::string& d : deltas) streamed += d;
  auto whole = t.Decode(ids, skip);
  if (!whole.ok()) Fail("Decode failed on in-vocabulary ids");
  if (whole->find("\xEF\xBF\xBD") == std::string::npos && streamed != *whole)
    Fail("streamed text differs from one Decode");

  // Stop strings: up to two pieces of the streamed text (1-4 bytes each, so
  // they can overlap with one starting first and the other ending first),
  // and one that never occurs in valid UTF-8.
  std::vector<std::string> stops;
  for (int k = 0; k < 2 && !streamed.empty(); ++k) {
    stops.push_back(streamed.substr((data[2 + k] * 7u) % streamed.size(),
                                    1 + (data[3] >> (2 * k)) % 4));
  }
  if (data[1] & 2) stops.push_back("\xFF\xFE");
  bool want_stop = false;
  const std::string want = CutAtStop(streamed, stops, &want_stop);
  infernum::router::StopMatcher matcher(stops);
  std::string out;
  bool stopped = false;
  for (const std::string& d : deltas) {
    const auto r = matcher.Feed(d);
    out += r.text;
    if (r.stopped) {
      stopped = true;
      break;
    }
  }
  if (!stopped) out += matcher.Flush();
  if (stopped != want_stop || out != want)
    Fail("StopMatcher output differs from the reference cut");
  return 0;
}
