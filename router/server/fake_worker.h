// Test-only in-process Worker gRPC service for router tests.
//
// Serves GetModelInfo from a fixed ModelInfo (e.g. stories260K's tokenizer
// files) and Generate from a script the test sets: the script gets the
// request and a FakeStream to send chunks / a final, stall until the router
// cancels, or return an error status. Records every request and every
// stream that saw its cancellation.
//
// For failover tests, ServeDeterministic() makes it a deterministic "model"
// (FakeNextToken: the next token is a function of the whole sequence so
// far) that honours num_previously_generated, so a sequence resumed on
// another fake worker continues exactly like an uninterrupted run; a
// FaultPlan makes a stream die or stall after some tokens.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "proto/infernum/v1/worker.grpc.pb.h"

namespace infernum::router::testing {

class FakeStream {
 public:
  FakeStream(grpc::ServerContext* context,
             grpc::ServerWriter<v1::GenerateResponse>* writer,
             const v1::GenerateRequest& request);

  // Sends one chunk with these ids. With request.logprobs, output token k
  // of the sequence (0-based, counting all chunks and the request's
  // num_previously_generated) gets logprob -(k+1)/8 and
  // top_logprobs alternatives ids (id+1+j) % 256 + 3 with logprob
  // -(k+1)/8 - (j+1)/4. False once the stream is broken or cancelled.
  bool Send(const std::vector<int32_t>& ids);
  bool SendFinal(v1::FinishReason reason, int completion_tokens,
                 const std::string& error_message = "");
  // Streams `ids` one per chunk, honouring max_tokens, then a final (STOP
  // with the stop token counted, or LENGTH). False when cancelled.
  bool SendAll(const std::vector<int32_t>& ids);
  // Blocks until the router cancels the RPC or `timeout` passes.
  bool WaitUntilCancelled(absl::Duration timeout);
  bool cancelled() const { return context_->IsCancelled(); }
  int num_sent() const { return num_sent_; }

 private:
  grpc::ServerContext* context_;
  grpc::ServerWriter<v1::GenerateResponse>* writer_;
  const v1::GenerateRequest& request_;
  int num_sent_ = 0;
};

// The deterministic fake model: the token after `sequence` (prompt and
// outputs so far), a hash of every id in it, in [259, 511] (stories260K
// word pieces, never a special or byte token).
int32_t FakeNextToken(const std::vector<int32_t>& sequence);
// The `n` tokens an uninterrupted deterministic run appends to `prompt`.
std::vector<int32_t> FakeContinuation(std::vector<int32_t> prompt, int n);

// What goes wrong in deterministic streams.
enum class Fault {
  kNone,
  // The stream ends with UNAVAILABLE and the worker is Kill()ed: every
  // other stream on it ends the same way at its next token, and it refuses
  // all later calls (health NOT_SERVING).
  kDie,
  // The stream sends nothing more until the router cancels it (or the
  // server shuts down); the worker stays healthy otherwise.
  kStall,
};

// Shared by the workers serving with it: the first `num_streams` streams
// that start (on any of them) get `fault` after sending `after_tokens`.
struct FaultPlan {
  Fault fault = Fault::kNone;
  int after_tokens = 0;
  std::atomic<int> num_streams{1};
};

class FakeWorker final : public v1::Worker::Service {
 public:
  using Script =
      std::function<grpc::Status(const v1::GenerateRequest&, FakeStream&)>;

  explicit FakeWorker(v1::ModelInfo info);
  ~FakeWorker() override;

  // Starts serving on 127.0.0.1:port (0 = a free port); returns
  // "127.0.0.1:PORT".
  std::string Start(int port = 0);
  void Shutdown();

  void SetScript(Script script);

  // Generate becomes the deterministic model: streams FakeNextToken ids one
  // per chunk after the request's prompt (logprobs as FakeStream::Send),
  // up to max_tokens (0: the context) then a LENGTH final, or up to a
  // request stop id (not streamed; STOP final counting it).
  // completion_tokens counts new tokens only (num_previously_generated
  // excluded), like a real worker. `plan` (may be null) injects faults.
  void ServeDeterministic(std::shared_ptr<FaultPlan> plan = nullptr);
  // The worker "dies": see Fault::kDie. Irreversible.
  void Kill();
  bool dead() const { return dead_.load(); }

  // Requests received so far (in arrival order).
  std::vector<v1::GenerateRequest> requests() const;
  void ClearRequests();
  // Streams that ended because the router cancelled them.
  int num_cancelled() const;
  // Waits until num_cancelled() >= n; false on timeout.
  bool WaitForCancelled(int n, absl::Duration timeout);

  grpc::Status Generate(
      grpc::ServerContext* context, const v1::GenerateRequest* request,
      grpc::ServerWriter<v1::GenerateResponse>* writer) override;
  grpc::Status GetModelInfo(grpc::ServerContext* context,
                            const v1::GetModelInfoRequest* request,
                            v1::ModelInfo* response) override;
  grpc::Status GetLoad(grpc::ServerContext* context,
                       const v1::GetLoadRequest* request,
                       v1::LoadReport* response) override;

 private:
  grpc::Status Deterministic(const v1::GenerateRequest& request,
                             FakeStream& stream, FaultPlan* plan);

  v1::ModelInfo info_;
  std::atomic<bool> dead_{false};
  std::unique_ptr<grpc::Server> server_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Script script_;
  std::vector<v1::GenerateRequest> requests_;
  int num_cancelled_ = 0;
};

// ModelInfo for stories260K from the shared test data (model_id
// "stories260K", context 512, eos {2}).
v1::ModelInfo Stories260KInfo();

}  // namespace infernum::router::testing
