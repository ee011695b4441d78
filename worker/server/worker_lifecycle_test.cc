// Cancellation, shutdown and capacity tests of the worker server. They use a
// random-weight model with stories260K's shapes and a 16384-token context so
// that a generation (ignore_eos, thousands of tokens) is reliably still
// running when the test cancels it or shuts the server down.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "worker/server/server_test_util.h"

namespace infernum::worker::testing {
namespace {

constexpr int kLong = 16000;

v1::GenerateRequest LongRequest(const std::string& id) {
  v1::GenerateRequest r = GreedyRequest(id, {1, 300, 301}, kLong);
  r.set_ignore_eos(true);
  return r;
}

std::unique_ptr<WorkerServer> StartServer(const WorkerConfig& config) {
  auto server = WorkerServer::Start(config);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

// Reads until the stream has produced at least one chunk.
void ReadFirstChunk(grpc::ClientReader<v1::GenerateResponse>& reader) {
  v1::GenerateResponse response;
  ASSERT_TRUE(reader.Read(&response));
  ASSERT_TRUE(response.has_chunk());
}

TEST(WorkerLifecycleTest, CancelMidStreamFreesTheRequest) {
  auto server = StartServer(LongContextDummyConfig());
  ASSERT_NE(server, nullptr);
  auto stub = MakeStub(*server);
  grpc::ClientContext context;
  auto reader = stub->Generate(&context, LongRequest("cancel-me"));
  ReadFirstChunk(*reader);
  // The load snapshot is taken after each engine step, so it may lag the
  // first token by a step: poll until it shows the request.
  v1::LoadReport live;
  for (int i = 0; i < 500 && live.num_running() + live.num_waiting() == 0;
       ++i) {
    grpc::ClientContext load_context;
    ASSERT_TRUE(stub->GetLoad(&load_context, v1::GetLoadRequest(), &live).ok());
  }
  EXPECT_EQ(live.num_running() + live.num_waiting(), 1);
  EXPECT_GT(live.num_blocks_used(), 0);
  context.TryCancel();
  v1::GenerateResponse response;
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  const v1::LoadReport load = WaitForIdleLoad(*stub);
  EXPECT_EQ(load.num_running(), 0);
  EXPECT_EQ(load.num_waiting(), 0);
  EXPECT_EQ(load.num_blocks_used(), 0);  // Every block free or evictable.
  // The same id can be used again once the first request is gone.
  grpc::ClientContext again;
  auto second = stub->Generate(&again, LongRequest("cancel-me"));
  ReadFirstChunk(*second);
  again.TryCancel();
  while (second->Read(&response)) {
  }
  second->Finish();
  EXPECT_EQ(WaitForIdleLoad(*stub).num_blocks_used(), 0);
}

TEST(WorkerLifecycleTest, DeadlineAbortsTheRequest) {
  auto server = StartServer(LongContextDummyConfig());
  ASSERT_NE(server, nullptr);
  auto stub = MakeStub(*server);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(300));
  auto reader = stub->Generate(&context, LongRequest("deadline"));
  v1::GenerateResponse response;
  int num_finals = 0;
  while (reader->Read(&response)) num_finals += response.has_final();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(num_finals, 0);
  const v1::LoadReport load = WaitForIdleLoad(*stub);
  EXPECT_EQ(load.num_running(), 0);
  EXPECT_EQ(load.num_blocks_used(), 0);
}

TEST(WorkerLifecycleTest, DuplicateLiveIdIsAlreadyExists) {
  auto server = StartServer(LongContextDummyConfig());
  ASSERT_NE(server, nullptr);
  auto stub = MakeStub(*server);
  grpc::ClientContext context;
  auto reader = stub->Generate(&context, LongRequest("dup"));
  ReadFirstChunk(*reader);
  const GenerateResult second = RunGenerate(*stub, LongRequest("dup"));
  EXPECT_EQ(second.status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  context.TryCancel();
  v1::GenerateResponse response;
  while (reader->Read(&response)) {
  }
  reader->Finish();
}

TEST(WorkerLifecycleTest, RequestThatCanNeverFitIsResourceExhausted) {
  WorkerConfig config = LongContextDummyConfig();
  config.kv_cache_memory =
      8 * 20480;  // 8 blocks of 16 tokens (stories shapes, f32).
  auto server = StartServer(config);
  ASSERT_NE(server, nullptr);
  ASSERT_EQ(server->engine_config().num_blocks, 8);
  auto stub = MakeStub(*server);
  const GenerateResult got =
      RunGenerate(*stub, GreedyRequest("big", {1, 2, 3}, 200));
  EXPECT_EQ(got.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << got.status.error_message();
  EXPECT_TRUE(
      RunGenerate(*stub, GreedyRequest("small", {1, 2, 3}, 50)).status.ok());
}

// Shutdown with a grace period: new requests are refused while the one in
// flight keeps streaming; it can still finish (here: be cancelled) and then
// the shutdown completes.
TEST(WorkerLifecycleTest, DrainRefusesNewRequestsAndKeepsInFlight) {
  auto server = StartServer(LongContextDummyConfig());
  ASSERT_NE(server, nullptr);
  auto stub = MakeStub(*server);
  grpc::ClientContext context;
  auto reader = stub->Generate(&context, LongRequest("in-flight"));
  ReadFirstChunk(*reader);
  std::thread stopper([&] { server->Shutdown(std::chrono::minutes(5)); });
  grpc::StatusCode code = grpc::StatusCode::OK;
  for (int i = 0; i < 500 && code != grpc::StatusCode::UNAVAILABLE; ++i) {
    code =
        RunGenerate(*stub, GreedyRequest("new-" + std::to_string(i), {1, 2}, 2))
            .status.error_code();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(code, grpc::StatusCode::UNAVAILABLE);
  v1::GenerateResponse response;
  ASSERT_TRUE(reader->Read(&response));  // Still streaming while draining.
  EXPECT_TRUE(response.has_chunk());
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  reader->Finish();
  stopper.join();  // The drain ends once the request is gone.
}

using HealthStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

// The health status of `service` ("" = the whole server); UNKNOWN if the
// check failed.
HealthStatus CheckHealth(const WorkerServer& server,
                         const std::string& service) {
  auto health = grpc::health::v1::Health::NewStub(MakeChannel(server));
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  if (!health->Check(&context, request, &response).ok()) {
    return grpc::health::v1::HealthCheckResponse::UNKNOWN;
  }
  return response.status();
}

// SIGTERM semantics without the signal: while a request is in flight,
// Shutdown(grace) turns health NOT_SERVING and refuses new Generate calls
// with UNAVAILABLE, and the in-flight request runs to its normal end.
TEST(WorkerLifecycleTest, DrainLetsInFlightRequestsFinish) {
  auto server = StartServer(LongContextDummyConfig());
  ASSERT_NE(server, nullptr);
  auto stub = MakeStub(*server);
  constexpr int kTokens = 3000;
  v1::GenerateRequest request = GreedyRequest("finish-me", {1, 300}, kTokens);
  request.set_ignore_eos(true);
  grpc::ClientContext context;
  auto reader = stub->Generate(&context, request);
  v1::GenerateResponse response;
  ASSERT_TRUE(reader->Read(&response));
  int num_tokens = response.chunk().tokens_size();
  EXPECT_EQ(CheckHealth(*server, ""),
            grpc::health::v1::HealthCheckResponse::SERVING);
  std::thread stopper([&] { server->Shutdown(std::chrono::minutes(5)); });
  // Shutdown runs on another thread: poll until it has flipped health.
  HealthStatus status = grpc::health::v1::HealthCheckResponse::SERVING;
  for (int i = 0;
       i < 500 && status == grpc::health::v1::HealthCheckResponse::SERVING;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    status = CheckHealth(*server, "");
  }
  EXPECT_EQ(status, grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(CheckHealth(*server, "infernum.v1.Worker"),
            grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(
      RunGenerate(*stub, GreedyRequest("late", {1, 2}, 2)).status.error_code(),
      grpc::StatusCode::UNAVAILABLE);
  std::optional<v1::GenerateFinal> final_message;
  while (reader->Read(&response)) {
    if (response.has_chunk()) num_tokens += response.chunk().tokens_size();
    if (response.has_final()) final_message = response.final();
  }
  EXPECT_TRUE(reader->Finish().ok());
  stopper.join();
  ASSERT_TRUE(final_message.has_value());
  EXPECT_EQ(final_message->finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(num_tokens, kTokens);
  EXPECT_EQ(final_message->completion_tokens(), kTokens);
  const std::string text = server->metrics().Render();
  EXPECT_NE(
      text.find("infernum:request_success_total{model_name=\"" +
                server->model_name() + "\",finished_reason=\"length\"} 1\n"),
      std::string::npos)
      << text;
}

TEST(WorkerLifecycleTest, GraceExpiryEndsStreamsWithAbort) {
  auto server = StartServer(LongContextDummyConfig());
  ASSERT_NE(server, nullptr);
  auto stub = MakeStub(*server);
  grpc::ClientContext context;
  auto reader = stub->Generate(&context, LongRequest("aborted"));
  ReadFirstChunk(*reader);
  std::thread stopper([&] { server->Shutdown(std::chrono::milliseconds(0)); });
  v1::GenerateResponse response;
  int num_tokens = 1;
  std::optional<v1::GenerateFinal> final_message;
  while (reader->Read(&response)) {
    if (response.has_chunk()) num_tokens += response.chunk().tokens_size();
    if (response.has_final()) final_message = response.final();
  }
  EXPECT_TRUE(reader->Finish().ok());
  stopper.join();
  ASSERT_TRUE(final_message.has_value());
  EXPECT_EQ(final_message->finish_reason(), v1::FINISH_REASON_ABORT);
  EXPECT_FALSE(final_message->error_message().empty());
  EXPECT_LT(num_tokens, kLong);
  EXPECT_EQ(final_message->prompt_tokens(), 3);
  // The abort is counted, not dropped.
  const std::string text = server->metrics().Render();
  EXPECT_NE(
      text.find("infernum:request_success_total{model_name=\"" +
                server->model_name() + "\",finished_reason=\"abort\"} 1\n"),
      std::string::npos)
      << text;
}

TEST(WorkerLifecycleTest, SecondShutdownAndDestructionAreSafe) {
  auto server = StartServer(LongContextDummyConfig());
  ASSERT_NE(server, nullptr);
  server->Shutdown(std::chrono::milliseconds(0));
  server->Shutdown(std::chrono::milliseconds(0));
  server->Wait();
  server.reset();
}

TEST(WorkerLifecycleTest, BadModelIsAnError) {
  WorkerConfig config = StoriesConfig();
  config.model = "/nonexistent/model";
  auto server = WorkerServer::Start(config);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("/nonexistent/model"),
            std::string::npos);
}

}  // namespace
}  // namespace infernum::worker::testing
