// Test tool: builds a metrics::Registry from a JSON script on stdin and prints
// Registry::Render() on stdout. Used by metrics_exposition_test.sh, which
// checks the output with the Debian prometheus_client parser.
//
// Input: {"families": [{"kind": "counter"|"gauge"|"histogram", "name": str,
//                       "help": str, "labels": [str], "bounds": [num]}],
//         "ops": [{"family": index, "labels": [str],
//                  "op": "inc"|"set"|"add"|"observe", "value": num}]}
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "common/metrics.h"

namespace {

using infernum::metrics::Counter;
using infernum::metrics::Family;
using infernum::metrics::Gauge;
using infernum::metrics::Histogram;
using infernum::metrics::Registry;
using AnyFamily =
    std::variant<Family<Counter>*, Family<Gauge>*, Family<Histogram>*>;

AnyFamily AddFamily(Registry& registry, const nlohmann::json& spec) {
  std::string kind = spec.at("kind");
  std::string name = spec.at("name");
  std::string help = spec.at("help");
  auto labels = spec.at("labels").get<std::vector<std::string>>();
  if (kind == "counter") return &registry.AddCounter(name, help, labels);
  if (kind == "gauge") return &registry.AddGauge(name, help, labels);
  return &registry.AddHistogram(name, help, labels,
                                spec.at("bounds").get<std::vector<double>>());
}

void Apply(const AnyFamily& family, const nlohmann::json& op) {
  auto labels = op.at("labels").get<std::vector<std::string>>();
  std::string kind = op.at("op");
  double value = op.at("value");
  if (auto* counter = std::get_if<Family<Counter>*>(&family)) {
    (*counter)->WithLabels(labels)->Increment(value);
  } else if (auto* gauge = std::get_if<Family<Gauge>*>(&family)) {
    if (kind == "set") {
      (*gauge)->WithLabels(labels)->Set(value);
    } else {
      (*gauge)->WithLabels(labels)->Add(value);
    }
  } else {
    std::get<Family<Histogram>*>(family)->WithLabels(labels)->Observe(value);
  }
}

}  // namespace

int main() {
  std::string input((std::istreambuf_iterator<char>(std::cin)),
                    std::istreambuf_iterator<char>());
  nlohmann::json script = nlohmann::json::parse(input, nullptr, false);
  if (script.is_discarded()) {
    std::cerr << "bad JSON on stdin\n";
    return 2;
  }
  Registry registry;
  std::vector<AnyFamily> families;
  try {  // nlohmann::json throws on a malformed script.
    for (const auto& spec : script.at("families")) {
      families.push_back(AddFamily(registry, spec));
    }
    for (const auto& op : script.at("ops")) {
      Apply(families.at(op.at("family").get<size_t>()), op);
    }
  } catch (const std::exception& e) {
    std::cerr << "bad script: " << e.what() << "\n";
    return 2;
  }
  std::cout << registry.Render();
  return 0;
}
