#include "router/server/generation_run.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "router/api/errors.h"

namespace infernum::router {
namespace {

constexpr absl::Duration kPollInterval = absl::Milliseconds(50);
// Our own deadline check backs up gRPC's, which should fire first.
constexpr absl::Duration kDeadlineGrace = absl::Seconds(5);

int64_t CodePoints(std::string_view s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::vector<v1::GenerateRequest> BuildRequests(const RunSpec& spec) {
  std::vector<v1::GenerateRequest> out;
  for (const SequenceSpec& seq : spec.sequences) {
    out.push_back(MakeGenerateRequest(spec.options, *spec.model, seq));
  }
  return out;
}

GenerationSession::Options SessionOptions(const RunSpec& spec) {
  GenerationSession::Options o;
  o.model_id = spec.model->model_id;
  o.route_workers = spec.route_workers;
  o.deadline = spec.deadline;
  o.max_attempts = spec.max_attempts;
  o.stall_timeout = spec.stall_timeout;
  o.max_migrations = spec.max_migrations;
  o.counters = spec.counters;
  return o;
}

// A worker's final message that reports a failure, as an API error.
absl::Status FinalError(const v1::GenerateFinal& final) {
  const std::string detail =
      final.error_message().empty() ? "no details" : final.error_message();
  if (final.finish_reason() == v1::FINISH_REASON_ABORT) {
    return MakeApiError(
        ErrorKind::kServiceUnavailable,
        absl::StrCat("the worker aborted the request: ", detail));
  }
  return MakeApiError(
      ErrorKind::kInternal,
      absl::StrCat("generation failed on the worker: ", detail));
}

std::string SseError(const absl::Status& status) {
  return absl::StrCat("data: ", ErrorBodyJson(ApiErrorFromStatus(status)),
                      "\n\n");
}

}  // namespace

GenerationRun::GenerationRun(WorkerPool* pool, RunSpec spec)
    : spec_(std::move(spec)),
      session_(pool, SessionOptions(spec_), BuildRequests(spec_)),
      choices_(spec_.sequences.size()) {
  ChoiceDecoder::Options decoder_options;
  decoder_options.stop = spec_.options.stop;
  decoder_options.logprobs = spec_.options.logprobs;
  decoder_options.skip_special_tokens = spec_.options.skip_special_tokens;
  spec_.echo_prefix.resize(choices_.size());
  for (size_t i = 0; i < choices_.size(); ++i) {
    choices_[i].decoder = std::make_unique<ChoiceDecoder>(
        spec_.model->tokenizer(), spec_.sequences[i].prompt_ids,
        decoder_options);
    choices_[i].text = spec_.echo_prefix[i];
    choices_[i].text_offset = CodePoints(spec_.echo_prefix[i]);
    if (spec_.options.stream) {
      choices_[i].text_chunks.emplace(
          spec_.meta,
          spec_.endpoint == Endpoint::kChat
              ? TextChunkRenderer::Kind::kChat
              : TextChunkRenderer::Kind::kCompletion,
          static_cast<int>(i), spec_.options.include_usage);
    }
  }
  if (spec_.options.stream) StartStream();
}

void GenerationRun::StartStream() {
  const bool usage_null = spec_.options.include_usage;
  for (size_t i = 0; i < choices_.size(); ++i) {
    const int index = static_cast<int>(i);
    if (spec_.endpoint == Endpoint::kChat) {
      ChatDelta delta{.index = index, .role = "assistant", .content = ""};
      pending_ +=
          SseData(BuildChatCompletionChunk(spec_.meta, delta, usage_null));
    } else if (!spec_.echo_prefix[i].empty()) {
      CompletionDelta delta{.index = index, .text = spec_.echo_prefix[i]};
      int64_t no_offset = 0;  // The echo carries no logprobs.
      pending_ += SseData(
          BuildCompletionChunk(spec_.meta, delta, usage_null, &no_offset));
    }
  }
}

void GenerationRun::Emit(int index, std::string text,
                         std::vector<TokenLogprob> logprobs) {
  if (text.empty() && logprobs.empty()) return;
  Choice& c = choices_[index];
  if (!spec_.options.stream) {
    c.text += text;
    for (auto& lp : logprobs) c.logprobs.push_back(std::move(lp));
    return;
  }
  if (!spec_.options.logprobs) {  // The common case: text only.
    c.text_chunks->Append(text, &pending_);
    return;
  }
  std::optional<std::vector<TokenLogprob>> lp;
  if (spec_.options.logprobs) lp = std::move(logprobs);
  const bool usage_null = spec_.options.include_usage;
  if (spec_.endpoint == Endpoint::kChat) {
    ChatDelta delta{.index = index, .content = std::move(text), .logprobs = lp};
    pending_ +=
        SseData(BuildChatCompletionChunk(spec_.meta, delta, usage_null));
  } else {
    CompletionDelta delta{
        .index = index, .text = std::move(text), .logprobs = lp};
    pending_ += SseData(
        BuildCompletionChunk(spec_.meta, delta, usage_null, &c.text_offset));
  }
}

void GenerationRun::Finish(int index, FinishReason reason,
                           int64_t completion_tokens) {
  Choice& c = choices_[index];
  c.done = true;
  c.finish = reason;
  c.completion_tokens = completion_tokens;
  if (!spec_.options.stream) return;
  const bool usage_null = spec_.options.include_usage;
  if (spec_.endpoint == Endpoint::kChat) {
    ChatDelta delta{.index = index, .finish_reason = reason};
    pending_ +=
        SseData(BuildChatCompletionChunk(spec_.meta, delta, usage_null));
  } else {
    CompletionDelta delta{.index = index, .finish_reason = reason};
    if (spec_.options.logprobs) delta.logprobs.emplace();
    pending_ += SseData(
        BuildCompletionChunk(spec_.meta, delta, usage_null, &c.text_offset));
  }
}

absl::Status GenerationRun::HandleFinal(int index,
                                        const v1::GenerateFinal& final) {
  if (final.finish_reason() == v1::FINISH_REASON_ERROR ||
      final.finish_reason() == v1::FINISH_REASON_ABORT) {
    return FinalError(final);
  }
  Choice& c = choices_[index];
  absl::StatusOr<std::string> rest = c.decoder->Flush();
  if (!rest.ok()) return rest.status();
  Emit(index, std::move(*rest), {});
  FinishReason reason = final.finish_reason() == v1::FINISH_REASON_LENGTH
                            ? FinishReason::kLength
                            : FinishReason::kStop;
  if (c.decoder->stopped()) reason = FinishReason::kStop;
  Finish(index, reason,
         std::max<int64_t>(final.completion_tokens(), c.decoder->num_tokens()));
  return absl::OkStatus();
}

absl::Status GenerationRun::HandleEvent(SequenceEvent& ev) {
  const int index = ev.sequence;
  Choice& c = choices_[index];
  c.seen = true;
  switch (ev.kind) {
    case SequenceEvent::Kind::kError:
      return ev.error;
    case SequenceEvent::Kind::kFinal:
      return HandleFinal(index, ev.final);
    case SequenceEvent::Kind::kTokens:
      break;
  }
  absl::StatusOr<ChoiceDecoder::Output> out = c.decoder->AddTokens(ev.chunk);
  if (!out.ok()) {
    session_.CancelAll();
    return MakeApiError(ErrorKind::kInternal,
                        absl::StrCat("the worker sent an invalid token: ",
                                     out.status().message()));
  }
  Emit(index, std::move(out->text), std::move(out->logprobs));
  if (c.decoder->stopped()) {  // Stop string: end this sequence now.
    session_.Cancel(index);
    Finish(index, FinishReason::kStop, c.decoder->num_tokens());
  }
  return absl::OkStatus();
}

absl::Status GenerationRun::RunUntil(const std::function<bool()>& done,
                                     const ConnectionCheck& connected,
                                     const std::function<bool()>& after_event) {
  // The connection probe (a poll() on the socket) and the clock are read at
  // most every kPollInterval, not per token: a failed write reports a gone
  // client at once anyway. Output is flushed only when no further event is
  // queued, so a burst of tokens becomes one write.
  absl::Time next_check = absl::InfinitePast();
  while (!done()) {
    const absl::Time now = absl::Now();
    if (now >= next_check) {
      next_check = now + kPollInterval;
      if (!connected()) {
        session_.CancelAll();
        return MakeApiError(ErrorKind::kCancelled, "the client disconnected");
      }
      if (now > spec_.deadline + kDeadlineGrace) {
        session_.CancelAll();
        return MakeApiError(ErrorKind::kTimeout, "the request timed out");
      }
    }
    std::optional<SequenceEvent> ev = session_.Next(kPollInterval);
    if (!ev.has_value()) {
      next_check = absl::InfinitePast();    // Idle: probe on the next turn.
      if (after_event && !after_event()) {  // Flush what is held back.
        session_.CancelAll();
        return MakeApiError(ErrorKind::kCancelled, "the client disconnected");
      }
      continue;
    }
    absl::Status st = HandleEvent(*ev);
    if (!st.ok()) {
      session_.CancelAll();
      return st;
    }
    if (after_event && (done() || !session_.HasQueued()) && !after_event()) {
      session_.CancelAll();
      return MakeApiError(ErrorKind::kCancelled, "the client disconnected");
    }
  }
  return absl::OkStatus();
}

absl::Status GenerationRun::Prime(const ConnectionCheck& connected) {
  if (!started_) {
    started_ = true;
    if (!connected()) {  // Gone already: do not bother the workers.
      return MakeApiError(ErrorKind::kCancelled, "the client disconnected");
    }
    RETURN_IF_ERROR(session_.Start());
  }
  return RunUntil([this] { return AllSeen(); }, connected, nullptr);
}

absl::StatusOr<std::string> GenerationRun::Collect(
    const ConnectionCheck& connected) {
  RETURN_IF_ERROR(Prime(connected));
  RETURN_IF_ERROR(RunUntil([this] { return AllDone(); }, connected, nullptr));
  return BuildBody();
}

bool GenerationRun::Stream(const SseWriter& write,
                           const ConnectionCheck& connected) {
  auto flush = [&]() {
    if (pending_.empty()) return true;
    const bool ok = write(pending_);
    pending_.clear();
    return ok;
  };
  absl::Status st = Prime(connected);
  if (st.ok() && !flush()) st = MakeApiError(ErrorKind::kCancelled, "gone");
  if (st.ok()) st = RunUntil([this] { return AllDone(); }, connected, flush);
  if (!st.ok()) {
    session_.CancelAll();
    if (ApiErrorFromStatus(st).kind == ErrorKind::kCancelled) return false;
    pending_.clear();
    return write(SseError(st)) && write(SseDone());
  }
  if (spec_.options.include_usage) {
    const std::string_view object = spec_.endpoint == Endpoint::kChat
                                        ? "chat.completion.chunk"
                                        : "text_completion";
    pending_ += SseData(BuildUsageChunk(spec_.meta, object, TotalUsage()));
  }
  pending_ += SseDone();
  return flush();
}

Usage GenerationRun::TotalUsage() const {
  Usage usage;
  usage.prompt_tokens = spec_.prompt_tokens;
  for (const Choice& c : choices_)
    usage.completion_tokens += c.completion_tokens;
  return usage;
}

std::string GenerationRun::BuildBody() const {
  const bool with_logprobs = spec_.options.logprobs;
  if (spec_.endpoint == Endpoint::kChat) {
    std::vector<ChatChoice> out;
    for (size_t i = 0; i < choices_.size(); ++i) {
      ChatChoice c{.index = static_cast<int>(i),
                   .content = choices_[i].text,
                   .finish_reason = choices_[i].finish};
      if (with_logprobs) c.logprobs = choices_[i].logprobs;
      out.push_back(std::move(c));
    }
    return DumpJson(BuildChatCompletion(spec_.meta, out, TotalUsage()));
  }
  std::vector<CompletionChoice> out;
  for (size_t i = 0; i < choices_.size(); ++i) {
    CompletionChoice c{.index = static_cast<int>(i),
                       .text = choices_[i].text,
                       .finish_reason = choices_[i].finish,
                       .text_offset = CodePoints(spec_.echo_prefix[i])};
    if (with_logprobs) c.logprobs = choices_[i].logprobs;
    out.push_back(std::move(c));
  }
  return DumpJson(BuildCompletion(spec_.meta, out, TotalUsage()));
}

bool GenerationRun::AllSeen() const {
  return std::all_of(choices_.begin(), choices_.end(),
                     [](const Choice& c) { return c.seen; });
}

bool GenerationRun::AllDone() const {
  return std::all_of(choices_.begin(), choices_.end(),
                     [](const Choice& c) { return c.done; });
}

}  // namespace infernum::router
