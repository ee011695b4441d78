#include "common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

#include "common/logging.h"

namespace infernum::metrics {
namespace {

// Adds `amount` to `target` atomically (portable CAS loop).
void AtomicAdd(std::atomic<double>& target, double amount) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + amount,
                                       std::memory_order_relaxed)) {
  }
}

bool IsNameChar(char c, bool first, bool allow_colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
    return true;
  }
  if (c == ':') return allow_colon;
  return !first && c >= '0' && c <= '9';
}

// True when `name` matches [a-zA-Z_:][a-zA-Z0-9_:]* (without ':' when
// `allow_colon` is false).
bool ValidName(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], i == 0, allow_colon)) return false;
  }
  return true;
}

void CheckNames(const std::string& name,
                const std::vector<std::string>& label_names,
                bool is_histogram) {
  CHECK(ValidName(name, /*allow_colon=*/true)) << "bad metric name " << name;
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string& label = label_names[i];
    CHECK(ValidName(label, /*allow_colon=*/false))
        << "bad label name '" << label << "' in " << name;
    CHECK(label.rfind("__", 0) != 0)
        << "reserved label name " << label << " in " << name;
    CHECK(!is_histogram || label != "le")
        << "histogram " << name << " may not use label 'le'";
    for (size_t j = 0; j < i; ++j) {
      CHECK(label_names[j] != label)
          << "duplicate label " << label << " in " << name;
    }
  }
}

// Shortest decimal that round-trips, plus the exposition spellings of the
// non-finite values.
std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  CHECK(ec == std::errc()) << "to_chars failed";
  return std::string(buf, end);
}

void AppendEscaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// Appends `{a="x",b="y"[,extra]}` (nothing when there are no labels).
void AppendLabels(std::string& out, const std::vector<std::string>& names,
                  const LabelValues& values, std::string_view extra = {}) {
  if (names.empty() && extra.empty()) return;
  out += '{';
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    AppendEscaped(out, values[i], /*quote=*/true);
    out += '"';
  }
  if (!extra.empty()) {
    if (!names.empty()) out += ',';
    out += extra;
  }
  out += '}';
}

void AppendSample(std::string& out, std::string_view name,
                  const std::vector<std::string>& label_names,
                  const LabelValues& values, double value,
                  std::string_view extra = {}) {
  out += name;
  AppendLabels(out, label_names, values, extra);
  out += ' ';
  out += FormatValue(value);
  out += '\n';
}

template <typename M>
void AppendHeader(std::string& out, const Family<M>& family,
                  std::string_view type) {
  out += "# HELP ";
  out += family.name();
  out += ' ';
  AppendEscaped(out, family.help(), /*quote=*/false);
  out += "\n# TYPE ";
  out += family.name();
  out += ' ';
  out += type;
  out += '\n';
}

template <typename M>
void RenderScalars(std::string& out, const Family<M>& family,
                   std::string_view type) {
  AppendHeader(out, family, type);
  for (const auto& [values, child] : family.Children()) {
    AppendSample(out, family.name(), family.label_names(), values,
                 child->value());
  }
}

void RenderHistograms(std::string& out, const Family<Histogram>& family) {
  AppendHeader(out, family, "histogram");
  const std::string& name = family.name();
  const std::vector<std::string>& labels = family.label_names();
  for (const auto& [values, child] : family.Children()) {
    Histogram::Snapshot snap = child->Read();
    for (size_t i = 0; i < snap.cumulative.size(); ++i) {
      double bound = i < snap.bounds.size()
                         ? snap.bounds[i]
                         : std::numeric_limits<double>::infinity();
      std::string le = "le=\"" + FormatValue(bound) + "\"";
      AppendSample(out, name + "_bucket", labels, values,
                   static_cast<double>(snap.cumulative[i]), le);
    }
    AppendSample(out, name + "_sum", labels, values, snap.sum);
    AppendSample(out, name + "_count", labels, values,
                 static_cast<double>(snap.count));
  }
}

}  // namespace

void Counter::Increment(double amount) {
  CHECK(amount >= 0) << "counter increment must be >= 0, got " << amount;
  AtomicAdd(value_, amount);
}

double Counter::value() const { return value_.load(std::memory_order_relaxed); }

void Gauge::Set(double value) {
  value_.store(value, std::memory_order_relaxed);
}

void Gauge::Add(double amount) { AtomicAdd(value_, amount); }

double Gauge::value() const { return value_.load(std::memory_order_relaxed); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    CHECK(std::isfinite(bounds_[i])) << "histogram bound must be finite";
    CHECK(i == 0 || bounds_[i - 1] < bounds_[i])
        << "histogram bounds must be strictly increasing";
  }
}

