#include "worker/server/metrics_test_util.h"

#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/testing.h"

namespace infernum::worker::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ParsedFamily FamilyFromJson(const nlohmann::json& f) {
  ParsedFamily family;
  family.name = f.at("name");
  family.type = f.at("type");
  family.help = f.at("help");
  for (const auto& s : f.at("samples")) {
    ParsedSample sample;
    sample.name = s.at("name");
    sample.labels = s.at("labels").get<std::map<std::string, std::string>>();
    sample.value =
        std::strtod(s.at("value").get<std::string>().c_str(), nullptr);
    family.samples.push_back(std::move(sample));
  }
  return family;
}

}  // namespace

absl::StatusOr<HttpResponse> HttpGet(const std::string& host, int port,
                                     const std::string& path) {
  httplib::Client client(host, port);
  client.set_connection_timeout(10, 0);
  client.set_read_timeout(30, 0);
  httplib::Result result = client.Get(path.c_str());
  if (!result) {
    return absl::UnavailableError(
        absl::StrCat("GET ", path, " on ", host, ":", port,
                     " failed: ", httplib::to_string(result.error())));
  }
  HttpResponse out;
  out.status = result->status;
  out.content_type = result->get_header_value("Content-Type");
  out.body = result->body;
  return out;
}

absl::StatusOr<std::vector<ParsedFamily>> ParseWithPrometheusClient(
    const std::string& text) {
  static std::atomic<int> counter{0};  // Distinct file names per call.
  const std::string base = absl::StrCat(
      infernum::testing::TempDir(), "/metrics_", ::getpid(), "_", ++counter);
  std::ofstream(base + ".txt", std::ios::binary) << text;
  const std::string command =
      absl::StrCat("/usr/bin/python3 worker/server/parse_metrics.py <", base,
                   ".txt >", base, ".json 2>", base, ".err");
  if (std::system(command.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("prometheus_client parser failed: ", Slurp(base + ".err"),
                     "\n--- input ---\n", text));
  }
  nlohmann::json json = nlohmann::json::parse(Slurp(base + ".json"), nullptr,
                                              /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_array()) {
    return absl::InternalError("parse_metrics.py printed no JSON list");
  }
  std::vector<ParsedFamily> out;
  for (const auto& f : json) out.push_back(FamilyFromJson(f));
  return out;
}

double ScrapedMetrics::Value(
    const std::string& sample_name,
    const std::map<std::string, std::string>& labels) const {
  for (const ParsedFamily& f : families_) {
    for (const ParsedSample& s : f.samples) {
      if (s.name == sample_name && s.labels == labels) return s.value;
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

std::string ScrapedMetrics::TypeOf(const std::string& name) const {
  for (const ParsedFamily& f : families_) {
    if (f.name == name || (f.type == "counter" && f.name + "_total" == name)) {
      return f.type;
    }
  }
  return "";
}

}  // namespace infernum::worker::testing
