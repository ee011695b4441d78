// Checks the serialized responses field by field against the OpenAI API
// reference shapes (chat.completion, chat.completion.chunk, text_completion).
#include "router/api/openai_response.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace infernum::router {
namespace {

using nlohmann::json;

// Parses what would go on the wire.
json Wire(const ResponseJson& j) {
  json parsed = json::parse(DumpJson(j), nullptr, false);
  EXPECT_FALSE(parsed.is_discarded());
  return parsed;
}

std::set<std::string> Keys(const json& obj) {
  std::set<std::string> keys;
  for (auto it = obj.begin(); it != obj.end(); ++it) keys.insert(it.key());
  return keys;
}

ResponseMeta Meta() {
  return {.id = "chatcmpl-abc",
          .created = 1700000000,
          .model = "tiny",
          .system_fingerprint = "fp_1"};
}

void ExpectHeader(const json& j, const std::string& object) {
  EXPECT_EQ(j.at("id"), "chatcmpl-abc");
  EXPECT_EQ(j.at("object"), object);
  EXPECT_TRUE(j.at("created").is_number_integer());
  EXPECT_EQ(j.at("created"), 1700000000);
  EXPECT_EQ(j.at("model"), "tiny");
  EXPECT_EQ(j.at("system_fingerprint"), "fp_1");
}

std::vector<TokenLogprob> SampleLogprobs() {
  return {{"Hel", -0.25f, {{"Hel", -0.25f}, {"He", -1.5f}}},
          {"lo", -0.5f, {{"lo", -0.5f}, {"p", -2.0f}}},
          {" wörld", -1.0f, {{" wörld", -1.0f}, {" world", -1.25f}}}};
}

TEST(OpenAiResponseTest, ChatCompletionShape) {
  std::vector<ChatChoice> choices(2);
  choices[0] = {0, "Hello world", FinishReason::kStop, SampleLogprobs()};
  choices[1] = {1, "Hi", FinishReason::kLength, std::nullopt};
  const json j = Wire(BuildChatCompletion(Meta(), choices, {7, 3, 2}));
  EXPECT_EQ(Keys(j),
            (std::set<std::string>{"id", "object", "created", "model",
                                   "system_fingerprint", "choices", "usage"}));
  ExpectHeader(j, "chat.completion");
  ASSERT_EQ(j["choices"].size(), 2u);
  const json& c0 = j["choices"][0];
  EXPECT_EQ(Keys(c0), (std::set<std::string>{"index", "message", "logprobs",
                                             "finish_reason"}));
  EXPECT_EQ(c0["index"], 0);
  EXPECT_EQ(c0["message"],
            (json{{"role", "assistant"}, {"content", "Hello world"}}));
  EXPECT_EQ(c0["finish_reason"], "stop");
  EXPECT_EQ(j["choices"][1]["finish_reason"], "length");
  EXPECT_TRUE(j["choices"][1]["logprobs"].is_null());

  const json& content = c0["logprobs"]["content"];
  ASSERT_EQ(content.size(), 3u);
  const auto want = SampleLogprobs();
  for (size_t i = 0; i < want.size(); ++i) {
    const json& t = content[i];
    EXPECT_EQ(Keys(t), (std::set<std::string>{"token", "logprob", "bytes",
                                              "top_logprobs"}));
    EXPECT_EQ(t["token"], want[i].token);
    EXPECT_DOUBLE_EQ(t["logprob"].get<double>(), want[i].logprob);
    std::vector<int> bytes(want[i].token.begin(), want[i].token.end());
    for (int& b : bytes) b &= 0xFF;
    EXPECT_EQ(t["bytes"].get<std::vector<int>>(), bytes);
    ASSERT_EQ(t["top_logprobs"].size(), 2u);
    EXPECT_EQ(Keys(t["top_logprobs"][1]),
              (std::set<std::string>{"token", "logprob", "bytes"}));
    EXPECT_EQ(t["top_logprobs"][1]["token"], want[i].top_logprobs[1].token);
  }
  EXPECT_EQ(j["usage"],
            (json{{"prompt_tokens", 7},
                  {"completion_tokens", 3},
                  {"total_tokens", 10},
                  {"prompt_tokens_details", {{"cached_tokens", 2}}}}));
}

TEST(OpenAiResponseTest, FieldsAreInOpenAiOrder) {
  const std::string s =
      DumpJson(BuildChatCompletion(Meta(), {{0, "x"}}, {1, 1, std::nullopt}));
  EXPECT_EQ(s.rfind("{\"id\":\"chatcmpl-abc\",\"object\":", 0), 0u) << s;
  EXPECT_EQ(
      Wire(BuildChatCompletion(Meta(), {{0, "x"}}, {1, 1, {}}))["usage"].count(
          "prompt_tokens_details"),
      0u);
}

TEST(OpenAiResponseTest, CompletionLogprobsShapeAndOffsets) {
  std::vector<CompletionChoice> choices(1);
  choices[0] = {.index = 0,
                .text = "Hello wörld",
                .finish_reason = FinishReason::kLength,
                .logprobs = SampleLogprobs(),
                .text_offset = 5};
  ResponseMeta meta = Meta();
  meta.system_fingerprint.clear();
  const json j = Wire(BuildCompletion(meta, choices, {4, 3, std::nullopt}));
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_TRUE(j["system_fingerprint"].is_null());
  const json& c = j["choices"][0];
  EXPECT_EQ(Keys(c), (std::set<std::string>{"index", "text", "logprobs",
                                            "finish_reason"}));
  EXPECT_EQ(c["text"], "Hello wörld");
  const json& lp = c["logprobs"];
  EXPECT_EQ(Keys(lp), (std::set<std::string>{"tokens", "token_logprobs",
                                             "top_logprobs", "text_offset"}));
  EXPECT_EQ(lp["tokens"], (json{"Hel", "lo", " wörld"}));
  EXPECT_EQ(lp["token_logprobs"], (json{-0.25, -0.5, -1.0}));
  // "Hel" = 3 chars, "lo" = 2: offsets 5, 8, 10 (in characters, not bytes).
  EXPECT_EQ(lp["text_offset"], (json{5, 8, 10}));
  EXPECT_EQ(lp["top_logprobs"][2], (json{{" wörld", -1.0}, {" world", -1.25}}));
  EXPECT_EQ(j["usage"]["total_tokens"], 7);
}

// Splits an SSE byte stream into its data payloads, checking the framing.
std::vector<std::string> SsePayloads(const std::string& stream) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < stream.size()) {
    EXPECT_EQ(stream.compare(pos, 6, "data: "), 0) << stream.substr(pos);
    const size_t end = stream.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos);
    if (end == std::string::npos) break;
    out.push_back(stream.substr(pos + 6, end - pos - 6));
    pos = end + 2;
  }
  return out;
}

