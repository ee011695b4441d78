// End-to-end tests of the router's successful paths against a fake worker:
// response shapes of both endpoints, streaming and not, n > 1, seeds, stop
// strings, logprobs, include_usage, models and health.
#include <gtest/gtest.h>

#include <set>

#include "router/server/request_builder.h"
#include "router/server/router_test_fixture.h"

namespace infernum::router::testing {
namespace {

using nlohmann::json;

const json kChat = {{"model", "stories260K"},
                    {"messages", {{{"role", "user"}, {"content", "Hi"}}}}};

TEST_F(RouterTest, ChatCompletionNonStreaming) {
  int status = 0;
  json r = Post("/v1/chat/completions", kChat, &status);
  ASSERT_EQ(status, 200) << r.dump();
  ASSERT_EQ(worker_->requests().size(), 1u);
  const v1::GenerateRequest req = worker_->requests()[0];
  // The plain template renders "Hi"; the tokenizer adds BOS.
  EXPECT_EQ(PromptOf(req), *tokenizer_->Encode("Hi", true));
  EXPECT_EQ(req.max_tokens(), 512 - req.prompt_token_ids_size());
  // Unseeded requests get a router-chosen seed, so that a migration to
  // another worker continues the same random stream.
  EXPECT_TRUE(req.sampling().has_seed());
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_EQ(r["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_GT(r["created"].get<int64_t>(), 1600000000);
  EXPECT_EQ(r["model"], "stories260K");
  EXPECT_EQ(r["system_fingerprint"], "fp_test");
  ASSERT_EQ(r["choices"].size(), 1u);
  const json& c = r["choices"][0];
  EXPECT_EQ(c["index"], 0);
  EXPECT_EQ(c["message"]["role"], "assistant");
  EXPECT_EQ(c["message"]["content"], ExpectedText(PromptOf(req), story_ids_));
  EXPECT_EQ(c["finish_reason"], "stop");
  EXPECT_TRUE(c["logprobs"].is_null());
  const int64_t n = static_cast<int64_t>(story_ids_.size());
  EXPECT_EQ(r["usage"]["prompt_tokens"], req.prompt_token_ids_size());
  EXPECT_EQ(r["usage"]["completion_tokens"], n + 1);  // + the EOS.
  EXPECT_EQ(r["usage"]["total_tokens"], req.prompt_token_ids_size() + n + 1);
}

TEST_F(RouterTest, ChatCompletionStreaming) {
  json body = kChat;
  body["stream"] = true;
  int status = 0;
  std::vector<json> events = PostStream("/v1/chat/completions", body, &status);
  ASSERT_EQ(status, 200);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  const std::string id = events[0]["id"];
  EXPECT_EQ(events[0]["choices"][0]["delta"]["role"], "assistant");
  std::string content;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json& e = events[i];
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    EXPECT_EQ(e["id"], id);
    EXPECT_FALSE(e.contains("usage"));
    const json& delta = e["choices"][0]["delta"];
    if (delta.contains("content"))
      content += delta["content"].get<std::string>();
    const bool last = i + 2 == events.size();
    EXPECT_EQ(e["choices"][0]["finish_reason"].is_null(), !last);
  }
  EXPECT_EQ(events[events.size() - 2]["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(content,
            ExpectedText(PromptOf(worker_->requests()[0]), story_ids_));
}

TEST_F(RouterTest, CompletionNonStreamingAndLengthLimit) {
  int status = 0;
  json r =
      Post("/v1/completions",
           {{"model", "stories260K"}, {"prompt", "Once"}, {"max_tokens", 5}},
           &status);
  ASSERT_EQ(status, 200) << r.dump();
  const v1::GenerateRequest req = worker_->requests()[0];
  EXPECT_EQ(req.max_tokens(), 5);
  EXPECT_EQ(r["object"], "text_completion");
  EXPECT_EQ(r["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  const std::vector<int32_t> first5(story_ids_.begin(), story_ids_.begin() + 5);
  EXPECT_EQ(r["choices"][0]["text"], ExpectedText(PromptOf(req), first5));
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r["usage"]["completion_tokens"], 5);
}

TEST_F(RouterTest, CompletionStreamingWithTokenPromptAndEcho) {
  const std::vector<int32_t> prompt = *tokenizer_->Encode("Once upon", true);
  int status = 0;
  std::vector<json> events = PostStream("/v1/completions",
                                        {{"model", "stories260K"},
                                         {"prompt", prompt},
                                         {"stream", true},
                                         {"echo", true}},
                                        &status);
  ASSERT_EQ(status, 200);
  EXPECT_EQ(PromptOf(worker_->requests()[0]), prompt);
  std::string text;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    EXPECT_EQ(events[i]["object"], "text_completion");
    text += events[i]["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(events[events.size() - 2]["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(text, *tokenizer_->Decode(prompt, true) +
                      ExpectedText(prompt, story_ids_));
}

TEST_F(RouterTest, NTwoFansOutWithDistinctReproducibleSeeds) {
  json body = kChat;
  body["n"] = 2;
  body["seed"] = 1234;
  int status = 0;
  json r = Post("/v1/chat/completions", body, &status);
  ASSERT_EQ(status, 200) << r.dump();
  ASSERT_EQ(r["choices"].size(), 2u);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(r["choices"][i]["index"], i);
  const int64_t n = static_cast<int64_t>(story_ids_.size());
  EXPECT_EQ(r["usage"]["completion_tokens"], 2 * (n + 1));
  r = Post("/v1/chat/completions", body, &status);  // Same request again.
  ASSERT_EQ(status, 200);
  const auto reqs = worker_->requests();
  ASSERT_EQ(reqs.size(), 4u);
  std::multiset<int64_t> first, second;
  std::set<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(reqs[i].sampling().has_seed());
    (i < 2 ? first : second).insert(reqs[i].sampling().seed());
    ids.insert(reqs[i].request_id());
  }
  EXPECT_EQ(ids.size(), 4u);  // Every stream has its own request id.
  EXPECT_EQ(first, second);   // Reproducible.
  EXPECT_EQ(first, (std::multiset<int64_t>{1234, SampleSeed(1234, 1)}));
  EXPECT_NE(SampleSeed(1234, 1), 1234);  // Distinct choices.
}

TEST_F(RouterTest, StopStringAcrossTokensIsNeverEmittedAndCancelsStream) {
  // The worker streams the story, then waits: only the router's cancel ends
  // the stream.
  worker_->SetScript([this](const v1::GenerateRequest&, FakeStream& s) {
    for (int32_t id : story_ids_) s.Send({id});
    s.WaitUntilCancelled(absl::Seconds(30));
    return grpc::Status::OK;
  });
  const std::string stop = "a little";
  for (bool stream : {false, true}) {
    const int cancelled_before = worker_->num_cancelled();
    json body = kChat;
    body["stop"] = {stop, "never matches"};
    body["stream"] = stream;
    int status = 0;
    std::string content;
    json finish;
    if (stream) {
      auto events = PostStream("/v1/chat/completions", body, &status);
      for (size_t i = 0; i + 1 < events.size(); ++i) {
        const json& choice = events[i]["choices"][0];
        if (choice["delta"].contains("content")) {
          content += choice["delta"]["content"].get<std::string>();
        }
        if (!choice["finish_reason"].is_null())
          finish = choice["finish_reason"];
      }
    } else {
      json r = Post("/v1/chat/completions", body, &status);
      content = r["choices"][0]["message"]["content"];
      finish = r["choices"][0]["finish_reason"];
    }
    ASSERT_EQ(status, 200);
    const std::string full =
        ExpectedText(PromptOf(worker_->requests().back()), story_ids_);
    ASSERT_NE(full.find(stop), std::string::npos);
    EXPECT_EQ(content, full.substr(0, full.find(stop))) << "stream=" << stream;
    EXPECT_EQ(finish, "stop");
    EXPECT_TRUE(
        worker_->WaitForCancelled(cancelled_before + 1, absl::Seconds(30)));
  }
}

TEST_F(RouterTest, ChatLogprobsShape) {
  json body = kChat;
  body["logprobs"] = true;
  body["top_logprobs"] = 2;
  body["max_tokens"] = 4;
  int status = 0;
  json r = Post("/v1/chat/completions", body, &status);
  ASSERT_EQ(status, 200) << r.dump();
  const v1::GenerateRequest req = worker_->requests()[0];
  EXPECT_TRUE(req.logprobs());
  EXPECT_EQ(req.top_logprobs(), 2);
  const json& content = r["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 4u);
  std::string joined;
  for (int k = 0; k < 4; ++k) {
    const std::string token = content[k]["token"];
    joined += token;
    EXPECT_FLOAT_EQ(content[k]["logprob"].get<float>(), -(k + 1) / 8.0f);
    ASSERT_EQ(content[k]["bytes"].size(), token.size());
    for (size_t b = 0; b < token.size(); ++b) {
      EXPECT_EQ(content[k]["bytes"][b], static_cast<unsigned char>(token[b]));
    }
    ASSERT_EQ(content[k]["top_logprobs"].size(), 2u);
    EXPECT_FLOAT_EQ(content[k]["top_logprobs"][1]["logprob"].get<float>(),
                    -(k + 1) / 8.0f - 0.5f);
  }
  // The token strings add up to the message text.
  EXPECT_EQ(joined, r["choices"][0]["message"]["content"]);
  const std::vector<int32_t> first4(story_ids_.begin(), story_ids_.begin() + 4);
  EXPECT_EQ(joined, ExpectedText(PromptOf(req), first4));
}

TEST_F(RouterTest, CompletionLogprobsShape) {
  int status = 0;
  json r = Post("/v1/completions",
                {{"model", "stories260K"},
                 {"prompt", "Once"},
                 {"max_tokens", 3},
                 {"logprobs", 3}},
                &status);
  ASSERT_EQ(status, 200) << r.dump();
  const json& lp = r["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), 3u);
  ASSERT_EQ(lp["token_logprobs"].size(), 3u);
  ASSERT_EQ(lp["top_logprobs"].size(), 3u);
  ASSERT_EQ(lp["text_offset"].size(), 3u);
  std::string joined;
  for (int k = 0; k < 3; ++k) {
    // Offsets count the text before each token.
    EXPECT_EQ(lp["text_offset"][k], joined.size());  // ASCII story.
    joined += lp["tokens"][k].get<std::string>();
    EXPECT_FLOAT_EQ(lp["token_logprobs"][k].get<float>(), -(k + 1) / 8.0f);
    EXPECT_LE(lp["top_logprobs"][k].size(), 3u);  // Dict: equal texts merge.
    EXPECT_GE(lp["top_logprobs"][k].size(), 1u);
  }
  EXPECT_EQ(joined, r["choices"][0]["text"]);
}

TEST_F(RouterTest, StreamIncludeUsage) {
  for (const char* path : {"/v1/chat/completions", "/v1/completions"}) {
    json body = {{"model", "stories260K"},
                 {"stream", true},
                 {"stream_options", {{"include_usage", true}}},
                 {"max_tokens", 4}};
    if (std::string(path) == "/v1/completions") {
      body["prompt"] = "Once";
    } else {
      body["messages"] = kChat["messages"];
    }
    int status = 0;
    auto events = PostStream(path, body, &status);
    ASSERT_EQ(status, 200);
    ASSERT_GE(events.size(), 3u);
    EXPECT_EQ(events.back(), "[DONE]");
    const json& usage_chunk = events[events.size() - 2];
    EXPECT_TRUE(usage_chunk["choices"].empty());
    EXPECT_EQ(usage_chunk["usage"]["completion_tokens"], 4);
    EXPECT_EQ(usage_chunk["usage"]["prompt_tokens"],
              worker_->requests().back().prompt_token_ids_size());
    for (size_t i = 0; i + 2 < events.size(); ++i) {
      EXPECT_TRUE(events[i].contains("usage") && events[i]["usage"].is_null())
          << path << " " << events[i].dump();
    }
  }
}

TEST_F(RouterTest, ModelsAndHealth) {
  auto models = router_->Client()->Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 200);
  json m = json::parse(models->body);
  EXPECT_EQ(m["object"], "list");
  ASSERT_EQ(m["data"].size(), 1u);
  EXPECT_EQ(m["data"][0]["id"], "stories260K");
  EXPECT_EQ(m["data"][0]["object"], "model");
  EXPECT_EQ(m["data"][0]["max_model_len"], 512);
  auto health = router_->Client()->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(json::parse(health->body)["status"], "ok");
}

TEST_F(RouterTest, BatchedCompletionPromptsTimesN) {
  int status = 0;
  json r = Post("/v1/completions",
                {{"model", "stories260K"},
                 {"prompt", {"Once", "Lily"}},
                 {"n", 2},
                 {"max_tokens", 2}},
                &status);
  ASSERT_EQ(status, 200) << r.dump();
  ASSERT_EQ(r["choices"].size(), 4u);
  const auto reqs = worker_->requests();
  ASSERT_EQ(reqs.size(), 4u);
  int64_t prompt_tokens = reqs[0].prompt_token_ids_size();
  for (const auto& q : reqs) {
    if (PromptOf(q) != PromptOf(reqs[0])) {
      prompt_tokens += q.prompt_token_ids_size();
      break;
    }
  }
  EXPECT_EQ(r["usage"]["prompt_tokens"], prompt_tokens);  // Each prompt once.
  EXPECT_EQ(r["usage"]["completion_tokens"], 8);
}

}  // namespace
}  // namespace infernum::router::testing
