// Test helpers for the worker's /metrics endpoint: an HTTP GET, and the
// exposition text parsed by Debian's python3-prometheus-client
// (parse_metrics.py, which the test must have as data).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace infernum::worker::testing {

struct HttpResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

// GET http://host:port/path. Unavailable if no response came.
absl::StatusOr<HttpResponse> HttpGet(const std::string& host, int port,
                                     const std::string& path);

struct ParsedSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct ParsedFamily {
  std::string name;  // As the parser names it (counters lose "_total").
  std::string type;  // counter | gauge | histogram | untyped ...
  std::string help;
  std::vector<ParsedSample> samples;
};

// Runs parse_metrics.py (the Debian parser) on `text`. Internal if python or
// the parser fails (the message has the parser's stderr).
absl::StatusOr<std::vector<ParsedFamily>> ParseWithPrometheusClient(
    const std::string& text);

// Parsed exposition with lookups by sample name and labels.
class ScrapedMetrics {
 public:
  explicit ScrapedMetrics(std::vector<ParsedFamily> families)
      : families_(std::move(families)) {}
  // The value of the sample with exactly these labels; NaN if absent.
  double Value(const std::string& sample_name,
               const std::map<std::string, std::string>& labels) const;
  // The family's type ("" if absent). `name` as registered (with _total).
  std::string TypeOf(const std::string& name) const;
  const std::vector<ParsedFamily>& families() const { return families_; }

 private:
  std::vector<ParsedFamily> families_;
};

}  // namespace infernum::worker::testing
