#include "router/api/stop_matcher.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace infernum::router {
namespace {

// Independent reference on the whole text: the visible output is the text
// before the stop occurrence with the smallest end (ties: earliest start).
struct Reference {
  std::string text;
  int stop_index = -1;
};

Reference ReferenceStop(const std::string& all,
                        const std::vector<std::string>& stops) {
  for (size_t end = 1; end <= all.size(); ++end) {
    int found = -1;
    size_t found_start = 0;
    for (size_t i = 0; i < stops.size(); ++i) {
      const std::string& s = stops[i];
      if (s.empty() || s.size() > end) continue;
      if (all.compare(end - s.size(), s.size(), s) != 0) continue;
      const size_t start = end - s.size();
      if (found < 0 || start < found_start) {
        found = static_cast<int>(i);
        found_start = start;
      }
    }
    if (found >= 0) return {all.substr(0, found_start), found};
  }
  return {all, -1};
}

// Streams `deltas` through a matcher; returns the emitted text.
Reference Stream(const std::vector<std::string>& stops,
                 const std::vector<std::string>& deltas) {
  StopMatcher m(stops);
  Reference out;
  for (const std::string& d : deltas) {
    StopMatcher::Result r = m.Feed(d);
    out.text += r.text;
    if (r.stopped) {
      out.stop_index = r.stop_index;
      return out;
    }
  }
  out.text += m.Flush();
  return out;
}

TEST(StopMatcherTest, MatchAcrossDeltaBoundaries) {
  StopMatcher m({"\n\nUser:"});
  auto r1 = m.Feed("Hello\n");
  EXPECT_EQ(r1.text, "Hello");  // "\n" could start the stop string.
  EXPECT_FALSE(r1.stopped);
  EXPECT_EQ(m.num_held(), 1u);
  auto r2 = m.Feed("\nUs");
  EXPECT_EQ(r2.text, "");
  auto r3 = m.Feed("er: next");
  EXPECT_TRUE(r3.stopped);
  EXPECT_EQ(r3.text, "");
  EXPECT_EQ(r3.stop_index, 0);
  EXPECT_TRUE(m.stopped());
  EXPECT_TRUE(m.Feed("more").stopped);
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopMatcherTest, FalseStartIsReleased) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.Feed("a ST").text, "a ");
  EXPECT_EQ(m.Feed("ART").text, "START");
  EXPECT_EQ(m.Flush(), "");
  StopMatcher m2({"STOP"});
  EXPECT_EQ(m2.Feed("ab STO").text, "ab ");
  EXPECT_EQ(m2.Flush(), "STO");  // End of stream releases the held text.
}

TEST(StopMatcherTest, FirstToCompleteWinsAndIndexIsTheCallers) {
  // "bc" completes before "abcd" would.
  auto r = Stream({"", "abcd", "bc"}, {"xabcd"});
  EXPECT_EQ(r.text, "xa");
  EXPECT_EQ(r.stop_index, 2);
  // Same end: the longer (earlier-starting) one.
  r = Stream({"c", "abc"}, {"zab", "c"});
  EXPECT_EQ(r.text, "z");
  EXPECT_EQ(r.stop_index, 1);
}

TEST(StopMatcherTest, NoStopsPassesEverythingThrough) {
  StopMatcher m({});
  EXPECT_EQ(m.Feed("abc").text, "abc");
  EXPECT_EQ(m.num_held(), 0u);
}

TEST(StopMatcherTest, Utf8StopStrings) {
  auto r = Stream({"。\n"}, {"日本", "語", "\xE3\x80", "\x82", "\n後"});
  EXPECT_EQ(r.text, "日本語");
  EXPECT_EQ(r.stop_index, 0);
}

TEST(StopMatcherTest, RandomStreamsMatchTheReference) {
  std::mt19937 rng(1234);
  const std::string alphabet = "ab\n";
  auto rand_string = [&](size_t min_len, size_t max_len) {
    std::string s(std::uniform_int_distribution<size_t>(min_len, max_len)(rng),
                  ' ');
    for (char& c : s) c = alphabet[rng() % alphabet.size()];
    return s;
  };
  for (int iter = 0; iter < 5000; ++iter) {
    std::vector<std::string> stops;
    const int num_stops = rng() % 4;
    for (int i = 0; i < num_stops; ++i) stops.push_back(rand_string(1, 4));
    const std::string all = rand_string(0, 30);
    std::vector<std::string> deltas;
    for (size_t pos = 0; pos < all.size();) {
      const size_t len = std::min<size_t>(all.size() - pos, rng() % 5);
      deltas.push_back(all.substr(pos, len));  // Empty deltas included.
      pos += len;
    }
    const Reference want = ReferenceStop(all, stops);
    const Reference got = Stream(stops, deltas);
    ASSERT_EQ(got.text, want.text) << "iter " << iter << " text=" << all;
    ASSERT_EQ(got.stop_index, want.stop_index) << "iter " << iter;
  }
}

TEST(StopMatcherTest, HoldsBackOnlyWhatCouldStillMatch) {
  std::mt19937 rng(99);
  for (int iter = 0; iter < 2000; ++iter) {
    const std::vector<std::string> stops = {"aab", "ba\n"};
    StopMatcher m(stops);
    std::string fed, emitted;
    for (int step = 0; step < 12 && !m.stopped(); ++step) {
      const std::string d(1, "ab\n"[rng() % 3]);
      fed += d;
      emitted += m.Feed(d).text;
      if (m.stopped()) break;
      // Held text = the longest suffix of `fed` that is a proper prefix of a
      // stop string, computed independently.
      size_t want_hold = 0;
      for (const std::string& s : stops) {
        for (size_t len = 1; len < s.size() && len <= fed.size(); ++len) {
          if (fed.compare(fed.size() - len, len, s, 0, len) == 0) {
            want_hold = std::max(want_hold, len);
          }
        }
      }
      ASSERT_EQ(m.num_held(), want_hold) << fed;
      ASSERT_EQ(emitted, fed.substr(0, fed.size() - want_hold));
    }
  }
}

}  // namespace
}  // namespace infernum::router
