// Router-wide event counters written by the generation path (sessions) and
// read by the metrics endpoint at scrape time. One instance per router,
// owned by main() (no globals); shared through pointers that may be null
// (tests), in which case nothing is counted.
#pragma once

#include <atomic>
#include <cstdint>

namespace infernum::router {

struct RouterCounters {
  // A sequence re-sent to another worker before its first token
  // (connection failure, UNAVAILABLE, RESOURCE_EXHAUSTED).
  std::atomic<uint64_t> retries{0};
  // A sequence resumed on another worker after tokens were streamed
  // (worker died or stalled mid-stream).
  std::atomic<uint64_t> migrations{0};
  // Streams declared stalled (no event for stall_timeout).
  std::atomic<uint64_t> stalls{0};
  // Sequences that failed after max_migrations / max attempts.
  std::atomic<uint64_t> failed_sequences{0};
};

}  // namespace infernum::router
