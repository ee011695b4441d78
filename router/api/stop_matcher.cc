#include "router/api/stop_matcher.h"

#include <algorithm>
#include <utility>

namespace infernum::router {

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (size_t i = 0; i < stops.size(); ++i) {
    if (stops[i].empty()) continue;
    stops_.push_back(std::move(stops[i]));
    original_index_.push_back(static_cast<int>(i));
  }
}

StopMatcher::Result StopMatcher::Feed(std::string_view delta) {
  Result r;
  if (stopped()) {
    r.stopped = true;
    r.stop_index = stop_index_;
    return r;
  }
  held_.append(delta);

  // The match that completes first (smallest end), as if the text had
  // arrived one byte at a time; ties: the one starting earliest (longest).
  size_t best_end = std::string::npos;
  size_t best_pos = 0;
  int best = -1;
  for (size_t i = 0; i < stops_.size(); ++i) {
    const size_t pos = held_.find(stops_[i]);
    if (pos == std::string::npos) continue;
    const size_t end = pos + stops_[i].size();
    if (end < best_end || (end == best_end && pos < best_pos)) {
      best_end = end;
      best_pos = pos;
      best = static_cast<int>(i);
    }
  }
  if (best >= 0) {
    stop_index_ = original_index_[best];
    r.text = held_.substr(0, best_pos);
    r.stopped = true;
    r.stop_index = stop_index_;
    held_.clear();
    return r;
  }

  // No match: hold back the longest suffix that is a proper prefix of a stop
  // string (a full match would have been found above).
  size_t hold = 0;
  for (const std::string& stop : stops_) {
    const size_t max_len = std::min(stop.size() - 1, held_.size());
    for (size_t len = max_len; len > hold; --len) {
      if (std::string_view(held_).substr(held_.size() - len) ==
          std::string_view(stop).substr(0, len)) {
        hold = len;
        break;
      }
    }
  }
  r.text = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return r;
}

std::string StopMatcher::Flush() {
  if (stopped()) return "";
  return std::exchange(held_, std::string());
}

}  // namespace infernum::router
