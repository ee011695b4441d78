#include "router/api/openai_request.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "router/api/errors.h"

namespace infernum::router {
namespace {

using nlohmann::json;

json MinimalChat() {
  return {{"model", "m"},
          {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}};
}

json MinimalCompletion() { return {{"model", "m"}, {"prompt", "Once"}}; }

// Asserts that `body` fails chat parsing with an invalid_request error naming
// `param`.
void ExpectChatError(const json& body, const std::string& param) {
  auto r = ParseChatCompletionRequest(body.dump());
  ASSERT_FALSE(r.ok()) << body.dump();
  const ApiError e = ApiErrorFromStatus(r.status());
  EXPECT_EQ(e.info().http_status, 400) << r.status();
  ASSERT_TRUE(e.param.has_value()) << r.status();
  EXPECT_EQ(*e.param, param) << r.status();
}

void ExpectCompletionError(const json& body, const std::string& param) {
  auto r = ParseCompletionRequest(body.dump());
  ASSERT_FALSE(r.ok()) << body.dump();
  const ApiError e = ApiErrorFromStatus(r.status());
  ASSERT_TRUE(e.param.has_value()) << r.status();
  EXPECT_EQ(*e.param, param) << r.status();
}

TEST(ChatRequestTest, MinimalRequestGetsOpenAiDefaults) {
  auto r = ParseChatCompletionRequest(MinimalChat().dump());
  ASSERT_TRUE(r.ok()) << r.status();
  const RequestOptions& o = r->options;
  EXPECT_EQ(o.model, "m");
  EXPECT_FALSE(o.max_tokens.has_value());
  EXPECT_EQ(o.temperature, 1.0);
  EXPECT_EQ(o.top_p, 1.0);
  EXPECT_EQ(o.top_k, 0);
  EXPECT_EQ(o.n, 1);
  EXPECT_FALSE(o.stream);
  EXPECT_FALSE(o.seed.has_value());
  EXPECT_TRUE(r->add_generation_prompt);
  ASSERT_EQ(r->messages.size(), 1u);
  EXPECT_EQ(r->messages[0].role, "user");
  EXPECT_EQ(r->messages[0].content, "hi");
}

TEST(ChatRequestTest, AllFieldsParse) {
  json b = MinimalChat();
  b["max_tokens"] = 10;
  b["max_completion_tokens"] = 20;  // Wins over max_tokens.
  b["temperature"] = 0;
  b["top_p"] = 0.5;
  b["top_k"] = -1;
  b["min_p"] = 0.1;
  b["presence_penalty"] = -2;
  b["frequency_penalty"] = 2.0;
  b["repetition_penalty"] = 1.2;
  b["seed"] = -9223372036854775807LL - 1;
  b["stop"] = "\n\n";
  b["n"] = 3;
  b["logprobs"] = true;
  b["top_logprobs"] = 20;
  b["stream"] = true;
  b["stream_options"] = {{"include_usage", true}};
  b["ignore_eos"] = true;
  b["user"] = "u1";
  b["tools"] = json::array();           // Ignored.
  b["some_future_field"] = {{"x", 1}};  // Ignored.
  auto r = ParseChatCompletionRequest(b.dump());
  ASSERT_TRUE(r.ok()) << r.status();
  const RequestOptions& o = r->options;
  EXPECT_EQ(o.max_tokens, 20);
  EXPECT_EQ(o.temperature, 0.0);
  EXPECT_EQ(o.top_p, 0.5);
  EXPECT_EQ(o.top_k, 0);
  EXPECT_DOUBLE_EQ(o.min_p, 0.1);
  EXPECT_EQ(o.presence_penalty, -2.0);
  EXPECT_EQ(o.frequency_penalty, 2.0);
  EXPECT_DOUBLE_EQ(o.repetition_penalty, 1.2);
  EXPECT_EQ(o.seed, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(o.stop, std::vector<std::string>{"\n\n"});
  EXPECT_EQ(o.n, 3);
  EXPECT_TRUE(o.logprobs);
  EXPECT_EQ(o.top_logprobs, 20);
  EXPECT_TRUE(o.stream);
  EXPECT_TRUE(o.include_usage);
  EXPECT_TRUE(o.ignore_eos);
  EXPECT_EQ(o.user, "u1");
}

TEST(ChatRequestTest, NullMeansAbsent) {
  json b = MinimalChat();
  for (const char* k :
       {"temperature", "top_p", "max_tokens", "seed", "stop", "n", "logprobs",
        "top_logprobs", "stream_options", "user"}) {
    b[k] = nullptr;
  }
  auto r = ParseChatCompletionRequest(b.dump());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->options.temperature, 1.0);
  EXPECT_FALSE(r->options.seed.has_value());
}

TEST(ChatRequestTest, ContentPartsAreJoinedAndDeveloperIsSystem) {
  json b = MinimalChat();
  b["messages"] = json::parse(R"([
    {"role":"developer","content":"be brief"},
    {"role":"user","content":[{"type":"text","text":"a"},
                              {"type":"text","text":"b"}]},
    {"role":"assistant","content":null},
    {"role":"user","content":"c","name":"bob"}])");
  auto r = ParseChatCompletionRequest(b.dump());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->messages.size(), 4u);
  EXPECT_EQ(r->messages[0].role, "system");
  EXPECT_EQ(r->messages[1].content, "a\nb");
  EXPECT_EQ(r->messages[2].content, "");
}

