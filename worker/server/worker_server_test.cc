// End-to-end tests of the Worker service on stories260K: an in-process
// WorkerServer on a free loopback port and a real gRPC client. Generated
// tokens are checked against SimpleGenerate on an independently loaded copy
// of the model.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "models/tokenizer/tokenizer.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "worker/server/server_test_util.h"

namespace infernum::worker::testing {
namespace {

class WorkerServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = WorkerServer::Start(StoriesConfig());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
    reference_ = new LoadedModel(LoadStoriesReference());
  }
  static void TearDownTestSuite() {
    delete server_;
    delete reference_;
  }
  void SetUp() override { stub_ = MakeStub(*server_); }

  std::vector<int32_t> Encode(const std::string& text) {
    auto ids = reference_->tokenizer->Encode(text, /*add_special_tokens=*/true);
    EXPECT_TRUE(ids.ok());
    return *ids;
  }
  // Checks a greedy stream against the reference: streamed tokens, then the
  // stop token (not streamed) in the final, and the usage counts.
  void ExpectMatchesReference(const GenerateResult& got,
                              const std::vector<int32_t>& prompt,
                              int max_tokens, bool ignore_eos) {
    const std::vector<int32_t> stops =
        ignore_eos ? std::vector<int32_t>{} : DefaultStopTokenIds(*reference_);
    const Reference ref =
        GreedyReference(*reference_, prompt, max_tokens, stops);
    ASSERT_TRUE(got.status.ok()) << got.status.error_message();
    ASSERT_EQ(got.num_finals, 1);
    EXPECT_TRUE(got.final_was_last);
    const v1::GenerateFinal& f = got.final_message;
    std::vector<int32_t> all = got.token_ids;
    if (f.finish_reason() == v1::FINISH_REASON_STOP)
      all.push_back(f.stop_token_id());
    EXPECT_EQ(all, ref.tokens);
    const bool ref_stopped =
        !ref.tokens.empty() && !stops.empty() &&
        std::count(stops.begin(), stops.end(), ref.tokens.back()) > 0;
    EXPECT_EQ(f.finish_reason(),
              ref_stopped ? v1::FINISH_REASON_STOP : v1::FINISH_REASON_LENGTH);
    EXPECT_EQ(f.prompt_tokens(), static_cast<int>(prompt.size()));
    EXPECT_EQ(f.completion_tokens(), static_cast<int>(ref.tokens.size()));
    EXPECT_GE(f.cached_prompt_tokens(), 0);
    EXPECT_LE(f.cached_prompt_tokens(), f.prompt_tokens());
    EXPECT_GE(got.num_chunks, got.token_ids.empty() ? 0 : 1);
    EXPECT_LE(got.num_chunks, static_cast<int>(got.token_ids.size()));
  }

  static WorkerServer* server_;
  static LoadedModel* reference_;
  std::unique_ptr<v1::Worker::Stub> stub_;
};

WorkerServer* WorkerServerTest::server_ = nullptr;
LoadedModel* WorkerServerTest::reference_ = nullptr;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_F(WorkerServerTest, HealthIsServing) {
  auto health = grpc::health::v1::Health::NewStub(MakeChannel(*server_));
  for (const char* service : {"", "infernum.v1.Worker"}) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok()) << service;
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING)
        << service;
  }
}

TEST_F(WorkerServerTest, ModelInfo) {
  grpc::ClientContext context;
  v1::ModelInfo info;
  ASSERT_TRUE(
      stub_->GetModelInfo(&context, v1::GetModelInfoRequest(), &info).ok());
  EXPECT_EQ(info.model_id(), "stories260K");
  EXPECT_EQ(info.max_context_length(),
            reference_->config.max_position_embeddings);
  EXPECT_EQ(info.block_size(), StoriesConfig().block_size);
  EXPECT_EQ(info.max_num_seqs(), StoriesConfig().max_num_seqs);
  EXPECT_EQ(info.vocab_size(), reference_->config.vocab_size);
  EXPECT_EQ(info.model_type(), "llama");
  EXPECT_EQ(info.worker_id(), server_->worker_id());
  EXPECT_NE(info.worker_id().find(std::to_string(server_->port())),
            std::string::npos);
  std::vector<int32_t> stops(info.eos_token_ids().begin(),
                             info.eos_token_ids().end());
  stops.insert(stops.end(), info.extra_stop_token_ids().begin(),
               info.extra_stop_token_ids().end());
  std::sort(stops.begin(), stops.end());
  EXPECT_EQ(stops, DefaultStopTokenIds(*reference_));
  EXPECT_EQ(info.tokenizer_json(), Slurp(StoriesDir() + "/tokenizer.json"));
  EXPECT_EQ(info.tokenizer_config_json(),
            Slurp(StoriesDir() + "/tokenizer_config.json"));
  EXPECT_EQ(info.generation_config_json(),
            Slurp(StoriesDir() + "/generation_config.json"));
}

