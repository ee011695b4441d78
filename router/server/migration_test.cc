// Migration as the client sees it (GenerationRun: decoded text, logprobs,
// SSE events, usage): a request whose worker dies or stalls mid-stream
// produces exactly the bytes of an uninterrupted run.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "router/api/errors.h"
#include "router/server/failover_fixture.h"
#include "router/server/generation_run.h"

namespace infernum::router::testing {
namespace {

using nlohmann::json;

constexpr int kMaxTokens = 30;
const char* const kPrompts[] = {"Once upon a time", "The little cat"};

// The "data: ..." payloads of an SSE body.
std::vector<std::string> Events(const std::string& body);

// The SSE events of each choice, in order (sequences interleave freely).
std::vector<std::vector<std::string>> EventsByChoice(const std::string& body) {
  std::vector<std::vector<std::string>> out(2);
  for (const std::string& e : Events(body)) {
    json j = json::parse(e, nullptr, false);
    if (!j.is_object() || !j.contains("choices")) continue;
    for (const json& c : j["choices"]) {
      out.at(c["index"].get<int>()).push_back(c.dump());
    }
  }
  return out;
}

std::vector<std::string> Events(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t end; (end = body.find("\n\n", pos)) != std::string::npos;
       pos = end + 2) {
    if (body.compare(pos, 6, "data: ") == 0) {
      out.push_back(body.substr(pos + 6, end - pos - 6));
    }
  }
  return out;
}

class MigrationTest : public FailoverTest {
 protected:
  // Two prompts, greedy, logprobs, usage; fixed meta so that two runs are
  // byte-comparable.
  RunSpec Spec(Endpoint endpoint, bool stream) {
    RunSpec spec;
    spec.endpoint = endpoint;
    spec.meta = {.id = "cmpl-test",
                 .created = 1700000000,
                 .model = "stories260K",
                 .system_fingerprint = "fp_test"};
    spec.options.model = "stories260K";
    spec.options.temperature = 0;
    spec.options.logprobs = true;
    spec.options.top_logprobs = endpoint == Endpoint::kChat ? 2 : 0;
    spec.options.stream = stream;
    spec.options.include_usage = stream;
    spec.model = route_.assets;
    spec.route_workers = route_.workers;
    for (int i = 0; i < 2; ++i) {
      auto ids = route_.assets->tokenizer().Encode(kPrompts[i], true);
      EXPECT_TRUE(ids.ok());
      spec.sequences.push_back({.request_id = absl::StrCat("r-", i),
                                .prompt_ids = *ids,
                                .max_tokens = kMaxTokens,
                                .sample = i});
      spec.prompt_tokens += static_cast<int64_t>(ids->size());
    }
    spec.deadline = absl::Now() + absl::Seconds(60);
    spec.stall_timeout = kStallTimeout;
    spec.max_migrations = 2;
    spec.counters = &counters_;
    return spec;
  }

  // The SSE body of a streaming run.
  std::string Stream(RunSpec spec) {
    GenerationRun run(pool_.get(), std::move(spec));
    std::string body;
    run.Stream(
        [&body](std::string_view s) {
          body.append(s);
          return true;
        },
        [] { return true; });
    return body;
  }

  absl::StatusOr<std::string> Collect(RunSpec spec) {
    GenerationRun run(pool_.get(), std::move(spec));
    return run.Collect([] { return true; });
  }

