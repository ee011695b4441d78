#include "worker/server/worker_config.h"

#include <cctype>
#include <cmath>
#include <filesystem>
#include <limits>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "common/status.h"
#include "models/kv_cache.h"

namespace infernum::worker {
namespace {

struct BytesField {
  int64_t WorkerConfig::*member;
};

using FieldPtr =
    std::variant<std::string WorkerConfig::*, int WorkerConfig::*,
                 bool WorkerConfig::*, double WorkerConfig::*, BytesField>;

// One setting: YAML key `key`, flag --<key with '-' for '_'>.
struct Setting {
  const char* key;
  FieldPtr field;
  const char* help;
};

const std::vector<Setting>& Settings() {
  static const auto* settings = new std::vector<Setting>{
      {"model", &WorkerConfig::model,
       "model directory (config.json, safetensors, tokenizer)"},
      {"model_config", &WorkerConfig::model_config,
       "a config.json alone (load_format dummy)"},
      {"load_format", &WorkerConfig::load_format,
       "auto | dummy (random weights)"},
      {"dummy_dtype", &WorkerConfig::dummy_dtype,
       "dummy weight dtype: f32 | bf16 | f16"},
      {"served_model_name", &WorkerConfig::served_model_name,
       "model id (default: dir name)"},
      {"backend", &WorkerConfig::backend, "cpu | cuda (default cpu)"},
      {"threads", &WorkerConfig::threads, "CPU threads (default: all cores)"},
      {"cpu_matmul_precision", &WorkerConfig::cpu_matmul_precision,
       "cpu, bf16 weights: f32 (exact, default) | bf16 (activations rounded "
       "to bf16)"},
      {"kv_cache_dtype", &WorkerConfig::kv_cache_dtype,
       "KV cache dtype: auto (the activation dtype: f32 on cpu, bf16 on "
       "cuda; default) | bf16 (cpu: half the KV memory) | f32"},
      {"listen", &WorkerConfig::listen,
       "host:port (default 0.0.0.0:50051; port 0 = any)"},
      {"worker_id", &WorkerConfig::worker_id,
       "instance id (default: hostname:port)"},
      {"metrics_listen", &WorkerConfig::metrics_listen,
       "host:port of the Prometheus /metrics HTTP endpoint, e.g. "
       "0.0.0.0:9090 (port 0 = any; default \"\" = off)"},
      {"kv_cache_memory", BytesField{&WorkerConfig::kv_cache_memory},
       "KV cache bytes, e.g. 256MiB, 4GiB (default: fit max_num_seqs contexts, "
       "<= 2GiB)"},
      {"gpu_memory_utilization", &WorkerConfig::gpu_memory_utilization,
       "cuda, kv_cache_memory 0: fraction of the device memory free after "
       "weights and workspace given to the KV cache (default 0.9)"},
      {"cuda_graphs", &WorkerConfig::cuda_graphs,
       "cuda: replay decode steps as CUDA graphs (default true; "
       "--no-cuda-graphs)"},
      {"block_size", &WorkerConfig::block_size,
       "KV block size in tokens (default 16)"},
      {"max_num_seqs", &WorkerConfig::max_num_seqs,
       "max running sequences (default 256)"},
      {"max_num_batched_tokens", &WorkerConfig::max_num_batched_tokens,
       "token budget per step (default 2048)"},
      {"enable_prefix_caching", &WorkerConfig::enable_prefix_caching,
       "default true"},
      {"enable_chunked_prefill", &WorkerConfig::enable_chunked_prefill,
       "default true"},
      {"max_model_len", &WorkerConfig::max_model_len,
       "context limit (default: the model's)"},
      {"shutdown_grace_seconds", &WorkerConfig::shutdown_grace_seconds,
       "SIGTERM: time in-flight requests get to finish (default 30)"},
  };
  return *settings;
}

std::string FlagName(const char* key) {
  std::string name = key;
  for (char& c : name) c = c == '_' ? '-' : c;
  return name;
}

absl::Status CheckIntRange(const std::string& what, int64_t value) {
  if (value < std::numeric_limits<int>::min() ||
      value > std::numeric_limits<int>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", value, " is out of range"));
  }
  return absl::OkStatus();
}

// Applies one YAML value (the key is present) to `config`.
absl::Status ApplyYaml(const Setting& s, const YAML::Node& root,
                       WorkerConfig* config) {
  const std::string key = s.key;
  if (auto* p = std::get_if<std::string WorkerConfig::*>(&s.field)) {
    ASSIGN_OR_RETURN(config->**p, GetString(root, key, config->**p));
  } else if (auto* p = std::get_if<int WorkerConfig::*>(&s.field)) {
    ASSIGN_OR_RETURN(int64_t v, GetInt(root, key, config->**p));
    RETURN_IF_ERROR(CheckIntRange(key, v));
    config->** p = static_cast<int>(v);
  } else if (auto* p = std::get_if<bool WorkerConfig::*>(&s.field)) {
    ASSIGN_OR_RETURN(config->**p, GetBool(root, key, config->**p));
  } else if (auto* p = std::get_if<double WorkerConfig::*>(&s.field)) {
    ASSIGN_OR_RETURN(config->**p, GetDouble(root, key, config->**p));
  } else if (auto* p = std::get_if<BytesField>(&s.field)) {
    ASSIGN_OR_RETURN(std::string text, GetString(root, key, ""));
    ASSIGN_OR_RETURN(config->*(p->member), ParseByteSize(text, key));
  }
  return absl::OkStatus();
}

absl::Status ApplyYamlText(const YAML::Node& root, WorkerConfig* config) {
  for (const auto& entry : root) {
    std::string key = entry.first.Scalar();
    if (key == "config") key = "model_config";  // The brief's name for it.
    const Setting* found = nullptr;
    for (const Setting& s : Settings()) {
      if (key == s.key) found = &s;
    }
    if (found == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown setting '", key, "'"));
    }
    YAML::Node single(YAML::NodeType::Map);
    single[key] = entry.second;
    RETURN_IF_ERROR(ApplyYaml(*found, single, config));
  }
  return absl::OkStatus();
}

// Applies one flag (present in `args`) to `config`.
absl::Status ApplyFlag(const Setting& s, const cli::ParsedArgs& args,
                       WorkerConfig* config) {
  const std::string name = FlagName(s.key);
  if (!args.Has(name)) return absl::OkStatus();
  if (auto* p = std::get_if<std::string WorkerConfig::*>(&s.field)) {
    config->** p = args.GetString(name, "");
  } else if (auto* p = std::get_if<int WorkerConfig::*>(&s.field)) {
    const int64_t v = args.GetInt(name, 0);
    RETURN_IF_ERROR(CheckIntRange("--" + name, v));
    config->** p = static_cast<int>(v);
  } else if (auto* p = std::get_if<bool WorkerConfig::*>(&s.field)) {
    config->** p = args.GetBool(name, false);
  } else if (auto* p = std::get_if<double WorkerConfig::*>(&s.field)) {
    config->** p = args.GetFloat(name, 0.0);
  } else if (auto* p = std::get_if<BytesField>(&s.field)) {
    ASSIGN_OR_RETURN(config->*(p->member),
                     ParseByteSize(args.GetString(name, ""), "--" + name));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> SuffixMultiplier(std::string suffix) {
  suffix = absl::AsciiStrToLower(suffix);
  if (suffix.size() > 1 && suffix.back() == 'b') suffix.pop_back();
  if (suffix.empty() || suffix == "b") return int64_t{1};
  const std::string units = "kmgt";
  const size_t power = units.find(suffix[0]);
  if (power == std::string::npos)
    return absl::InvalidArgumentError("unknown unit");
  int64_t base = 1000;
  if (suffix.size() == 2 && suffix[1] == 'i') {
    base = 1024;
  } else if (suffix.size() != 1) {
    return absl::InvalidArgumentError("unknown unit");
  }
  int64_t m = 1;
  for (size_t i = 0; i <= power; ++i) m *= base;
  return m;
}

// `value` must be host:port with a port in 0..65535.
absl::Status CheckHostPort(const std::string& key, const std::string& value) {
  const size_t colon = value.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": expected host:port, got '", value, "'"));
  }
  int port = -1;
  if (!absl::SimpleAtoi(value.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": bad port in '", value, "' (expected 0..65535)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> ParseByteSize(const std::string& text,
                                      const std::string& what) {
  const std::string s(absl::StripAsciiWhitespace(text));
  size_t split = 0;
  while (
      split < s.size() &&
      (std::isdigit(static_cast<unsigned char>(s[split])) || s[split] == '.')) {
    ++split;
  }
  std::string number = s.substr(0, split);
  std::string unit(absl::StripAsciiWhitespace(s.substr(split)));
  double value = 0;
  auto multiplier = SuffixMultiplier(unit);
  if (number.empty() || !absl::SimpleAtod(number, &value) || !multiplier.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what,
        ": expected a byte size such as 1073741824, 512MiB or 4GiB, got '",
        text, "'"));
  }
  const double bytes = value * static_cast<double>(*multiplier);
  if (!std::isfinite(bytes) || bytes >= 9.2e18) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": '", text, "' is too large"));
  }
  return static_cast<int64_t>(bytes);
}