TEST_F(WorkerServerTest, GreedyMatchesSimpleGenerate) {
  int num_stopped = 0;
  for (const std::string text :
       {"Once upon a time", "The little dog", "Lily and Tom went"}) {
    const std::vector<int32_t> prompt = Encode(text);
    const GenerateResult got =
        RunGenerate(*stub_, GreedyRequest("g-" + text, prompt, 300));
    ExpectMatchesReference(got, prompt, 300, /*ignore_eos=*/false);
    num_stopped += got.final_message.finish_reason() == v1::FINISH_REASON_STOP;
  }
  EXPECT_GE(num_stopped, 1);  // "The little dog" ends its story (BOS) at 218.
}

TEST_F(WorkerServerTest, IgnoreEosRunsToMaxTokens) {
  const std::vector<int32_t> prompt = Encode("Once upon a time");
  v1::GenerateRequest r = GreedyRequest("len", prompt, 300);
  r.set_ignore_eos(true);
  const GenerateResult got = RunGenerate(*stub_, r);
  ExpectMatchesReference(got, prompt, 300, /*ignore_eos=*/true);
  EXPECT_EQ(got.token_ids.size(), 300u);
}

TEST_F(WorkerServerTest, LogprobsMatchTheReference) {
  const std::vector<int32_t> prompt = Encode("Once upon a time");
  v1::GenerateRequest r = GreedyRequest("lp", prompt, 20);
  r.set_ignore_eos(true);
  r.set_logprobs(true);
  r.set_top_logprobs(3);
  const GenerateResult got = RunGenerate(*stub_, r);
  ASSERT_TRUE(got.status.ok());
  const Reference ref = GreedyReference(*reference_, prompt, 20, {});
  ASSERT_EQ(got.tokens.size(), ref.tokens.size());
  for (size_t i = 0; i < got.tokens.size(); ++i) {
    const v1::GeneratedToken& t = got.tokens[i];
    EXPECT_NEAR(t.logprob(), ref.logprobs[i], 1e-4) << i;
    ASSERT_EQ(t.top_logprobs_size(), 3);
    EXPECT_EQ(t.top_logprobs(0).token_id(),
              t.token_id());  // Greedy: the argmax.
    EXPECT_GE(t.top_logprobs(0).logprob(), t.top_logprobs(1).logprob());
    EXPECT_GE(t.top_logprobs(1).logprob(), t.top_logprobs(2).logprob());
  }
}

