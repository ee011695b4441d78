// Prometheus metrics: counters, gauges and histograms in labelled families,
// held by a Registry that renders the text exposition format (0.0.4).
//
// No global state: the process owner (worker or router main) creates one
// Registry and passes it (or the families) to whatever records metrics.
// Every method is thread-safe. A family's children live as long as the
// registry, so the pointer returned by WithLabels() may be cached and used
// from any thread without further lookups.
//
//   Registry registry;
//   Family<Counter>& tokens = registry.AddCounter(
//       "infernum:generation_tokens_total", "Generated tokens.",
//       {"model_name"});
//   tokens.WithLabels({"llama"})->Increment(5);
//   registry.AddScrapeHook([&] { running->Set(engine.num_running()); });
//   std::string text = registry.Render();  // Serve as text/plain;
//   version=0.0.4
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace infernum::metrics {

// Label values of one child, in the order of the family's label names.
using LabelValues = std::vector<std::string>;

// Monotonic. Increment() with a negative value is a programmer error.
class Counter {
 public:
  void Increment(double amount = 1.0);
  double value() const;

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void Set(double value);
  void Add(double amount);
  double value() const;

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // `bounds`: strictly increasing upper bounds; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;        // Without +Inf.
    std::vector<uint64_t> cumulative;  // One per bound, then +Inf.
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // Per bucket (not cumulative), +Inf last.
  double sum_ = 0;
};

// Buckets used for the latency histograms of the worker and the router
// (seconds, vLLM-like spread from 1 ms to 10 min).
std::vector<double> LatencyBuckets();

// One metric name with a fixed set of label names.
template <typename M>
class Family {
 public:
  using Factory = std::function<std::unique_ptr<M>()>;
  Family(std::string name, std::string help, std::vector<std::string> labels,
         Factory factory);

  // The child for `values` (size must equal the number of label names; a
  // mismatch is a programmer error). Created on first use; never null.
  M* WithLabels(const LabelValues& values);

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return labels_; }
  // Copies of (label values, child) pairs, in label-value order.
  std::vector<std::pair<LabelValues, M*>> Children() const;

 private:
  std::string name_;
  std::string help_;
  std::vector<std::string> labels_;
  Factory factory_;
  mutable std::mutex mu_;
  std::map<LabelValues, std::unique_ptr<M>> children_;
};

class Registry {
 public:
  Registry();
  ~Registry();  // Out of line: Entry is incomplete here.
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Adding a name twice is a programmer error. Names and label names must
  // match [a-zA-Z_:][a-zA-Z0-9_:]* (label names without ':').
  Family<Counter>& AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names);
  Family<Gauge>& AddGauge(std::string name, std::string help,
                          std::vector<std::string> label_names);
  Family<Histogram>& AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> bounds);

  // `hook` runs at the start of every Render() (e.g. to copy engine gauges
  // into Gauges). Hooks run in order, under no registry lock.
  void AddScrapeHook(std::function<void()> hook);

  // Text exposition format: "# HELP", "# TYPE", one sample per line, label
  // values escaped (\\, \", \n); histograms as _bucket{le=...}, _sum, _count.
  // Families in the order they were added.
  std::string Render() const;

 private:
  struct Entry;
  // Appends `entry`; CHECKs that its name is not registered yet.
  void AddEntry(std::unique_ptr<Entry> entry);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::vector<std::function<void()>> hooks_;
};

// The Content-Type to serve Render() with.
inline constexpr std::string_view kContentType =
    "text/plain; version=0.0.4; charset=utf-8";

}  // namespace infernum::metrics