TEST(ChatRequestTest, ValidationErrorsNameTheParam) {
  json b = MinimalChat();
  b.erase("model");
  ExpectChatError(b, "model");

  struct Case {
    const char* key;
    json value;
  };
  const Case cases[] = {
      {"model", 5},
      {"model", ""},
      {"temperature", 2.5},
      {"temperature", -0.1},
      {"temperature", "hot"},
      {"top_p", 0},
      {"top_p", 1.01},
      {"top_k", -2},
      {"min_p", 1.5},
      {"presence_penalty", 2.1},
      {"frequency_penalty", -3},
      {"repetition_penalty", 0},
      {"max_tokens", 0},
      {"max_tokens", -5},
      {"max_tokens", 1.5},
      {"max_tokens", "10"},
      {"max_completion_tokens", 0},
      {"n", 0},
      {"n", 17},
      {"seed", 1.5},
      {"stream", "yes"},
      {"stream", 1},
      {"logprobs", 1},
      {"top_logprobs", 21},
      {"stop", 5},
      {"stop", ""},
      {"user", 7},
      {"ignore_eos", "true"},
  };
  for (const Case& c : cases) {
    json bad = MinimalChat();
    bad[c.key] = c.value;
    SCOPED_TRACE(bad.dump());
    ExpectChatError(bad, c.key);
  }
}

TEST(ChatRequestTest, HugeNumbersAreRangeErrorsNotOverflows) {
  // Raw text, so the numbers reach the parser exactly as a client sent them.
  const char* bodies[][2] = {
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],
          "max_tokens":1180591620717411303424})",
       "max_tokens"},  // 2^70
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],
          "max_tokens":1e308})",
       "max_tokens"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],
          "seed":18446744073709551615})",
       "seed"},  // 2^64-1
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],
          "seed":9223372036854775808})",
       "seed"},  // 2^63
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],
          "temperature":1e308})",
       "temperature"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],
          "top_k":4294967297})",
       "top_k"},  // 2^32+1 must not wrap to 1.
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],
          "n":-1e308})",
       "n"},
  };
  for (const auto& [body, param] : bodies) {
    auto r = ParseChatCompletionRequest(body);
    ASSERT_FALSE(r.ok()) << body;
    auto e = ApiErrorFromStatus(r.status());
    EXPECT_EQ(e.param.value_or(""), param) << body;
  }
  // 1e400 overflows a double: rejected either as bad JSON or out of range.
  EXPECT_FALSE(ParseChatCompletionRequest(
                   R"({"model":"m","messages":[{"role":"user","content":"x"}],
                       "temperature":1e400})")
                   .ok());
  // An integral float is accepted as an integer.
  auto ok = ParseChatCompletionRequest(
      R"({"model":"m","messages":[{"role":"user","content":"x"}],
          "max_tokens":16.0,"seed":-1})");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->options.max_tokens, 16);
  EXPECT_EQ(ok->options.seed, -1);
}

TEST(ChatRequestTest, MessageErrors) {
  auto with_messages = [](json messages) {
    json b = MinimalChat();
    b["messages"] = std::move(messages);
    return b;
  };
  ExpectChatError(with_messages(json::array()), "messages");
  ExpectChatError(with_messages("hi"), "messages");
  ExpectChatError(with_messages(json::array({5})), "messages[0]");
  ExpectChatError(with_messages(json::parse(
                      R"([{"role":"user","content":"a"},{"content":"b"}])")),
                  "messages[1].role");
  ExpectChatError(
      with_messages(json::parse(R"([{"role":"wizard","content":"a"}])")),
      "messages[0].role");
  ExpectChatError(
      with_messages(json::parse(R"([{"role":"tool","content":"a"}])")),
      "messages[0].role");
  ExpectChatError(with_messages(json::parse(R"([{"role":"user"}])")),
                  "messages[0].content");
  ExpectChatError(
      with_messages(json::parse(R"([{"role":"user","content":{"a":1}}])")),
      "messages[0].content");
  ExpectChatError(with_messages(json::parse(
                      R"([{"role":"user","content":[{"type":"image_url",
                          "image_url":{"url":"x"}}]}])")),
                  "messages[0].content[0].type");
  ExpectChatError(with_messages(json::parse(
                      R"([{"role":"user","content":[{"type":"text"},
                          {"type":"text","text":3}]}])")),
                  "messages[0].content[1].text");
}

