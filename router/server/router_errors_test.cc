// End-to-end tests of the router's failure paths: every client error
// class, worker failures before and during a stream, client disconnects
// and deadlines; after each one the router must still serve.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>

#include "absl/strings/str_cat.h"
#include "router/server/router_test_fixture.h"

namespace infernum::router::testing {
namespace {

using nlohmann::json;

const json kChat = {{"model", "stories260K"},
                    {"messages", {{{"role", "user"}, {"content", "Hi"}}}}};

// Checks the OpenAI error body and returns error.message.
std::string ExpectErrorBody(const std::string& body, const std::string& type) {
  json j = json::parse(body, nullptr, false);
  EXPECT_TRUE(j.is_object()) << body;
  if (!j.is_object()) return "";
  const json& e = j["error"];
  EXPECT_TRUE(e["message"].is_string()) << body;
  EXPECT_EQ(e["type"], type) << body;
  EXPECT_TRUE(e.contains("param")) << body;
  EXPECT_TRUE(e["code"].is_string()) << body;
  return e["message"].is_string() ? e["message"].get<std::string>() : "";
}

TEST_F(RouterTest, BadRequestsGet400WithErrorBody) {
  const std::vector<std::string> bodies = {
      "{\"model\": \"stories260K\", \"messages\": [",  // malformed
      "[1, 2, 3]",                                     // not object
      R"({"model":"stories260K","messages":[]})",      // empty
      R"({"model":"stories260K","messages":"hi"})",    // wrong type
      R"({"model":"stories260K","messages":[{"role":"user","content":"x"}],"max_tokens":-5})",
      R"({"model":"stories260K","messages":[{"role":"user","content":"x"}],"max_tokens":1e308})",
      R"({"model":"stories260K","messages":[{"role":"user","content":"x"}],"max_tokens":1180591620717411303424})",
      R"({"model":"stories260K","messages":[{"role":"user","content":"x"}],"temperature":"hot"})",
      R"({"model":"stories260K","messages":[{"role":"user","content":"x"}],"n":100000})",
      R"({"model":"stories260K","messages":[{"role":"user","content":"x"}],"stop_token_ids":[99999]})",
      R"({"model":"stories260K","prompt":[1, 2]})",  // completions-only field
      "\xff\xfe\x00garbage\x80\x81",
  };
  for (const std::string& body : bodies) {
    auto res = router_->PostJson("/v1/chat/completions", body);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << body;
    ExpectErrorBody(res->body, "invalid_request_error");
  }
  ExpectServes();
}

TEST_F(RouterTest, CompletionTokenIdsOutsideVocabAre400) {
  int status = 0;
  json r = Post("/v1/completions",
                {{"model", "stories260K"}, {"prompt", {1, 600}}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(r["error"]["param"], "prompt[1]");
  ExpectServes();
}

TEST_F(RouterTest, WrongContentTypeIs400) {
  auto res = router_->Client()->Post("/v1/chat/completions", kChat.dump(),
                                     "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(ExpectErrorBody(res->body, "invalid_request_error")
                .find("application/json"),
            std::string::npos);
  ExpectServes();
}

TEST_F(RouterTest, ContextOverflowNamesBothNumbers) {
  json body = kChat;
  body["max_tokens"] = 600;
  int status = 0;
  json r = Post("/v1/chat/completions", body, &status);
  EXPECT_EQ(status, 400);
  const std::string message = r["error"]["message"];
  const size_t prompt_len = tokenizer_->Encode("Hi", true)->size();
  EXPECT_EQ(r["error"]["code"], "context_length_exceeded");
  EXPECT_NE(message.find("512"), std::string::npos) << message;
  EXPECT_NE(message.find(absl::StrCat(prompt_len, " in the messages")),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("600 in the completion"), std::string::npos)
      << message;
  // A prompt longer than the context.
  std::string long_prompt;
  for (int i = 0; i < 400; ++i) long_prompt += "Once upon a time. ";
  r = Post("/v1/completions",
           {{"model", "stories260K"}, {"prompt", long_prompt}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(r["error"]["code"], "context_length_exceeded");
  EXPECT_TRUE(worker_->requests().empty());  // Nothing reached the worker.
  ExpectServes();
}

TEST_F(RouterTest, UnknownModelIs404UnknownRouteIs404WrongMethodIs405) {
  json body = kChat;
  body["model"] = "gpt-17";
  int status = 0;
  json r = Post("/v1/chat/completions", body, &status);
  EXPECT_EQ(status, 404);
  EXPECT_EQ(r["error"]["code"], "model_not_found");
  auto res = router_->Client()->Get("/v2/nothing");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  ExpectErrorBody(res->body, "not_found_error");
  res = router_->Client()->Get("/v1/chat/completions");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  ExpectErrorBody(res->body, "invalid_request_error");
  ExpectServes();
}

TEST_F(RouterTest, OversizedBodyIs413) {
  json body = kChat;
  body["messages"][0]["content"] = std::string(100 * 1024, 'a');  // > 64 KiB
  auto res = router_->PostJson("/v1/chat/completions", body.dump());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  ExpectErrorBody(res->body, "invalid_request_error");
  // Chunked upload (no Content-Length) is limited too.
  const std::string big = body.dump();
  res = router_->Client()->Post(
      "/v1/chat/completions",
      [&big](size_t offset, httplib::DataSink& sink) {
        if (offset >= big.size()) {
          sink.done();
          return true;
        }
        return sink.write(big.data() + offset,
                          std::min<size_t>(8192, big.size() - offset));
      },
      "application/json");
  if (res) {  // The server may close the connection first.
    EXPECT_EQ(res->status, 413);
  }
  ExpectServes();
}

TEST_F(RouterTest, GarbageHttpNeverCrashes) {
  std::mt19937 rng(7);
  for (int i = 0; i < 20; ++i) {
    std::string junk(1 + rng() % 300, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (i % 2 == 0) {  // Hang up at once.
      RawHttp(router_->port(), junk, /*close_early=*/true);
      continue;
    }
    // A complete (bogus) request head: the server answers with a 4xx.
    const std::string answer =
        RawHttp(router_->port(), junk + "\r\n\r\n", /*close_early=*/false);
    EXPECT_EQ(answer.rfind("HTTP/1.1 4", 0), 0u) << answer;
  }
  const std::string answer = RawHttp(
      router_->port(),
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
      "application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
      "\x01\x02\x03\x04\x05",
      false);
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
  ExpectServes();
}

TEST_F(RouterTest, WorkerErrorMidStreamBecomesSseErrorEvent) {
  worker_->SetScript([this](const v1::GenerateRequest&, FakeStream& s) {
    s.Send({story_ids_[0]});
    s.Send({story_ids_[1]});
    s.SendFinal(v1::FINISH_REASON_ERROR, 2, "GPU on fire");
    return grpc::Status::OK;
  });
  json body = kChat;
  body["stream"] = true;
  int status = 0;
  auto events = PostStream("/v1/chat/completions", body, &status);
  ASSERT_EQ(status, 200);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  const json& err = events[events.size() - 2];
  ASSERT_TRUE(err.contains("error")) << err.dump();
  EXPECT_NE(err["error"]["message"].get<std::string>().find("GPU on fire"),
            std::string::npos);
  // Non-streaming: 500 with the error body.
  body["stream"] = false;
  json r = Post("/v1/chat/completions", body, &status);
  EXPECT_EQ(status, 500);
  EXPECT_EQ(r["error"]["type"], "server_error");
  // A worker that dies mid-stream (status after tokens) is an error too.
  worker_->SetScript([this](const v1::GenerateRequest&, FakeStream& s) {
    s.Send({story_ids_[0]});
    return grpc::Status(grpc::StatusCode::INTERNAL, "worker crashed");
  });
  body["stream"] = true;
  events = PostStream("/v1/chat/completions", body, &status);
  ASSERT_GE(events.size(), 2u);
  EXPECT_TRUE(events[events.size() - 2].contains("error"));
  EXPECT_EQ(events.back(), "[DONE]");
  worker_->SetScript([this](const v1::GenerateRequest&, FakeStream& s) {
    s.SendAll(story_ids_);
    return grpc::Status::OK;
  });
  ExpectServes();
}

TEST_F(RouterTest, WorkerRejectionsMapToHttpStatus) {
  const std::pair<grpc::StatusCode, int> cases[] = {
      {grpc::StatusCode::INVALID_ARGUMENT, 400},
      {grpc::StatusCode::OUT_OF_RANGE, 400},
      {grpc::StatusCode::RESOURCE_EXHAUSTED, 429},
      {grpc::StatusCode::UNAVAILABLE, 503},
  };
  for (const auto& [code, http] : cases) {
    worker_->SetScript([code = code](const v1::GenerateRequest&, FakeStream&) {
      return grpc::Status(code, "no");
    });
    for (bool stream : {false, true}) {
      json body = kChat;
      body["stream"] = stream;
      auto res = router_->PostJson("/v1/chat/completions", body.dump());
      ASSERT_TRUE(res);
      EXPECT_EQ(res->status, http) << code << " stream=" << stream;
      EXPECT_TRUE(json::parse(res->body, nullptr, false).contains("error"));
    }
    ASSERT_TRUE(router_->WaitHealthy(1, absl::Seconds(20)));
  }
  worker_->SetScript([this](const v1::GenerateRequest&, FakeStream& s) {
    s.SendAll(story_ids_);
    return grpc::Status::OK;
  });
  ExpectServes();
}

TEST_F(RouterTest, StreamingClientDisconnectCancelsWorkerStream) {
  worker_->SetScript([this](const v1::GenerateRequest&, FakeStream& s) {
    s.Send({story_ids_[0]});
    s.WaitUntilCancelled(absl::Seconds(60));
    return grpc::Status::OK;
  });
  json body = kChat;
  body["stream"] = true;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  std::string received;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    received.append(data, n);
    // Hang up after the role chunk and the first content chunk.
    size_t events = 0;
    for (size_t p = received.find("data: "); p != std::string::npos;
         p = received.find("data: ", p + 1)) {
      ++events;
    }
    return events < 2;
  };
  router_->Client()->send(req);
  EXPECT_TRUE(worker_->WaitForCancelled(1, absl::Seconds(30)));
  worker_->SetScript([this](const v1::GenerateRequest&, FakeStream& s) {
    s.SendAll(story_ids_);
    return grpc::Status::OK;
  });
  ExpectServes();
}

TEST_F(RouterTest, NonStreamingClientDisconnectCancelsWorkerStream) {
  worker_->SetScript([](const v1::GenerateRequest&, FakeStream& s) {
    s.WaitUntilCancelled(absl::Seconds(60));
    return grpc::Status::OK;
  });
  const std::string body = kChat.dump();
  const std::string request = absl::StrCat(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: application/json\r\nContent-Length: ",
      body.size(), "\r\n\r\n", body);
  const int fd = ConnectLocal(router_->port());
  ASSERT_GE(fd, 0);
  ASSERT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  // Hang up once the request is running on the worker.
  const absl::Time until = absl::Now() + absl::Seconds(30);
  while (worker_->requests().empty() && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(worker_->requests().size(), 1u);
  close(fd);
  EXPECT_TRUE(worker_->WaitForCancelled(1, absl::Seconds(30)));
  worker_->SetScript([this](const v1::GenerateRequest&, FakeStream& s) {
    s.SendAll(story_ids_);
    return grpc::Status::OK;
  });
  ExpectServes();
}

}  // namespace
}  // namespace infernum::router::testing
