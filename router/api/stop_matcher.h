// Incremental stop-string matching over streamed text.
//
// The detokenizer produces text in deltas whose boundaries have nothing to do
// with stop strings ("Hel" + "lo\n\nUs" + "er:"). StopMatcher holds back the
// shortest tail that could still grow into a stop string, so nothing after
// (or part of) a stop string is ever emitted:
//
//   StopMatcher m({"\n\nUser:"});
//   for each delta: { auto r = m.Feed(delta); Emit(r.text); if (r.stopped)
//   break; } if (!m.stopped()) Emit(m.Flush());   // generation ended for
//   another reason
//
// Matching is byte-wise on UTF-8; since stop strings are valid UTF-8, held-back
// text always starts on a character boundary. The stop string that completes
// first wins (ties: the longest), so the result does not depend on how the
// text is split into deltas. The matched stop string itself is never
// emitted. Not thread-safe; one per sequence.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace infernum::router {

class StopMatcher {
 public:
  struct Result {
    std::string text;      // Safe to emit now (may be empty).
    bool stopped = false;  // A stop string matched; `text` ends before it.
    int stop_index = -1;   // Index into the stop list when stopped.
  };

  // Empty strings in `stops` are ignored.
  explicit StopMatcher(std::vector<std::string> stops);

  // Appends `delta` to the stream. After a match, further calls return an
  // empty, stopped result.
  Result Feed(std::string_view delta);

  // End of stream without a match: returns the held-back text (empty when
  // stopped) and clears it.
  std::string Flush();

  bool stopped() const { return stop_index_ >= 0; }
  // Bytes currently held back.
  size_t num_held() const { return held_.size(); }

 private:
  std::vector<std::string> stops_;
  std::string held_;     // Text not yet emitted.
  int stop_index_ = -1;  // Index into the caller's list, once matched.
  std::vector<int> original_index_;
};

}  // namespace infernum::router