TEST(ChatRequestTest, StopListsAndCrossFieldRules) {
  json b = MinimalChat();
  b["stop"] = {"a", "bc"};
  auto r = ParseChatCompletionRequest(b.dump());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->options.stop, (std::vector<std::string>{"a", "bc"}));

  b["stop"] = json::array();
  for (int i = 0; i < kMaxStopStrings + 1; ++i) b["stop"].push_back("s");
  ExpectChatError(b, "stop");
  b["stop"] = {"a", ""};
  ExpectChatError(b, "stop[1]");
  b["stop"] = {"a", 3};
  ExpectChatError(b, "stop[1]");

  json t = MinimalChat();
  t["top_logprobs"] = 3;  // logprobs not set.
  ExpectChatError(t, "top_logprobs");
  t["logprobs"] = false;
  ExpectChatError(t, "top_logprobs");

  json s = MinimalChat();
  s["stream_options"] = {{"include_usage", true}};  // stream not set.
  ExpectChatError(s, "stream_options");
  s["stream"] = true;
  s["stream_options"] = {{"include_usage", "yes"}};
  ExpectChatError(s, "stream_options.include_usage");

  json ids = MinimalChat();
  ids["stop_token_ids"] = {2, -1};
  ExpectChatError(ids, "stop_token_ids[1]");
}

TEST(ChatRequestTest, MalformedBodiesAreErrorsNotCrashes) {
  for (const char* body : {"", "{", "[]", "null", "\"x\"", "{\"model\":}",
                           "{\"model\":\"m\"", "\xff\xfe"}) {
    auto r = ParseChatCompletionRequest(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(ApiErrorFromStatus(r.status()).info().http_status, 400);
  }
  // Deep nesting is fine for nlohmann's iterative parser.
  std::string deep = "{\"model\":\"m\",\"x\":" + std::string(100000, '[') +
                     std::string(100000, ']') + "}";
  EXPECT_FALSE(ParseChatCompletionRequest(deep).ok());  // No messages.
}

TEST(CompletionRequestTest, PromptForms) {
  struct Case {
    json prompt;
    size_t num_prompts;
    bool token_ids;
  };
  const Case cases[] = {
      {"Once", 1, false},          {"", 1, false},
      {{"a", "b", "c"}, 3, false}, {{1, 2, 3}, 1, true},
      {{{1, 2}, {3}}, 2, true},
  };
  for (const Case& c : cases) {
    json b = MinimalCompletion();
    b["prompt"] = c.prompt;
    auto r = ParseCompletionRequest(b.dump());
    ASSERT_TRUE(r.ok()) << b.dump() << r.status();
    ASSERT_EQ(r->prompts.size(), c.num_prompts) << b.dump();
    EXPECT_EQ(r->prompts[0].is_token_ids, c.token_ids);
  }
  json b = MinimalCompletion();
  b["prompt"] = {{1, 2}, {3}};
  auto r = ParseCompletionRequest(b.dump());
  EXPECT_EQ(r->prompts[0].token_ids, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(r->prompts[1].token_ids, (std::vector<int32_t>{3}));
}

TEST(CompletionRequestTest, PromptErrors) {
  auto with_prompt = [](json prompt) {
    json b = MinimalCompletion();
    b["prompt"] = std::move(prompt);
    return b;
  };
  json missing = MinimalCompletion();
  missing.erase("prompt");
  ExpectCompletionError(missing, "prompt");
  ExpectCompletionError(with_prompt(json::array()), "prompt");
  ExpectCompletionError(with_prompt(5), "prompt");
  ExpectCompletionError(with_prompt({"a", 1}), "prompt[1]");
  ExpectCompletionError(with_prompt({1, "a"}), "prompt[1]");
  ExpectCompletionError(with_prompt({1, -2}), "prompt[1]");
  ExpectCompletionError(with_prompt({1, 4294967296LL}), "prompt[1]");
  ExpectCompletionError(with_prompt({{1}, json::array()}), "prompt[1]");
  ExpectCompletionError(with_prompt({{1}, {2, "x"}}), "prompt[1][1]");
  json many = json::array();
  for (int i = 0; i <= kMaxPrompts; ++i) many.push_back("p");
  ExpectCompletionError(with_prompt(many), "prompt");
}

TEST(CompletionRequestTest, LogprobsIsAnIntCount) {
  json b = MinimalCompletion();
  b["logprobs"] = 0;
  auto r = ParseCompletionRequest(b.dump());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->options.logprobs);
  EXPECT_EQ(r->options.top_logprobs, 0);
  b["logprobs"] = 5;
  b["echo"] = true;
  r = ParseCompletionRequest(b.dump());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->options.top_logprobs, 5);
  EXPECT_TRUE(r->echo);
  b["logprobs"] = 6;
  ExpectCompletionError(b, "logprobs");
  b["logprobs"] = true;
  ExpectCompletionError(b, "logprobs");

  json none = MinimalCompletion();
  r = ParseCompletionRequest(none.dump());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->options.logprobs);
}

}  // namespace
}  // namespace infernum::router
