// The worker's Prometheus metrics (names mirror vLLM's, prefix "infernum:",
// label model_name on every series). Owned by WorkerServer; served by
// MetricsHttpServer on GET /metrics.
//
//   gauges     num_requests_running, num_requests_waiting,
//              kv_cache_usage_perc (0..1)                       <- EngineStats
//   counters   prompt_tokens_total, generation_tokens_total,
//              num_preemptions_total, prefix_cache_queries_total,
//              prefix_cache_hits_total (tokens)                 <- EngineStats
//              request_success_total{finished_reason}           <- per request
//   histograms time_to_first_token_seconds, inter_token_latency_seconds,
//              e2e_request_latency_seconds,
//              request_queue_time_seconds                       <- per request
//
// The EngineStats-backed series are refreshed by a scrape hook (so they are
// as fresh as EngineLoop::stats(), i.e. the latest engine step); the
// per-request series are recorded when a request finishes, by a MetricsSink
// wrapped around the request's sink.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "common/metrics.h"
#include "worker/engine/engine_types.h"

namespace infernum::worker {

class WorkerMetrics {
 public:
  // `stats` is called at every scrape (from the HTTP thread); it must stay
  // callable for the lifetime of this object.
  WorkerMetrics(std::string model_name, std::function<EngineStats()> stats);
  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;

  // Records one finished request: request_success_total by finish reason
  // (stop | length | abort | error); TTFT and inter-token latencies when
  // tokens were produced; e2e latency and queue time for stop / length.
  // Thread-safe (called on the engine thread).
  void RecordFinish(const FinalOutput& final_output);

  // Copies `stats` into the gauges and advances the counters by how much the
  // engine's totals grew since the previous call (a total that went down is
  // taken as a reset: no increment). Thread-safe; run by the scrape hook.
  void UpdateFromStats(const EngineStats& stats);

  metrics::Registry& registry() { return registry_; }
  std::string Render() const { return registry_.Render(); }

 private:
  struct Totals {
    int64_t prompt_tokens = 0;
    int64_t generation_tokens = 0;
    int64_t preemptions = 0;
    int64_t prefix_queries = 0;
    int64_t prefix_hits = 0;
  };

  metrics::Registry registry_;
  const std::string model_name_;
  metrics::Gauge* running_;
  metrics::Gauge* waiting_;
  metrics::Gauge* kv_usage_;
  metrics::Counter* prompt_tokens_;
  metrics::Counter* generation_tokens_;
  metrics::Counter* preemptions_;
  metrics::Counter* prefix_queries_;
  metrics::Counter* prefix_hits_;
  metrics::Family<metrics::Counter>* success_;
  metrics::Histogram* ttft_;
  metrics::Histogram* itl_;
  metrics::Histogram* e2e_;
  metrics::Histogram* queue_time_;

  std::mutex totals_mu_;
  Totals last_;  // engine totals at the previous UpdateFromStats; totals_mu_
};

// Forwards every event to `inner` and, on OnFinish, records the request in
// `metrics` first (so the counters have moved by the time a client sees the
// end of its stream). `metrics` must outlive the sink's last event.
class MetricsSink : public RequestSink {
 public:
  MetricsSink(std::shared_ptr<RequestSink> inner, WorkerMetrics* metrics)
      : inner_(std::move(inner)), metrics_(metrics) {}
  void OnToken(const TokenOutput& token) override { inner_->OnToken(token); }
  void OnFinish(const FinalOutput& final_output) override {
    metrics_->RecordFinish(final_output);
    inner_->OnFinish(final_output);
  }

 private:
  const std::shared_ptr<RequestSink> inner_;
  WorkerMetrics* const metrics_;
};

}  // namespace infernum::worker
