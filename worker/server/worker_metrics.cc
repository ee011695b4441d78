#include "worker/server/worker_metrics.h"

#include <utility>

namespace infernum::worker {
namespace {

using metrics::LatencyBuckets;

const char* ReasonLabel(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kAbort:
      return "abort";
    case FinishReason::kError:
    case FinishReason::kNone:
      break;
  }
  return "error";
}

// Advances `counter` by how much `total` grew past `*last`; remembers it.
void Advance(metrics::Counter* counter, int64_t total, int64_t* last) {
  if (total > *last) counter->Increment(static_cast<double>(total - *last));
  *last = total;
}

}  // namespace

WorkerMetrics::WorkerMetrics(std::string model_name,
                             std::function<EngineStats()> stats)
    : model_name_(std::move(model_name)) {
  const metrics::LabelValues model = {model_name_};
  auto gauge = [&](const char* name, const char* help) {
    return registry_.AddGauge(name, help, {"model_name"}).WithLabels(model);
  };
  auto counter = [&](const char* name, const char* help) {
    return registry_.AddCounter(name, help, {"model_name"}).WithLabels(model);
  };
  auto histogram = [&](const char* name, const char* help) {
    return registry_.AddHistogram(name, help, {"model_name"}, LatencyBuckets())
        .WithLabels(model);
  };
  running_ = gauge("infernum:num_requests_running",
                   "Number of requests in model execution batches.");
  waiting_ = gauge("infernum:num_requests_waiting",
                   "Number of requests waiting to be processed.");
  kv_usage_ = gauge("infernum:kv_cache_usage_perc",
                    "KV-cache usage. 1 means 100 percent usage.");
  prompt_tokens_ = counter("infernum:prompt_tokens_total",
                           "Number of prefill tokens processed.");
  generation_tokens_ = counter("infernum:generation_tokens_total",
                               "Number of generation tokens processed.");
  preemptions_ = counter("infernum:num_preemptions_total",
                         "Cumulative number of preemptions.");
  prefix_queries_ = counter("infernum:prefix_cache_queries_total",
                            "Prefix cache queries, in terms of tokens.");
  prefix_hits_ = counter("infernum:prefix_cache_hits_total",
                         "Prefix cache hits, in terms of tokens.");
  success_ = &registry_.AddCounter("infernum:request_success_total",
                                   "Count of finished requests.",
                                   {"model_name", "finished_reason"});
  for (const char* reason : {"stop", "length", "abort"}) {
    success_->WithLabels({model_name_, reason});  // Visible at 0.
  }
  ttft_ = histogram("infernum:time_to_first_token_seconds",
                    "Time to first token in seconds.");
  itl_ = histogram("infernum:inter_token_latency_seconds",
                   "Time between consecutive output tokens in seconds.");
  e2e_ = histogram("infernum:e2e_request_latency_seconds",
                   "End-to-end request latency in seconds.");
  queue_time_ = histogram("infernum:request_queue_time_seconds",
                          "Time spent waiting before first scheduled, in "
                          "seconds.");
  registry_.AddScrapeHook(
      [this, stats = std::move(stats)] { UpdateFromStats(stats()); });
}

void WorkerMetrics::RecordFinish(const FinalOutput& f) {
  success_->WithLabels({model_name_, ReasonLabel(f.finish_reason)})
      ->Increment();
  const RequestTimings& t = f.timings;
  if (t.time_to_first_token >= 0) ttft_->Observe(t.time_to_first_token);
  for (double interval : t.inter_token_latencies) itl_->Observe(interval);
  if (f.finish_reason == FinishReason::kStop ||
      f.finish_reason == FinishReason::kLength) {
    e2e_->Observe(t.e2e_latency);
    queue_time_->Observe(t.queue_time);
  }
}

void WorkerMetrics::UpdateFromStats(const EngineStats& s) {
  std::lock_guard<std::mutex> lock(totals_mu_);
  running_->Set(s.num_running);
  waiting_->Set(s.num_waiting);
  kv_usage_->Set(s.kv_cache_usage);
  Advance(prompt_tokens_, s.prompt_tokens_total, &last_.prompt_tokens);
  Advance(generation_tokens_, s.generation_tokens_total,
          &last_.generation_tokens);
  Advance(preemptions_, s.num_preemptions, &last_.preemptions);
  Advance(prefix_queries_, s.prefix_cache_queries, &last_.prefix_queries);
  Advance(prefix_hits_, s.prefix_cache_hits, &last_.prefix_hits);
}

}  // namespace infernum::worker
