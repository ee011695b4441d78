#include "worker/server/proto_convert.h"

#include "absl/strings/str_cat.h"

namespace infernum::worker {
namespace {

SamplingParams ToSamplingParams(const v1::SamplingParams& p) {
  SamplingParams out;
  out.temperature = p.temperature();
  out.top_p = p.top_p() == 0.0f ? 1.0f : p.top_p();
  out.top_k = p.top_k() == -1 ? 0 : p.top_k();
  out.min_p = p.min_p();
  out.presence_penalty = p.presence_penalty();
  out.frequency_penalty = p.frequency_penalty();
  out.repetition_penalty =
      p.repetition_penalty() == 0.0f ? 1.0f : p.repetition_penalty();
  if (p.has_seed()) out.seed = static_cast<uint64_t>(p.seed());
  return out;
}

v1::FinishReason ToProtoReason(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return v1::FINISH_REASON_STOP;
    case FinishReason::kLength:
      return v1::FINISH_REASON_LENGTH;
    case FinishReason::kAbort:
      return v1::FINISH_REASON_ABORT;
    case FinishReason::kError:
    case FinishReason::kNone:
      break;
  }
  return v1::FINISH_REASON_ERROR;
}

}  // namespace

absl::StatusOr<EngineRequest> ToEngineRequest(const v1::GenerateRequest& r) {
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(r.request_id(), ": ", what));
  };
  if (r.max_tokens() < 0)
    return bad(absl::StrCat("max_tokens must be >= 0, got ", r.max_tokens()));
  if (r.min_tokens() < 0)
    return bad(absl::StrCat("min_tokens must be >= 0, got ", r.min_tokens()));
  if (r.num_previously_generated() < 0) {
    return bad(absl::StrCat("num_previously_generated must be >= 0, got ",
                            r.num_previously_generated()));
  }
  if (r.top_logprobs() < 0 || r.top_logprobs() > kMaxNumLogprobs) {
    return bad(absl::StrCat("top_logprobs must be in [0, ", kMaxNumLogprobs,
                            "], got ", r.top_logprobs()));
  }
  EngineRequest out;
  out.request_id = r.request_id();
  out.prompt_token_ids.assign(r.prompt_token_ids().begin(),
                              r.prompt_token_ids().end());
  out.sampling = ToSamplingParams(r.sampling());
  out.sampling.num_logprobs = r.logprobs() ? r.top_logprobs() : -1;
  out.max_tokens = r.max_tokens();
  out.min_tokens = r.min_tokens();
  out.stop_token_ids.assign(r.stop_token_ids().begin(),
                            r.stop_token_ids().end());
  out.ignore_eos = r.ignore_eos();
  out.priority = r.priority();
  out.num_previously_generated = r.num_previously_generated();
  return out;
}

void AppendToken(const TokenOutput& token, bool with_logprobs,
                 v1::TokenChunk* chunk) {
  v1::GeneratedToken* t = chunk->add_tokens();
  t->set_token_id(token.token_id);
  if (!with_logprobs) return;
  if (token.logprob.has_value()) t->set_logprob(*token.logprob);
  for (const TokenLogprob& alt : token.top_logprobs) {
    v1::TopLogprob* top = t->add_top_logprobs();
    top->set_token_id(alt.token);
    top->set_logprob(alt.logprob);
  }
}

v1::GenerateFinal ToGenerateFinal(const FinalOutput& f) {
  v1::GenerateFinal out;
  out.set_finish_reason(ToProtoReason(f.finish_reason));
  out.set_prompt_tokens(f.num_prompt_tokens);
  out.set_cached_prompt_tokens(f.num_cached_prompt_tokens);
  out.set_completion_tokens(f.num_output_tokens);
  if (f.finish_reason == FinishReason::kStop && f.stop_token_id.has_value()) {
    out.set_stop_token_id(*f.stop_token_id);
  }
  if (f.finish_reason == FinishReason::kAbort ||
      f.finish_reason == FinishReason::kError ||
      f.finish_reason == FinishReason::kNone) {
    out.set_error_message(f.error.ok()
                              ? std::string("request ended without a reason")
                              : std::string(f.error.message()));
  }
  return out;
}

v1::LoadReport ToLoadReport(const EngineStats& s, int64_t timestamp_unix_ms) {
  v1::LoadReport out;
  out.set_num_running(s.num_running);
  out.set_num_waiting(s.num_waiting);
  out.set_kv_cache_usage(static_cast<float>(s.kv_cache_usage));
  out.set_num_blocks_used(s.num_blocks_used);
  out.set_num_blocks_total(s.num_blocks_total);
  out.set_prefix_cache_queries(s.prefix_cache_queries);
  out.set_prefix_cache_hits(s.prefix_cache_hits);
  out.set_num_preemptions(s.num_preemptions);
  out.set_timestamp_unix_ms(timestamp_unix_ms);
  return out;
}

}  // namespace infernum::worker