TEST(OpenAiResponseTest, ChatStreamingSequence) {
  const ResponseMeta meta = Meta();
  std::string stream;
  stream += SseData(BuildChatCompletionChunk(
      meta, {.role = "assistant", .content = ""}, true));
  for (const char* piece : {"Hel", "lo"}) {
    stream += SseData(BuildChatCompletionChunk(meta, {.content = piece}, true));
  }
  stream += SseData(BuildChatCompletionChunk(
      meta, {.finish_reason = FinishReason::kStop}, true));
  stream += SseData(BuildUsageChunk(meta, "chat.completion.chunk", {5, 2}));
  stream += SseDone();

  const std::vector<std::string> payloads = SsePayloads(stream);
  ASSERT_EQ(payloads.size(), 6u);
  EXPECT_EQ(payloads.back(), "[DONE]");
  std::string text;
  for (size_t i = 0; i < 4; ++i) {
    const json j = json::parse(payloads[i]);
    ExpectHeader(j, "chat.completion.chunk");
    EXPECT_TRUE(j.contains("usage") && j["usage"].is_null());
    ASSERT_EQ(j["choices"].size(), 1u);
    const json& c = j["choices"][0];
    EXPECT_EQ(Keys(c), (std::set<std::string>{"index", "delta", "logprobs",
                                              "finish_reason"}));
    EXPECT_EQ(c["delta"].contains("role"), i == 0);
    if (i == 0) {
      EXPECT_EQ(c["delta"]["role"], "assistant");
    }
    if (c["delta"].contains("content")) text += c["delta"]["content"];
    EXPECT_EQ(c["finish_reason"].is_null(), i != 3);
  }
  EXPECT_EQ(text, "Hello");
  EXPECT_TRUE(json::parse(payloads[3])["choices"][0]["delta"].empty());
  const json usage = json::parse(payloads[4]);
  EXPECT_TRUE(usage["choices"].is_array() && usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["total_tokens"], 7);

  // Without include_usage there is no "usage" key at all.
  EXPECT_FALSE(Wire(BuildChatCompletionChunk(meta, {.content = "x"}, false))
                   .contains("usage"));
}

TEST(OpenAiResponseTest, CompletionStreamingContinuesOffsets) {
  int64_t offset = 0;
  const auto lp = SampleLogprobs();
  json a = Wire(BuildCompletionChunk(
      Meta(),
      {.text = "Hello", .logprobs = std::vector(lp.begin(), lp.begin() + 2)},
      false, &offset));
  json b = Wire(
      BuildCompletionChunk(Meta(),
                           {.text = " wörld",
                            .finish_reason = FinishReason::kStop,
                            .logprobs = std::vector(lp.begin() + 2, lp.end())},
                           false, &offset));
  EXPECT_EQ(a["object"], "text_completion");
  EXPECT_EQ(a["choices"][0]["logprobs"]["text_offset"], (json{0, 3}));
  EXPECT_EQ(b["choices"][0]["logprobs"]["text_offset"], (json{5}));
  EXPECT_EQ(offset, 11);
  EXPECT_TRUE(a["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(b["choices"][0]["finish_reason"], "stop");
}

TEST(OpenAiResponseTest, InvalidUtf8AndInfinitiesAreSafe) {
  const std::string partial = "\xE2\x80";  // First 2 bytes of a 3-byte char.
  std::vector<TokenLogprob> lp = {
      {partial, -std::numeric_limits<float>::infinity(), {{partial, NAN}}}};
  const json j = Wire(ResponseJson(ChatLogprobsJson(lp)));
  const json& t = j["content"][0];
  EXPECT_EQ(t["bytes"], (json{0xE2, 0x80}));
  EXPECT_EQ(t["logprob"], -9999.0);
  EXPECT_EQ(t["top_logprobs"][0]["logprob"], -9999.0);
  EXPECT_NE(t["token"].get<std::string>().find("\xEF\xBF\xBD"),
            std::string::npos);  // U+FFFD
}

TEST(OpenAiResponseTest, SmallHelpers) {
  EXPECT_EQ(SseDone(), "data: [DONE]\n\n");
  EXPECT_EQ(SseData(ResponseJson{{"a", 1}}), "data: {\"a\":1}\n\n");
  EXPECT_EQ(MakeResponseId("cmpl-", 1, 255),
            "cmpl-000000000000000100000000000000ff");
  EXPECT_TRUE(FinishReasonJson(FinishReason::kNone).is_null());
  EXPECT_EQ(FinishReasonJson(FinishReason::kAbort), "abort");
}

}  // namespace
}  // namespace infernum::router
