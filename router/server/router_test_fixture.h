// Test-only gtest fixture: one FakeWorker serving stories260K and a router
// in front of it, plus an independently loaded tokenizer for references.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/testing.h"
#include "models/tokenizer/tokenizer.h"
#include "router/server/fake_worker.h"
#include "router/server/router_harness.h"

namespace infernum::router::testing {

// The story the fake worker "generates" by default.
inline constexpr char kStory[] =
    "Once upon a time there was a little girl named Lily. She liked to play.";

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tok = models::Tokenizer::FromDirectory(
        ::infernum::testing::SharedModelsDir() + "/stories260K");
    ASSERT_TRUE(tok.ok()) << tok.status();
    tokenizer_ = std::move(*tok);
    auto ids = tokenizer_->Encode(kStory, /*add_special_tokens=*/false);
    ASSERT_TRUE(ids.ok());
    story_ids_ = *ids;
    worker_ = std::make_unique<FakeWorker>(Stories260KInfo());
    const std::string address = worker_->Start();
    worker_->SetScript([this](const v1::GenerateRequest&, FakeStream& s) {
      s.SendAll(story_ids_);
      return grpc::Status::OK;
    });
    router_ = std::make_unique<RouterHarness>(RouterHarness::Options{
        .workers = {address}, .max_body_bytes = 64 * 1024});
    ASSERT_TRUE(router_->WaitHealthy(1, absl::Seconds(20)));
  }

  void TearDown() override {
    router_.reset();
    worker_.reset();
  }

  // What the router must output after `prompt` when the worker generates
  // `generated`: the detokenizer contract, Decode(prompt + generated) minus
  // Decode(prompt), special tokens skipped.
  std::string ExpectedText(const std::vector<int32_t>& prompt,
                           const std::vector<int32_t>& generated) const {
    std::vector<int32_t> all = prompt;
    all.insert(all.end(), generated.begin(), generated.end());
    const std::string full = *tokenizer_->Decode(all, true);
    const std::string head = *tokenizer_->Decode(prompt, true);
    return full.substr(head.size());
  }

  std::vector<int32_t> PromptOf(const v1::GenerateRequest& req) const {
    return {req.prompt_token_ids().begin(), req.prompt_token_ids().end()};
  }

  // POSTs and parses the JSON answer (status in *status).
  nlohmann::json Post(const std::string& path, const nlohmann::json& body,
                      int* status) {
    auto res = router_->PostJson(path, body.dump());
    if (!res) {
      *status = -1;
      return nullptr;
    }
    *status = res->status;
    return nlohmann::json::parse(res->body, nullptr, false);
  }

  // POSTs a streaming request; returns the parsed SSE events ("[DONE]"
  // kept as the string "[DONE]").
  std::vector<nlohmann::json> PostStream(const std::string& path,
                                         const nlohmann::json& body,
                                         int* status) {
    auto res = router_->PostJson(path, body.dump());
    std::vector<nlohmann::json> out;
    *status = res ? res->status : -1;
    if (!res) return out;
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/event-stream");
    for (const std::string& e : SseEvents(res->body)) {
      out.push_back(e == "[DONE]" ? nlohmann::json("[DONE]")
                                  : nlohmann::json::parse(e, nullptr, false));
    }
    return out;
  }

  // A request that must succeed (the router still works).
  void ExpectServes() {
    int status = 0;
    nlohmann::json r =
        Post("/v1/completions",
             {{"model", "stories260K"}, {"prompt", "Hi"}, {"max_tokens", 3}},
             &status);
    EXPECT_EQ(status, 200) << r.dump();
  }

  std::unique_ptr<models::Tokenizer> tokenizer_;
  std::vector<int32_t> story_ids_;
  std::unique_ptr<FakeWorker> worker_;
  std::unique_ptr<RouterHarness> router_;
};

}  // namespace infernum::router::testing
