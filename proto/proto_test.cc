// Checks the generated code end to end: wire round trip of the Generate
// messages, a real in-process gRPC server streaming a Generate response, and
// libgrpc++'s built-in grpc.health.v1 service answering our generated client.
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "proto/infernum/v1/worker.grpc.pb.h"
#include "proto/infernum/v1/worker.pb.h"

namespace infernum::v1 {
namespace {

TEST(WorkerProtoTest, GenerateRequestRoundTripsOnTheWire) {
  GenerateRequest req;
  req.set_request_id("r-1");
  for (int id : {1, 15043, 3186}) req.add_prompt_token_ids(id);
  req.mutable_sampling()->set_temperature(0.7f);
  req.mutable_sampling()->set_top_k(40);
  req.mutable_sampling()->set_seed(-5);
  req.set_max_tokens(16);
  req.set_num_previously_generated(2);

  std::string wire;
  ASSERT_TRUE(req.SerializeToString(&wire));
  GenerateRequest back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_EQ(back.request_id(), "r-1");
  EXPECT_EQ(std::vector<int>(back.prompt_token_ids().begin(),
                             back.prompt_token_ids().end()),
            (std::vector<int>{1, 15043, 3186}));
  EXPECT_FLOAT_EQ(back.sampling().temperature(), 0.7f);
  EXPECT_EQ(back.sampling().top_k(), 40);
  ASSERT_TRUE(back.sampling().has_seed());
  EXPECT_EQ(back.sampling().seed(), -5);
  EXPECT_EQ(back.num_previously_generated(), 2);

  // `optional` gives seed presence: an unset seed is distinguishable from 0.
  GenerateRequest unseeded;
  unseeded.mutable_sampling()->set_temperature(1.0f);
  EXPECT_FALSE(unseeded.sampling().has_seed());
}

TEST(WorkerProtoTest, ResponseOneofHoldsExactlyOnePayload) {
  GenerateResponse resp;
  auto* tok = resp.mutable_chunk()->add_tokens();
  tok->set_token_id(7);
  EXPECT_EQ(resp.payload_case(), GenerateResponse::kChunk);
  resp.mutable_final()->set_finish_reason(FINISH_REASON_LENGTH);
  EXPECT_EQ(resp.payload_case(), GenerateResponse::kFinal);
  EXPECT_FALSE(resp.has_chunk());
}

// A fake worker: streams the prompt back as "generated" tokens, then a final.
class EchoWorker final : public Worker::Service {
 public:
  grpc::Status Generate(grpc::ServerContext*, const GenerateRequest* req,
                        grpc::ServerWriter<GenerateResponse>* writer) override {
    if (req->prompt_token_ids_size() == 0) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty prompt");
    }
    for (int id : req->prompt_token_ids()) {
      GenerateResponse resp;
      GeneratedToken* tok = resp.mutable_chunk()->add_tokens();
      tok->set_token_id(id);
      tok->set_logprob(-0.5f);
      writer->Write(resp);
    }
    GenerateResponse last;
    last.mutable_final()->set_finish_reason(FINISH_REASON_STOP);
    last.mutable_final()->set_prompt_tokens(req->prompt_token_ids_size());
    writer->Write(last);
    return grpc::Status::OK;
  }
};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  EchoWorker service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(ServerTest, GenerateStreamsChunksThenFinal) {
  auto stub = Worker::NewStub(channel_);
  grpc::ClientContext ctx;
  GenerateRequest req;
  for (int id : {5, 6, 7}) req.add_prompt_token_ids(id);
  auto reader = stub->Generate(&ctx, req);
  std::vector<int> ids;
  GenerateResponse resp;
  int finals = 0;
  while (reader->Read(&resp)) {
    if (resp.has_chunk()) {
      for (const auto& t : resp.chunk().tokens()) ids.push_back(t.token_id());
    } else {
      ++finals;
      EXPECT_EQ(resp.final().finish_reason(), FINISH_REASON_STOP);
      EXPECT_EQ(resp.final().prompt_tokens(), 3);
    }
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(ids, (std::vector<int>{5, 6, 7}));
  EXPECT_EQ(finals, 1);
}

TEST_F(ServerTest, GenerateErrorStatusReachesClient) {
  auto stub = Worker::NewStub(channel_);
  grpc::ClientContext ctx;
  auto reader = stub->Generate(&ctx, GenerateRequest());
  GenerateResponse resp;
  EXPECT_FALSE(reader->Read(&resp));
  grpc::Status st = reader->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "empty prompt");
}

TEST_F(ServerTest, BuiltInHealthServiceAnswersGeneratedClient) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  using Resp = grpc::health::v1::HealthCheckResponse;

  grpc::health::v1::HealthCheckRequest req;  // "" = whole server.
  Resp resp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(health->Check(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.status(), Resp::SERVING);
  }

  // Per-service status is controlled through the server's interface.
  grpc::HealthCheckServiceInterface* hc = server_->GetHealthCheckService();
  ASSERT_NE(hc, nullptr);
  hc->SetServingStatus("infernum.v1.Worker", false);
  req.set_service("infernum.v1.Worker");
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(health->Check(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.status(), Resp::NOT_SERVING);
  }
  req.set_service("no.such.Service");
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(health->Check(&ctx, req, &resp).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
}

}  // namespace
}  // namespace infernum::v1
