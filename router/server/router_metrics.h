// The router's Prometheus metrics (prefix infernum_router:), see
// docs/cluster-contract.md:
//   counter requests_total{model,status,policy}   generation requests
//   gauge   worker_in_flight{worker,model}, worker_healthy{worker,model}
//   counter retries_total, migrations_total, stalls_total,
//           failed_sequences_total                (from RouterCounters)
//   counter worker_ejections_total{worker}
//   counter rejected_requests_total{reason}       auth | rate_limit |
//                                                 queue_timeout | draining
//   gauge   queued_requests
//   histogram time_to_first_token_seconds{model}, inter_token_latency_seconds
//           {model}, e2e_request_latency_seconds{model}  (client side)
//
// Request-path methods are called by the HTTP layer as requests progress;
// worker, counter and queue values are pulled from `Sources` at scrape time
// (a Registry scrape hook). Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/metrics.h"
#include "router/server/router_counters.h"

namespace infernum::router {

// One worker as the metrics see it at scrape time.
struct WorkerSample {
  std::string worker;  // host:port
  std::string model;   // "" while unknown.
  bool healthy = false;
  int64_t in_flight = 0;   // Open Generate streams.
  uint64_t ejections = 0;  // Times ejected so far (monotonic per worker).
};

class RouterMetrics {
 public:
  struct Sources {
    std::function<std::vector<WorkerSample>()> workers;  // May be empty.
    const RouterCounters* counters = nullptr;            // May be null.
    std::function<int64_t()> queued;                     // May be empty.
  };

  // Adds the families and a scrape hook to `registry`; `registry` and the
  // sources must outlive this object (and every Render of the registry).
  RouterMetrics(metrics::Registry* registry, Sources sources);
  RouterMetrics(const RouterMetrics&) = delete;
  RouterMetrics& operator=(const RouterMetrics&) = delete;

  // A generation request ended with HTTP `status`.
  void CountRequest(std::string_view model, int status,
                    std::string_view policy);
  // A request refused before it ran (reason: auth, rate_limit, ...).
  void CountRejected(std::string_view reason);
  void ObserveTimeToFirstToken(std::string_view model, double seconds);
  void ObserveInterTokenLatency(std::string_view model, double seconds);
  // The inter_token_latency_seconds child of `model` (never null; valid as
  // long as this object): callers that observe many gaps keep it.
  metrics::Histogram* InterTokenLatency(std::string_view model);
  void ObserveEndToEnd(std::string_view model, double seconds);

  // The exposition text (runs the scrape hooks).
  std::string Render() const { return registry_->Render(); }

 private:
  void Scrape();
  void ScrapeWorkers();
  void ScrapeCounters();

  metrics::Registry* registry_;
  Sources sources_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Gauge>& worker_in_flight_;
  metrics::Family<metrics::Gauge>& worker_healthy_;
  metrics::Family<metrics::Counter>& retries_;
  metrics::Family<metrics::Counter>& migrations_;
  metrics::Family<metrics::Counter>& stalls_;
  metrics::Family<metrics::Counter>& failed_sequences_;
  metrics::Family<metrics::Counter>& ejections_;
  metrics::Family<metrics::Counter>& rejected_;
  metrics::Family<metrics::Gauge>& queued_;
  metrics::Family<metrics::Histogram>& ttft_;
  metrics::Family<metrics::Histogram>& itl_;
  metrics::Family<metrics::Histogram>& e2e_;

  std::mutex scrape_mu_;  // Guards the "last seen" state below.
  // Worker gauge label sets set by the previous scrape (zeroed when gone).
  std::vector<metrics::LabelValues> last_workers_;
  std::map<std::string, uint64_t> last_ejections_;  // worker -> count
  uint64_t last_retries_ = 0, last_migrations_ = 0, last_stalls_ = 0,
           last_failed_ = 0;
};

}  // namespace infernum::router