TEST_F(WorkerServerTest, InvalidParamsAreInvalidArgument) {
  const std::vector<int32_t> prompt = Encode("Once");
  std::vector<v1::GenerateRequest> bad(6, GreedyRequest("bad", prompt, 5));
  bad[0].mutable_sampling()->set_temperature(-1.0f);
  bad[1].mutable_sampling()->set_top_p(1.5f);
  bad[2].set_logprobs(true);
  bad[2].set_top_logprobs(21);
  bad[3].clear_prompt_token_ids();
  bad[4].add_prompt_token_ids(
      reference_->config.vocab_size);  // Out of the vocab.
  bad[5].set_max_tokens(-3);
  for (size_t i = 0; i < bad.size(); ++i) {
    const GenerateResult got = RunGenerate(*stub_, bad[i]);
    EXPECT_EQ(got.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << i << ": " << got.status.error_message();
    EXPECT_FALSE(got.status.error_message().empty());
    EXPECT_EQ(got.num_chunks + got.num_finals, 0);
  }
  const GenerateResult temp = RunGenerate(*stub_, bad[0]);
  EXPECT_NE(temp.status.error_message().find("temperature"), std::string::npos);
}

TEST_F(WorkerServerTest, PromptPlusMaxTokensOverTheContext) {
  const int context = reference_->config.max_position_embeddings;  // 512
  const std::vector<int32_t> prompt(500, 300);
  const GenerateResult got =
      RunGenerate(*stub_, GreedyRequest("long", prompt, 100));
  // OUT_OF_RANGE: the router maps it to OpenAI's context_length_exceeded.
  EXPECT_EQ(got.status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  const std::string& msg = got.status.error_message();
  EXPECT_NE(msg.find("500"), std::string::npos) << msg;
  EXPECT_NE(msg.find("100"), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::to_string(context)), std::string::npos) << msg;
  EXPECT_EQ(got.num_chunks + got.num_finals, 0);
}

TEST_F(WorkerServerTest, GetLoadReportsTheCache) {
  RunGenerate(*stub_, GreedyRequest("load", Encode("Once upon a time"), 10));
  const v1::LoadReport load = WaitForIdleLoad(*stub_);
  EXPECT_EQ(load.num_running(), 0);
  EXPECT_EQ(load.num_waiting(), 0);
  EXPECT_EQ(load.num_blocks_used(), 0);
  EXPECT_EQ(load.num_blocks_total(), server_->engine_config().num_blocks);
  EXPECT_GT(load.num_blocks_total(), 0);
  EXPECT_GT(load.prefix_cache_queries(), 0);
  EXPECT_GE(load.prefix_cache_queries(), load.prefix_cache_hits());
  EXPECT_GT(load.timestamp_unix_ms(), 0);
}

TEST_F(WorkerServerTest, RepeatedPromptHitsThePrefixCache) {
  const std::vector<int32_t> prompt(40, 300);  // Two full blocks and a bit.
  RunGenerate(*stub_, GreedyRequest("p1", prompt, 4));
  const GenerateResult second =
      RunGenerate(*stub_, GreedyRequest("p2", prompt, 4));
  ASSERT_TRUE(second.status.ok());
  EXPECT_EQ(second.final_message.cached_prompt_tokens(), 32);
}

TEST_F(WorkerServerTest, WatchLoadStreamsReports) {
  grpc::ClientContext context;
  v1::WatchLoadRequest request;
  request.set_interval_ms(50);
  auto reader = stub_->WatchLoad(&context, request);
  v1::LoadReport report;
  int64_t last_ms = 0;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(reader->Read(&report));
    EXPECT_GT(report.num_blocks_total(), 0);
    EXPECT_GE(report.timestamp_unix_ms(), last_ms);
    last_ms = report.timestamp_unix_ms();
  }
  context.TryCancel();
  while (reader->Read(&report)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(WorkerServerTest, ConcurrentStreamsAreAllCorrect) {
  const std::vector<std::string> words = {"Once", "The",     "Lily", "Tom",
                                          "A",    "One day", "She",  "He"};
  constexpr int kStreams = 16;
  std::vector<std::vector<int32_t>> prompts(kStreams);
  std::vector<GenerateResult> results(kStreams);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStreams; ++i) {
    prompts[i] = Encode(words[i % words.size()] + (i >= 8 ? " was happy" : ""));
    threads.emplace_back([&, i] {
      auto stub = MakeStub(*server_);
      results[i] = RunGenerate(
          *stub, GreedyRequest("c" + std::to_string(i), prompts[i], 60));
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kStreams; ++i) {
    SCOPED_TRACE(i);
    ExpectMatchesReference(results[i], prompts[i], 60, /*ignore_eos=*/false);
  }
  const v1::LoadReport load = WaitForIdleLoad(*stub_);
  EXPECT_EQ(load.num_blocks_used(), 0);
}

TEST_F(WorkerServerTest, ResumeContinuesTheSeededStream) {
  // Sampled (seeded) with penalties, so the continuation depends on the RNG
  // position and on which tokens count as outputs.
  const std::vector<int32_t> prompt = Encode("Once upon a time");
  v1::GenerateRequest whole = GreedyRequest("whole", prompt, 24);
  whole.set_ignore_eos(true);
  whole.mutable_sampling()->set_temperature(0.9f);
  whole.mutable_sampling()->set_seed(1234);
  whole.mutable_sampling()->set_presence_penalty(0.7f);
  whole.mutable_sampling()->set_frequency_penalty(0.4f);
  const GenerateResult a = RunGenerate(*stub_, whole);
  ASSERT_TRUE(a.status.ok());
  ASSERT_EQ(a.token_ids.size(), 24u);

  constexpr int kDone = 9;
  v1::GenerateRequest resumed = whole;
  resumed.set_request_id("resumed");
  for (int i = 0; i < kDone; ++i) resumed.add_prompt_token_ids(a.token_ids[i]);
  resumed.set_num_previously_generated(kDone);
  resumed.set_max_tokens(24 - kDone);
  const GenerateResult b = RunGenerate(*stub_, resumed);
  ASSERT_TRUE(b.status.ok()) << b.status.error_message();
  EXPECT_EQ(b.token_ids, std::vector<int32_t>(a.token_ids.begin() + kDone,
                                              a.token_ids.end()));
  EXPECT_EQ(b.final_message.completion_tokens(), 24 - kDone);
  EXPECT_EQ(b.final_message.prompt_tokens(),
            static_cast<int>(prompt.size()) + kDone);
}

}  // namespace
}  // namespace infernum::worker::testing
