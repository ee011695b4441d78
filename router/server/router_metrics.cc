#include "router/server/router_metrics.h"

#include <algorithm>
#include <set>
#include <utility>

namespace infernum::router {
namespace {

constexpr char kPrefix[] = "infernum_router:";

std::string Name(std::string_view suffix) {
  return std::string(kPrefix) + std::string(suffix);
}

// Adds to `counter` what `current` gained since `*last`; a value that went
// down (a source was reset) only re-bases.
void AddDelta(metrics::Counter* counter, uint64_t current, uint64_t* last) {
  if (current > *last) counter->Increment(static_cast<double>(current - *last));
  *last = current;
}

}  // namespace

RouterMetrics::RouterMetrics(metrics::Registry* registry, Sources sources)
    : registry_(registry),
      sources_(std::move(sources)),
      requests_(registry->AddCounter(
          Name("requests_total"),
          "Generation requests by model, HTTP status and routing policy.",
          {"model", "status", "policy"})),
      worker_in_flight_(registry->AddGauge(
          Name("worker_in_flight"), "Generate streams open on each worker.",
          {"worker", "model"})),
      worker_healthy_(registry->AddGauge(
          Name("worker_healthy"), "1 when the worker is healthy, else 0.",
          {"worker", "model"})),
      retries_(registry->AddCounter(
          Name("retries_total"),
          "Sequences re-sent to another worker before their first token.", {})),
      migrations_(registry->AddCounter(
          Name("migrations_total"),
          "Sequences resumed on another worker after tokens were streamed.",
          {})),
      stalls_(registry->AddCounter(Name("stalls_total"),
                                   "Worker streams declared stalled.", {})),
      failed_sequences_(registry->AddCounter(
          Name("failed_sequences_total"),
          "Sequences that failed after every retry and migration.", {})),
      ejections_(registry->AddCounter(
          Name("worker_ejections_total"),
          "Times a worker was ejected by the circuit breaker.", {"worker"})),
      rejected_(registry->AddCounter(
          Name("rejected_requests_total"),
          "Requests refused before running, by reason.", {"reason"})),
      queued_(registry->AddGauge(Name("queued_requests"),
                                 "Requests waiting for an admission slot.",
                                 {})),
      ttft_(registry->AddHistogram(
          Name("time_to_first_token_seconds"),
          "Time from request arrival to the first streamed tokens sent to "
          "the client.",
          {"model"}, metrics::LatencyBuckets())),
      itl_(registry->AddHistogram(
          Name("inter_token_latency_seconds"),
          "Time between successive streamed writes to the client.", {"model"},
          metrics::LatencyBuckets())),
      e2e_(registry->AddHistogram(
          Name("e2e_request_latency_seconds"),
          "Time from request arrival to the end of a successful response.",
          {"model"}, metrics::LatencyBuckets())) {
  for (const char* reason :
       {"auth", "rate_limit", "queue_timeout", "draining"}) {
    rejected_.WithLabels({reason});  // Exported at 0 from the start.
  }
  registry_->AddScrapeHook([this] { Scrape(); });
}

void RouterMetrics::CountRequest(std::string_view model, int status,
                                 std::string_view policy) {
  requests_
      .WithLabels(
          {std::string(model), std::to_string(status), std::string(policy)})
      ->Increment();
}

void RouterMetrics::CountRejected(std::string_view reason) {
  rejected_.WithLabels({std::string(reason)})->Increment();
}

void RouterMetrics::ObserveTimeToFirstToken(std::string_view model,
                                            double seconds) {
  ttft_.WithLabels({std::string(model)})->Observe(seconds);
}

void RouterMetrics::ObserveInterTokenLatency(std::string_view model,
                                             double seconds) {
  InterTokenLatency(model)->Observe(seconds);
}

metrics::Histogram* RouterMetrics::InterTokenLatency(std::string_view model) {
  return itl_.WithLabels({std::string(model)});
}

void RouterMetrics::ObserveEndToEnd(std::string_view model, double seconds) {
  e2e_.WithLabels({std::string(model)})->Observe(seconds);
}

void RouterMetrics::Scrape() {
  std::lock_guard<std::mutex> lock(scrape_mu_);
  ScrapeWorkers();
  ScrapeCounters();
  if (sources_.queued) {
    queued_.WithLabels({})->Set(static_cast<double>(sources_.queued()));
  }
}

void RouterMetrics::ScrapeWorkers() {
  if (!sources_.workers) return;
  const std::vector<WorkerSample> samples = sources_.workers();
  std::set<metrics::LabelValues> present;
  for (const WorkerSample& w : samples) {
    metrics::LabelValues labels = {w.worker, w.model};
    worker_in_flight_.WithLabels(labels)->Set(static_cast<double>(w.in_flight));
    worker_healthy_.WithLabels(labels)->Set(w.healthy ? 1 : 0);
    uint64_t& last = last_ejections_[w.worker];
    AddDelta(ejections_.WithLabels({w.worker}), w.ejections, &last);
    present.insert(std::move(labels));
  }
  // A worker that left (DNS) or changed model keeps its series at 0.
  for (const metrics::LabelValues& labels : last_workers_) {
    if (present.count(labels) > 0) continue;
    worker_in_flight_.WithLabels(labels)->Set(0);
    worker_healthy_.WithLabels(labels)->Set(0);
  }
  last_workers_.assign(present.begin(), present.end());
}

void RouterMetrics::ScrapeCounters() {
  const RouterCounters* c = sources_.counters;
  if (c == nullptr) return;
  AddDelta(retries_.WithLabels({}), c->retries.load(), &last_retries_);
  AddDelta(migrations_.WithLabels({}), c->migrations.load(), &last_migrations_);
  AddDelta(stalls_.WithLabels({}), c->stalls.load(), &last_stalls_);
  AddDelta(failed_sequences_.WithLabels({}), c->failed_sequences.load(),
           &last_failed_);
}

}  // namespace infernum::router