  // Independent reference: the deterministic tokens, decoded.
  std::string ExpectedText(int i) {
    const models::Tokenizer& tok = route_.assets->tokenizer();
    std::vector<int32_t> prompt = *tok.Encode(kPrompts[i], true);
    std::vector<int32_t> all = prompt;
    for (int32_t t : FakeContinuation(prompt, kMaxTokens)) all.push_back(t);
    return tok.Decode(all, true)->substr(tok.Decode(prompt, true)->size());
  }
};

TEST_F(MigrationTest, StreamWithAWorkerDeathIsTheUninterruptedStream) {
  const std::string reference = Stream(Spec(Endpoint::kCompletion, true));
  ASSERT_EQ(counters_.migrations, 0u);
  SetFault(Fault::kDie, 9);
  const std::string migrated = Stream(Spec(Endpoint::kCompletion, true));
  EXPECT_EQ(counters_.migrations, 1u);
  // Every choice's events are byte-identical, and so is the usage chunk.
  EXPECT_EQ(EventsByChoice(migrated), EventsByChoice(reference));
  EXPECT_EQ(Events(migrated).back(), "[DONE]");
  EXPECT_EQ(Events(migrated)[Events(migrated).size() - 2],
            Events(reference)[Events(reference).size() - 2]);
  // And the reference is right: text, logprobs and usage per choice.
  std::string text[2];
  int num_logprobs[2] = {0, 0};
  json usage;
  for (const std::string& e : Events(migrated)) {
    if (e == "[DONE]") continue;
    json j = json::parse(e);
    ASSERT_FALSE(j.contains("error")) << e;
    if (!j["usage"].is_null()) usage = j["usage"];
    for (const json& c : j["choices"]) {
      text[c["index"].get<int>()] += c["text"].get<std::string>();
      if (c["logprobs"].is_object()) {
        num_logprobs[c["index"].get<int>()] +=
            static_cast<int>(c["logprobs"]["tokens"].size());
      }
    }
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(text[i], ExpectedText(i)) << i;
    EXPECT_EQ(num_logprobs[i], kMaxTokens) << i;
  }
  EXPECT_EQ(usage["completion_tokens"], 2 * kMaxTokens);
  EXPECT_EQ(usage["prompt_tokens"],
            Spec(Endpoint::kCompletion, true).prompt_tokens);
}

TEST_F(MigrationTest, ChatWithAStalledWorkerIsTheUninterruptedResponse) {
  absl::StatusOr<std::string> reference = Collect(Spec(Endpoint::kChat, false));
  ASSERT_TRUE(reference.ok()) << reference.status();
  SetFault(Fault::kStall, 4);
  absl::StatusOr<std::string> migrated = Collect(Spec(Endpoint::kChat, false));
  ASSERT_TRUE(migrated.ok()) << migrated.status();
  EXPECT_EQ(counters_.stalls, 1u);
  EXPECT_EQ(counters_.migrations, 1u);
  EXPECT_EQ(*migrated, *reference);
  json j = json::parse(*migrated);
  for (int i = 0; i < 2; ++i) {
    const json& c = j["choices"][i];
    EXPECT_EQ(c["message"]["content"], ExpectedText(i));
    ASSERT_EQ(c["logprobs"]["content"].size(), static_cast<size_t>(kMaxTokens));
    // The fake's logprob of output k continues across the migration.
    for (int k = 0; k < kMaxTokens; ++k) {
      EXPECT_FLOAT_EQ(c["logprobs"]["content"][k]["logprob"].get<float>(),
                      -(k + 1) / 8.0f);
    }
    EXPECT_EQ(c["finish_reason"], "length");
  }
  EXPECT_EQ(j["usage"]["completion_tokens"], 2 * kMaxTokens);
}

TEST_F(MigrationTest, TooManyFailuresEndTheStreamWithAnErrorEvent) {
  // Every stream stalls after 3 tokens; each sequence may move once.
  SetFault(Fault::kStall, 3, /*num_streams=*/100);
  RunSpec spec = Spec(Endpoint::kCompletion, true);
  spec.max_migrations = 1;
  const std::string body = Stream(std::move(spec));
  const std::vector<std::string> events = Events(body);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back(), "[DONE]");
  json err = json::parse(events[events.size() - 2]);
  ASSERT_TRUE(err.contains("error")) << err.dump();
  EXPECT_NE(err["error"]["message"].get<std::string>().find("max_migrations"),
            std::string::npos)
      << err.dump();
  EXPECT_GE(counters_.failed_sequences, 1u);
  EXPECT_GE(counters_.migrations, 1u);
}

TEST_F(MigrationTest, TooManyFailuresFailANonStreamingRequest) {
  SetFault(Fault::kStall, 3, /*num_streams=*/100);
  RunSpec spec = Spec(Endpoint::kChat, false);
  spec.max_migrations = 1;
  absl::StatusOr<std::string> r = Collect(std::move(spec));
  ASSERT_FALSE(r.ok());  // 503: the workers are unavailable.
  EXPECT_EQ(ApiErrorFromStatus(r.status()).info().http_status, 503)
      << r.status();
}

}  // namespace
}  // namespace infernum::router::testing
