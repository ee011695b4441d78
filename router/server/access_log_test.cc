#include "router/server/access_log.h"

#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace infernum::router {
namespace {

AccessRecord GenerationRecord() {
  AccessRecord r;
  r.start = absl::FromUnixMillis(1735732800123);  // 2025-01-01T12:00:00.123Z
  r.request_id = "req-1";
  r.method = "POST";
  r.path = "/v1/chat/completions";
  r.status = 200;
  r.latency_ms = 812.4567;
  r.generation = true;
  r.model = "llama";
  r.workers = {"10.0.0.1:50051", "10.0.0.2:50051"};
  r.stream = true;
  r.prompt_tokens = 12;
  r.completion_tokens = 96;
  r.ttft_ms = 41.25;
  return r;
}

TEST(AccessLogLineTest, GenerationFields) {
  const nlohmann::json j =
      nlohmann::json::parse(AccessLogLine(GenerationRecord()));
  EXPECT_EQ(j.at("ts"), "2025-01-01T12:00:00.123Z");
  EXPECT_EQ(j.at("request_id"), "req-1");
  EXPECT_EQ(j.at("method"), "POST");
  EXPECT_EQ(j.at("path"), "/v1/chat/completions");
  EXPECT_EQ(j.at("status"), 200);
  EXPECT_NEAR(j.at("latency_ms").get<double>(), 812.457, 1e-9);
  EXPECT_EQ(j.at("model"), "llama");
  EXPECT_EQ(j.at("workers"),
            nlohmann::json::array({"10.0.0.1:50051", "10.0.0.2:50051"}));
  EXPECT_EQ(j.at("stream"), true);
  EXPECT_EQ(j.at("prompt_tokens"), 12);
  EXPECT_EQ(j.at("completion_tokens"), 96);
  EXPECT_DOUBLE_EQ(j.at("ttft_ms").get<double>(), 41.25);
  EXPECT_FALSE(j.contains("error"));
}

TEST(AccessLogLineTest, OptionalFieldsAreLeftOut) {
  AccessRecord r = GenerationRecord();
  r.prompt_tokens = -1;
  r.completion_tokens = -1;
  r.ttft_ms.reset();
  r.error = "stream_error";
  nlohmann::json j = nlohmann::json::parse(AccessLogLine(r));
  EXPECT_FALSE(j.contains("prompt_tokens"));
  EXPECT_FALSE(j.contains("completion_tokens"));
  EXPECT_FALSE(j.contains("ttft_ms"));
  EXPECT_EQ(j.at("error"), "stream_error");
  r.generation = false;
  j = nlohmann::json::parse(AccessLogLine(r));
  for (const char* key : {"model", "workers", "stream", "ttft_ms"}) {
    EXPECT_FALSE(j.contains(key)) << key;
  }
}

TEST(AccessLogLineTest, HostileStringsStayOneValidLine) {
  AccessRecord r = GenerationRecord();
  r.path = "/v1/\"x\"\n\\y";
  r.model = "bad\xff\xfeutf8";
  const std::string line = AccessLogLine(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j.at("path"), "/v1/\"x\"\n\\y");
  EXPECT_EQ(j.at("model").get<std::string>().rfind("bad", 0), 0u);
}

TEST(AccessLogTest, OneWholeLinePerRecordFromManyThreads) {
  std::mutex mu;
  std::vector<std::string> lines;
  AccessLog log([&](std::string_view line) {
    std::lock_guard<std::mutex> lock(mu);
    lines.emplace_back(line);
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        AccessRecord r = GenerationRecord();
        r.request_id = std::to_string(t * 1000 + i);
        log.Write(r);
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(lines.size(), 800u);
  std::set<std::string> ids;
  for (const std::string& line : lines) {
    ASSERT_EQ(line.back(), '\n');
    ASSERT_EQ(line.find('\n'), line.size() - 1);
    ids.insert(nlohmann::json::parse(line).at("request_id"));
  }
  EXPECT_EQ(ids.size(), 800u);
}

TEST(SanitizeRequestIdTest, KeepsPrintableAndBounds) {
  EXPECT_EQ(SanitizeRequestId("abc-123_XYZ.:/"), "abc-123_XYZ.:/");
  EXPECT_EQ(SanitizeRequestId("a b\r\nc\td\x01\x7f\xc3\xa9"), "abcd");
  EXPECT_EQ(SanitizeRequestId("  "), "");
  EXPECT_EQ(SanitizeRequestId(""), "");
  const std::string longer(1000, 'x');
  EXPECT_EQ(SanitizeRequestId(longer), std::string(kMaxRequestIdLength, 'x'));
}

TEST(RequestIdGeneratorTest, UniqueHexIds) {
  RequestIdGenerator gen;
  std::mutex mu;
  std::set<std::string> ids;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2500; ++i) {
        std::string id = gen.Next();
        std::lock_guard<std::mutex> lock(mu);
        ids.insert(std::move(id));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ids.size(), 10000u);
  const std::regex hex("[0-9a-f]{32}");
  for (const std::string& id : ids) {
    ASSERT_TRUE(std::regex_match(id, hex)) << id;
    EXPECT_EQ(SanitizeRequestId(id), id);
  }
  // Two generators (two router processes) do not collide.
  RequestIdGenerator other;
  EXPECT_EQ(ids.count(other.Next()), 0u);
}

}  // namespace
}  // namespace infernum::router
