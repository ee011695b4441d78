#include "router/server/access_log.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_format.h"

namespace infernum::router {
namespace {

void WriteStderr(std::string_view line) {
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n =
        ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // Nothing sensible to do about a broken stderr.
    done += static_cast<size_t>(n);
  }
}

double Round3(double v) {
  return static_cast<double>(std::llround(v * 1000)) / 1000;
}

}  // namespace

std::string AccessLogLine(const AccessRecord& r) {
  nlohmann::ordered_json j;
  j["ts"] =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", r.start, absl::UTCTimeZone());
  j["request_id"] = r.request_id;
  j["method"] = r.method;
  j["path"] = r.path;
  j["status"] = r.status;
  j["latency_ms"] = Round3(r.latency_ms);
  if (r.generation) {
    j["model"] = r.model;
    j["workers"] = r.workers;
    j["stream"] = r.stream;
    if (r.prompt_tokens >= 0) j["prompt_tokens"] = r.prompt_tokens;
    if (r.completion_tokens >= 0) j["completion_tokens"] = r.completion_tokens;
    if (r.ttft_ms.has_value()) j["ttft_ms"] = Round3(*r.ttft_ms);
  }
  if (!r.error.empty()) j["error"] = r.error;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

AccessLog::AccessLog(Sink sink)
    : sink_(sink ? std::move(sink) : Sink(WriteStderr)) {}

void AccessLog::Write(const AccessRecord& record) {
  std::string line = AccessLogLine(record);
  line += '\n';
  std::lock_guard<std::mutex> lock(mu_);
  sink_(line);
}

std::string SanitizeRequestId(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (out.size() >= kMaxRequestIdLength) break;
    if (c >= 0x21 && c <= 0x7e) out.push_back(c);
  }
  return out;
}

RequestIdGenerator::RequestIdGenerator() {
  absl::BitGen gen;
  base_ = absl::Uniform<uint64_t>(gen);
}

std::string RequestIdGenerator::Next() {
  return absl::StrFormat("%016x%016x", base_, counter_.fetch_add(1));
}

}  // namespace infernum::router
