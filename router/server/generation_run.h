// The generation core shared by /v1/chat/completions and /v1/completions:
// runs a request's sequences on the workers (GenerationSession), decodes
// each into its choice (ChoiceDecoder: detokenize, stop strings, logprobs)
// and renders the OpenAI response, as one JSON body or as SSE events.
//
// Use from the HTTP handler thread:
//   GenerationRun run(pool, std::move(spec));
//   if (status = run.Prime(connected); !ok) -> send the error (nothing sent)
//   non-streaming: body = run.Collect(connected)  (error -> error response)
//   streaming:     run.Stream(write, connected)   (from the chunk provider)
// `connected` returns false once the client is gone (or the server stops):
// every stream is then cancelled, so the workers free the sequences at once.
// Worker failures are handled below (GenerationSession: retries, stall
// detection, migration): a sequence that moves to another worker mid-stream
// still reads as one stream here; only one that cannot be moved ends the
// request with an error (an SSE error event when streaming).
// Not thread-safe; one thread at a time (Prime may run on the handler
// thread and Stream later on the provider thread).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "router/api/openai_request.h"
#include "router/api/openai_response.h"
#include "router/api/text_chunk.h"
#include "router/server/choice_decoder.h"
#include "router/server/generation_session.h"
#include "router/server/model_assets.h"
#include "router/server/request_builder.h"
#include "router/server/router_counters.h"
#include "router/server/worker_pool.h"

namespace infernum::router {

enum class Endpoint { kChat, kCompletion };

struct RunSpec {
  Endpoint endpoint = Endpoint::kChat;
  ResponseMeta meta;
  RequestOptions options;  // stream, include_usage, logprobs, stop, ...
  std::shared_ptr<const ModelAssets> model;
  std::vector<int> route_workers;       // Healthy workers of the model.
  std::vector<SequenceSpec> sequences;  // Choice i = sequences[i].
  // Completions echo: text put before choice i's output (or empty).
  std::vector<std::string> echo_prefix;
  int64_t prompt_tokens = 0;  // usage.prompt_tokens (each prompt once).
  absl::Time deadline = absl::InfiniteFuture();
  // Failover (GenerationSession::Options): dispatches before the first
  // token, silence that counts as a stalled worker (<= 0: off), resumes
  // after tokens were streamed, and the router-wide counters (may be null).
  int max_attempts = 3;
  absl::Duration stall_timeout = absl::Seconds(30);
  int max_migrations = 3;
  RouterCounters* counters = nullptr;
};

using ConnectionCheck = std::function<bool()>;
using SseWriter = std::function<bool(std::string_view)>;

class GenerationRun {
 public:
  GenerationRun(WorkerPool* pool, RunSpec spec);

  // Opens the streams and waits until every sequence has produced its
  // first event. An error here (no worker, worker rejected the request,
  // client gone, deadline) is the HTTP error to send: no output yet.
  absl::Status Prime(const ConnectionCheck& connected);

  // Non-streaming: waits for every choice; the response JSON, or the error
  // (a worker failure after tokens, deadline, client gone).
  absl::StatusOr<std::string> Collect(const ConnectionCheck& connected);

  // Streaming: writes the SSE events through `write` up to "data: [DONE]";
  // a failure mid-stream becomes an error event before [DONE]. Returns
  // false when the client went away or a write failed.
  bool Stream(const SseWriter& write, const ConnectionCheck& connected);

  // Token counts so far (final once Collect/Stream returned).
  Usage usage() const { return TotalUsage(); }
  // Addresses of the workers that served (or tried) the sequences.
  const std::vector<std::string>& workers_used() const {
    return session_.workers_used();
  }

 private:
  struct Choice {
    std::unique_ptr<ChoiceDecoder> decoder;
    bool seen = false;  // Some event arrived.
    bool done = false;
    std::string text;  // Non-streaming: the whole output (echo included).
    std::vector<TokenLogprob> logprobs;
    FinishReason finish = FinishReason::kNone;
    int64_t completion_tokens = 0;
    int64_t text_offset = 0;  // Completions logprobs offset counter.
    // Streaming: renders the text-only chunks (most of the stream).
    std::optional<TextChunkRenderer> text_chunks;
  };

  // Pulls events until `done()` holds; error on a worker failure, client
  // disconnect or deadline.
  absl::Status RunUntil(const std::function<bool()>& done,
                        const ConnectionCheck& connected,
                        const std::function<bool()>& after_event);
  absl::Status HandleEvent(SequenceEvent& event);
  absl::Status HandleFinal(int index, const v1::GenerateFinal& final);
  void Emit(int index, std::string text, std::vector<TokenLogprob> logprobs);
  void Finish(int index, FinishReason reason, int64_t completion_tokens);
  void StartStream();  // Role / echo chunks.
  Usage TotalUsage() const;
  std::string BuildBody() const;
  bool AllSeen() const;
  bool AllDone() const;

  RunSpec spec_;
  GenerationSession session_;
  std::vector<Choice> choices_;
  std::string pending_;  // SSE text not yet written.
  bool started_ = false;
};

}  // namespace infernum::router