void Histogram::Observe(double value) {
  // First bucket whose upper bound is >= value; NaN and values above every
  // bound land in +Inf.
  size_t bucket = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) -
      bounds_.begin());
  if (std::isnan(value)) bucket = bounds_.size();
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[bucket];
  sum_ += value;
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snap;
  snap.bounds = bounds_;
  snap.cumulative.resize(counts_.size());
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t running = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    running += counts_[i];
    snap.cumulative[i] = running;
  }
  snap.count = running;
  snap.sum = sum_;
  return snap;
}

std::vector<double> LatencyBuckets() {
  return {0.001, 0.005, 0.01, 0.02,  0.04,  0.06, 0.08, 0.1,
          0.25,  0.5,   0.75, 1.0,   2.5,   5.0,  7.5,  10.0,
          20.0,  40.0,  80.0, 160.0, 320.0, 640.0};
}

template <typename M>
Family<M>::Family(std::string name, std::string help,
                  std::vector<std::string> labels, Factory factory)
    : name_(std::move(name)),
      help_(std::move(help)),
      labels_(std::move(labels)),
      factory_(std::move(factory)) {}

template <typename M>
M* Family<M>::WithLabels(const LabelValues& values) {
  CHECK(values.size() == labels_.size())
      << name_ << ": " << values.size() << " label values for "
      << labels_.size() << " label names";
  std::lock_guard<std::mutex> lock(mu_);
  auto it = children_.find(values);
  if (it == children_.end()) {
    it = children_.emplace(values, factory_()).first;
  }
  return it->second.get();
}

template <typename M>
std::vector<std::pair<LabelValues, M*>> Family<M>::Children() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<LabelValues, M*>> out;
  out.reserve(children_.size());
  for (const auto& [values, child] : children_) {
    out.emplace_back(values, child.get());
  }
  return out;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

struct Registry::Entry {
  std::unique_ptr<Family<Counter>> counter;
  std::unique_ptr<Family<Gauge>> gauge;
  std::unique_ptr<Family<Histogram>> histogram;

  const std::string& name() const {
    if (counter) return counter->name();
    if (gauge) return gauge->name();
    return histogram->name();
  }
};

namespace {

// Unlabelled families always show one sample (0 before any update), like the
// reference clients.
template <typename M>
Family<M>& MaybeCreateDefault(Family<M>& family) {
  if (family.label_names().empty()) family.WithLabels({});
  return family;
}

}  // namespace

Registry::Registry() = default;
Registry::~Registry() = default;

Family<Counter>& Registry::AddCounter(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
  CheckNames(name, label_names, /*is_histogram=*/false);
  auto entry = std::make_unique<Entry>();
  entry->counter = std::make_unique<Family<Counter>>(
      std::move(name), std::move(help), std::move(label_names),
      [] { return std::make_unique<Counter>(); });
  Family<Counter>& family = *entry->counter;
  AddEntry(std::move(entry));
  return MaybeCreateDefault(family);
}

Family<Gauge>& Registry::AddGauge(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
  CheckNames(name, label_names, /*is_histogram=*/false);
  auto entry = std::make_unique<Entry>();
  entry->gauge = std::make_unique<Family<Gauge>>(
      std::move(name), std::move(help), std::move(label_names),
      [] { return std::make_unique<Gauge>(); });
  Family<Gauge>& family = *entry->gauge;
  AddEntry(std::move(entry));
  return MaybeCreateDefault(family);
}

Family<Histogram>& Registry::AddHistogram(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
  CheckNames(name, label_names, /*is_histogram=*/true);
  Histogram validate(bounds);  // CHECKs the bounds once, at registration.
  auto entry = std::make_unique<Entry>();
  entry->histogram = std::make_unique<Family<Histogram>>(
      std::move(name), std::move(help), std::move(label_names),
      [bounds = std::move(bounds)] {
        return std::make_unique<Histogram>(bounds);
      });
  Family<Histogram>& family = *entry->histogram;
  AddEntry(std::move(entry));
  return MaybeCreateDefault(family);
}

void Registry::AddEntry(std::unique_ptr<Entry> entry) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& existing : entries_) {
    // A histogram's series names (_bucket, _sum, _count) are not checked
    // against other families: keep names distinct by convention.
    CHECK(existing->name() != entry->name())
        << "metric " << entry->name() << " registered twice";
  }
  entries_.push_back(std::move(entry));
}

void Registry::AddScrapeHook(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(mu_);
  hooks_.push_back(std::move(hook));
}

std::string Registry::Render() const {
  std::vector<std::function<void()>> hooks;
  std::vector<const Entry*> entries;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hooks = hooks_;
    for (const auto& entry : entries_) entries.push_back(entry.get());
  }
  for (const auto& hook : hooks) hook();
  std::string out;
  for (const Entry* entry : entries) {
    if (entry->counter) {
      RenderScalars(out, *entry->counter, "counter");
    } else if (entry->gauge) {
      RenderScalars(out, *entry->gauge, "gauge");
    } else {
      RenderHistograms(out, *entry->histogram);
    }
  }
  return out;
}

}  // namespace infernum::metrics