const std::vector<cli::FlagSpec>& WorkerFlagSpecs() {
  static const auto* specs = [] {
    auto* out = new std::vector<cli::FlagSpec>{
        {"config", cli::FlagType::kString,
         "YAML settings file (flags override it)"},
        {"help", cli::FlagType::kBool, "show this help"},
    };
    for (const Setting& s : Settings()) {
      cli::FlagType type = cli::FlagType::kString;
      if (std::holds_alternative<int WorkerConfig::*>(s.field))
        type = cli::FlagType::kInt;
      if (std::holds_alternative<bool WorkerConfig::*>(s.field))
        type = cli::FlagType::kBool;
      if (std::holds_alternative<double WorkerConfig::*>(s.field))
        type = cli::FlagType::kFloat;
      out->push_back({FlagName(s.key), type, s.help});
    }
    return out;
  }();
  return *specs;
}

absl::StatusOr<WorkerConfig> WorkerConfigFromYaml(
    const std::string& yaml_text) {
  ASSIGN_OR_RETURN(YAML::Node root, ParseYaml(yaml_text));
  WorkerConfig config;
  RETURN_IF_ERROR(ApplyYamlText(root, &config));
  RETURN_IF_ERROR(ValidateWorkerConfig(config));
  return config;
}

absl::StatusOr<WorkerConfig> LoadWorkerConfig(const cli::ParsedArgs& args) {
  if (!args.positional().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", args.positional()[0], "'"));
  }
  WorkerConfig config;
  if (args.Has("config")) {
    const std::string path = args.GetString("config", "");
    ASSIGN_OR_RETURN(YAML::Node root, LoadYamlFile(path));
    absl::Status st = ApplyYamlText(root, &config);
    if (!st.ok())
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", st.message()));
  }
  for (const Setting& s : Settings())
    RETURN_IF_ERROR(ApplyFlag(s, args, &config));
  RETURN_IF_ERROR(ValidateWorkerConfig(config));
  return config;
}

