// Helpers for the worker server tests: an in-process WorkerServer on a free
// loopback port, a gRPC client, and an independent greedy reference
// (models::SimpleGenerate straight on a separately loaded model).
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proto/infernum/v1/worker.grpc.pb.h"
#include "worker/model_setup.h"
#include "worker/server/worker_config.h"
#include "worker/server/worker_server.h"

namespace infernum::worker::testing {

std::string StoriesDir();

// stories260K on 1 CPU thread, 127.0.0.1:0, a 2 MiB KV cache (~100 blocks).
WorkerConfig StoriesConfig();

// Random weights, stories260K's shapes but a 16384-token context, so that a
// generation is long enough to be cancelled or interrupted mid-stream.
// Writes the config.json under TEST_TMPDIR.
WorkerConfig LongContextDummyConfig();

std::unique_ptr<v1::Worker::Stub> MakeStub(const WorkerServer& server);
std::shared_ptr<grpc::Channel> MakeChannel(const WorkerServer& server);

// Everything one Generate call returned.
struct GenerateResult {
  grpc::Status status;
  std::vector<int32_t> token_ids;  // all streamed tokens, in order
  std::vector<v1::GeneratedToken> tokens;
  int num_chunks = 0;
  int num_finals = 0;
  bool final_was_last = true;  // nothing arrived after the final
  v1::GenerateFinal final_message;
};

GenerateResult RunGenerate(v1::Worker::Stub& stub,
                           const v1::GenerateRequest& request);

// A greedy request (temperature 0).
v1::GenerateRequest GreedyRequest(const std::string& id,
                                  const std::vector<int32_t>& prompt,
                                  int max_tokens);

// Greedy output of SimpleGenerate, the stop token included when one ends it.
struct Reference {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;  // log_softmax of the raw logits at each token
};
Reference GreedyReference(LoadedModel& model,
                          const std::vector<int32_t>& prompt, int max_tokens,
                          const std::vector<int32_t>& stop_ids);

// Loads stories260K independently of any server (1 CPU thread).
LoadedModel LoadStoriesReference();

// Polls GetLoad until nothing runs or waits and no block is owned, up to
// ~`max_polls` x 20 ms. Returns the last report.
v1::LoadReport WaitForIdleLoad(v1::Worker::Stub& stub, int max_polls = 1000);

}  // namespace infernum::worker::testing
