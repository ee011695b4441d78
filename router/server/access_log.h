// Structured access logs: one JSON object per HTTP request, one line each,
// written to stderr (or a test sink), plus request ids.
//
//   {"ts":"2025-01-01T12:00:00.123Z","request_id":"…","method":"POST",
//    "path":"/v1/chat/completions","status":200,"latency_ms":812.4,
//    "model":"llama","workers":["10.0.0.1:50051"],"stream":true,
//    "prompt_tokens":12,"completion_tokens":96,"ttft_ms":41.2}
//
// Generation fields (model, workers, stream, tokens, ttft_ms) are present
// only for generation requests; ttft_ms only for streams that sent tokens.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"

namespace infernum::router {

// Longest request id accepted from a client (longer ones are cut).
inline constexpr size_t kMaxRequestIdLength = 128;

// What the access log records about one request.
struct AccessRecord {
  absl::Time start;  // When the handler started.
  std::string request_id;
  std::string method;
  std::string path;
  int status = 0;
  double latency_ms = 0;    // Start to the end of the response (stream).
  bool generation = false;  // The fields below are meaningful.
  std::string model;
  std::vector<std::string> workers;  // Worker addresses used.
  bool stream = false;
  int64_t prompt_tokens = -1;      // -1 = unknown (not logged).
  int64_t completion_tokens = -1;  // -1 = unknown (not logged).
  std::optional<double> ttft_ms;   // Streaming: first content write.
  std::string error;  // Error type of a failed request ("" when none).
};

// The record as one JSON object (no trailing newline). Strings are escaped;
// invalid UTF-8 is replaced.
std::string AccessLogLine(const AccessRecord& record);

class AccessLog {
 public:
  using Sink = std::function<void(std::string_view line)>;
  // `sink` receives each line with its trailing '\n'; by default the line
  // goes to stderr with one write per line.
  explicit AccessLog(Sink sink = nullptr);

  // Renders and writes `record`. Thread-safe; lines never interleave.
  void Write(const AccessRecord& record);

 private:
  std::mutex mu_;
  Sink sink_;
};

// A client-supplied x-request-id made safe to echo and log: only printable
// ASCII without spaces (0x21..0x7e) is kept, cut to kMaxRequestIdLength.
// Empty when nothing usable is left.
std::string SanitizeRequestId(std::string_view value);

// Unique request ids: a random 64-bit process prefix and a counter, as 32
// lowercase hex digits. Thread-safe.
class RequestIdGenerator {
 public:
  RequestIdGenerator();
  std::string Next();

 private:
  uint64_t base_;
  std::atomic<uint64_t> counter_{0};
};

}  // namespace infernum::router
