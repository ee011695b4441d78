#include "worker/server/server_test_util.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/logging.h"
#include "common/testing.h"
#include "models/kv_cache.h"
#include "models/llama/simple_generate.h"

namespace infernum::worker::testing {

std::string StoriesDir() {
  return infernum::testing::SharedModelsDir() + "/stories260K";
}

WorkerConfig StoriesConfig() {
  WorkerConfig c;
  c.model = StoriesDir();
  c.threads = 1;
  c.listen = "127.0.0.1:0";
  c.kv_cache_memory = int64_t{2} << 20;
  c.max_num_seqs = 32;
  c.shutdown_grace_seconds = 5;
  return c;
}

WorkerConfig LongContextDummyConfig() {
  std::ifstream in(StoriesDir() + "/config.json");
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json config = nlohmann::json::parse(ss.str());
  config["max_position_embeddings"] = 16384;
  const std::string path =
      infernum::testing::TempDir() + "/long_context_config.json";
  std::ofstream(path) << config.dump();
  WorkerConfig c;
  c.model_config = path;
  c.load_format = "dummy";
  c.dummy_dtype = "f32";
  c.threads = 1;
  c.listen = "127.0.0.1:0";
  c.kv_cache_memory = int64_t{24} << 20;  // > 16384 tokens
  c.max_num_seqs = 8;
  return c;
}

std::shared_ptr<grpc::Channel> MakeChannel(const WorkerServer& server) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  return grpc::CreateCustomChannel(server.address(),
                                   grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<v1::Worker::Stub> MakeStub(const WorkerServer& server) {
  return v1::Worker::NewStub(MakeChannel(server));
}

GenerateResult RunGenerate(v1::Worker::Stub& stub,
                           const v1::GenerateRequest& request) {
  GenerateResult out;
  grpc::ClientContext context;
  auto reader = stub.Generate(&context, request);
  v1::GenerateResponse response;
  while (reader->Read(&response)) {
    if (out.num_finals > 0) out.final_was_last = false;
    if (response.has_chunk()) {
      ++out.num_chunks;
      for (const auto& t : response.chunk().tokens()) {
        out.token_ids.push_back(t.token_id());
        out.tokens.push_back(t);
      }
    } else if (response.has_final()) {
      ++out.num_finals;
      out.final_message = response.final();
    }
  }
  out.status = reader->Finish();
  return out;
}

v1::GenerateRequest GreedyRequest(const std::string& id,
                                  const std::vector<int32_t>& prompt,
                                  int max_tokens) {
  v1::GenerateRequest r;
  r.set_request_id(id);
  for (int32_t t : prompt) r.add_prompt_token_ids(t);
  r.mutable_sampling()->set_temperature(0.0f);
  r.set_max_tokens(max_tokens);
  return r;
}

LoadedModel LoadStoriesReference() {
  ModelSetupOptions o;
  o.model_dir = StoriesDir();
  o.backend.num_threads = 1;
  auto loaded = SetupModel(o);
  CHECK(loaded.ok()) << loaded.status();
  return std::move(*loaded);
}

Reference GreedyReference(LoadedModel& model,
                          const std::vector<int32_t>& prompt, int max_tokens,
                          const std::vector<int32_t>& stop_ids) {
  const int block_size = 16;
  const int num_blocks =
      (static_cast<int>(prompt.size()) + max_tokens) / block_size + 1;
  auto cache = models::KvCache::Create(
      *model.backend, model.model->MakeKvCacheShape(num_blocks, block_size));
  CHECK(cache.ok()) << cache.status();
  Reference ref;
  models::SimpleGenerateOptions opts;
  opts.max_new_tokens = max_tokens;
  opts.stop_token_ids = stop_ids;
  opts.on_logits = [&](absl::Span<const float> logits) {
    const float max = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (float l : logits) sum += std::exp(static_cast<double>(l - max));
    const size_t argmax =
        std::max_element(logits.begin(), logits.end()) - logits.begin();
    ref.logprobs.push_back(
        static_cast<float>(logits[argmax] - max - std::log(sum)));
  };
  auto out = models::SimpleGenerate(*model.model, *cache, prompt, opts,
                                    models::GreedyPicker());
  CHECK(out.ok()) << out.status();
  ref.tokens = *out;
  return ref;
}

v1::LoadReport WaitForIdleLoad(v1::Worker::Stub& stub, int max_polls) {
  v1::LoadReport report;
  for (int i = 0; i < max_polls; ++i) {
    grpc::ClientContext context;
    const grpc::Status st =
        stub.GetLoad(&context, v1::GetLoadRequest(), &report);
    if (st.ok() && report.num_running() == 0 && report.num_waiting() == 0 &&
        report.num_blocks_used() == 0) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return report;
}

}  // namespace infernum::worker::testing