absl::Status ValidateWorkerConfig(const WorkerConfig& c) {
  auto bad = [](const std::string& msg) {
    return absl::InvalidArgumentError(msg);
  };
  if (c.model.empty() && c.model_config.empty()) {
    return bad(
        "model: a model directory is required (or model_config with "
        "load_format dummy)");
  }
  if (c.load_format != "auto" && c.load_format != "dummy") {
    return bad(absl::StrCat("load_format: expected auto or dummy, got '",
                            c.load_format, "'"));
  }
  if (c.backend != "cpu" && c.backend != "cuda") {
    return bad(
        absl::StrCat("backend: expected cpu or cuda, got '", c.backend, "'"));
  }
  if (c.cpu_matmul_precision != "f32" && c.cpu_matmul_precision != "bf16") {
    return bad(absl::StrCat("cpu_matmul_precision: expected f32 or bf16, got '",
                            c.cpu_matmul_precision, "'"));
  }
  if (auto kv = models::ParseKvCacheDType(c.kv_cache_dtype); !kv.ok()) {
    return bad(absl::StrCat("kv_cache_dtype: ", kv.status().message()));
  }
  if (c.threads < 0 || c.threads > 1024)
    return bad("threads: must be in [0, 1024]");
  RETURN_IF_ERROR(CheckHostPort("listen", c.listen));
  if (!c.metrics_listen.empty()) {
    RETURN_IF_ERROR(CheckHostPort("metrics_listen", c.metrics_listen));
  }
  if (c.kv_cache_memory < 0) return bad("kv_cache_memory: must be >= 0");
  if (!(c.gpu_memory_utilization > 0) || c.gpu_memory_utilization > 1) {
    return bad("gpu_memory_utilization: must be in (0, 1]");
  }
  if (c.block_size < 1 || c.block_size > 1024)
    return bad("block_size: must be in [1, 1024]");
  if (c.max_num_seqs < 1) return bad("max_num_seqs: must be >= 1");
  if (c.max_num_batched_tokens < 1)
    return bad("max_num_batched_tokens: must be >= 1");
  if (c.max_model_len < 0)
    return bad("max_model_len: must be >= 0 (0 = the model's)");
  if (!(c.shutdown_grace_seconds >= 0) || c.shutdown_grace_seconds > 86400) {
    return bad("shutdown_grace_seconds: must be in [0, 86400]");
  }
  return absl::OkStatus();
}

std::string ServedModelName(const WorkerConfig& config) {
  if (!config.served_model_name.empty()) return config.served_model_name;
  std::filesystem::path p(config.model.empty() ? config.model_config
                                               : config.model);
  if (!p.has_filename()) p = p.parent_path();  // "dir/" -> "dir"
  std::string name = p.filename().string();
  if (!config.model.empty()) return name;
  return p.stem().string();  // "config.json" -> "config"
}

}  // namespace infernum::worker
