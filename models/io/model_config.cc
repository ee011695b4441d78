#include "models/io/model_config.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "models/io/json_fields.h"
#include "models/io/mapped_file.h"

namespace infernum::models {
namespace {

using nlohmann::json;

struct Architecture {
  const char* class_name;
  const char* model_type;
};
constexpr Architecture kArchitectures[] = {
    {"LlamaForCausalLM", "llama"},
    {"MistralForCausalLM", "mistral"},
    {"Qwen3ForCausalLM", "qwen3"},
};

// Values whose transformers default depends on other fields or on whether
// the key was present, resolved after all reads.
struct Pending {
  std::optional<int> num_key_value_heads;  // nullopt: = num_attention_heads.
  std::optional<int> head_dim;             // nullopt: = hidden / heads.
  std::optional<int32_t> default_bos;
  std::vector<int32_t> default_eos;
};

std::string SupportedArchitectures() {
  std::vector<std::string> names;
  for (const Architecture& a : kArchitectures) names.push_back(a.class_name);
  return absl::StrJoin(names, ", ");
}

// Sets cfg->model_type from "model_type", else from "architectures".
absl::Status ResolveModelType(const JsonFields& f, ModelConfig* cfg) {
  std::string from_arch;
  if (const json* archs = f.Get("architectures")) {
    if (!archs->is_array())
      return f.TypeError("architectures", "a list of strings", *archs);
    std::string first;
    for (const json& a : *archs) {
      if (!a.is_string())
        return f.TypeError("architectures", "a list of strings", *archs);
      if (first.empty()) first = a.get<std::string>();
      for (const Architecture& known : kArchitectures) {
        if (a.get<std::string>() == known.class_name && from_arch.empty()) {
          from_arch = known.model_type;
        }
      }
    }
    if (from_arch.empty() && !archs->empty()) {
      return absl::UnimplementedError(
          absl::StrCat(f.where(), ": unsupported architecture '", first,
                       "' (supported: ", SupportedArchitectures(), ")"));
    }
  }
  RETURN_IF_ERROR(f.Read("model_type", &cfg->model_type));
  if (cfg->model_type.empty()) cfg->model_type = from_arch;
  if (cfg->model_type.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        f.where(), ": neither 'model_type' nor 'architectures' is set"));
  }
  for (const Architecture& known : kArchitectures) {
    if (cfg->model_type == known.model_type) return absl::OkStatus();
  }
  return absl::UnimplementedError(
      absl::StrCat(f.where(), ": unsupported model_type '", cfg->model_type,
                   "' (supported: llama, mistral, qwen3)"));
}

// The transformers defaults of LlamaConfig / MistralConfig / Qwen3Config.
void ApplyDefaults(ModelConfig* c, Pending* p) {
  c->vocab_size = 32000;
  c->hidden_size = 4096;
  c->intermediate_size = 11008;
  c->num_hidden_layers = 32;
  c->num_attention_heads = 32;
  c->max_position_embeddings = 2048;
  c->rms_norm_eps = 1e-6f;
  c->rope_theta = 10000.0f;
  c->tie_word_embeddings = false;
  c->torch_dtype = "float32";
  p->default_bos = 1;
  p->default_eos = {2};
  if (c->model_type == "mistral") {
    c->intermediate_size = 14336;
    c->max_position_embeddings = 4096 * 32;
    p->num_key_value_heads = 8;
    c->sliding_window = 4096;
  } else if (c->model_type == "qwen3") {
    c->vocab_size = 151936;
    c->intermediate_size = 22016;
    c->max_position_embeddings = 32768;
    p->num_key_value_heads = 32;
    p->head_dim = 128;
    p->default_bos = std::nullopt;
    p->default_eos = {};
    c->qk_norm = true;
  }
}

absl::Status ReadSizes(const JsonFields& f, ModelConfig* c, Pending* p) {
  RETURN_IF_ERROR(f.Read("vocab_size", &c->vocab_size));
  RETURN_IF_ERROR(f.Read("hidden_size", &c->hidden_size));
  RETURN_IF_ERROR(f.Read("intermediate_size", &c->intermediate_size));
  RETURN_IF_ERROR(f.Read("num_hidden_layers", &c->num_hidden_layers));
  RETURN_IF_ERROR(f.Read("num_attention_heads", &c->num_attention_heads));
  RETURN_IF_ERROR(f.Read("num_key_value_heads", &p->num_key_value_heads));
  RETURN_IF_ERROR(f.Read("head_dim", &p->head_dim));
  RETURN_IF_ERROR(
      f.Read("max_position_embeddings", &c->max_position_embeddings));
  RETURN_IF_ERROR(f.Read("rms_norm_eps", &c->rms_norm_eps));
  RETURN_IF_ERROR(f.Read("tie_word_embeddings", &c->tie_word_embeddings));
  if (c->num_attention_heads <= 0)
    return f.Error("num_attention_heads", "must be positive");
  c->num_key_value_heads =
      p->num_key_value_heads.value_or(c->num_attention_heads);
  if (p->head_dim.has_value()) {
    c->head_dim = *p->head_dim;
  } else {
    if (c->hidden_size % c->num_attention_heads != 0) {
      return f.Error("head_dim",
                     absl::StrCat("is not set and hidden_size ", c->hidden_size,
                                  " is not divisible by num_attention_heads ",
                                  c->num_attention_heads));
    }
    c->head_dim = c->hidden_size / c->num_attention_heads;
  }
  return absl::OkStatus();
}

// Reads one rope_scaling / rope_parameters object into c->rope_scaling.
absl::Status ReadRopeScaling(const json& obj, const std::string& where,
                             const std::string& name, ModelConfig* c) {
  if (!obj.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": field '", name,
                                                   "' must be an object, got ",
                                                   DescribeJson(obj)));
  }
  JsonFields f(obj, where, name + ".");
  kernels::RopeScaling& s = c->rope_scaling;
  if (!f.Has("rope_type") && !f.Has("type"))
    return f.Error("rope_type", "is required");
  // As transformers: a legacy "type" key wins over "rope_type".
  RETURN_IF_ERROR(f.Read("rope_type", &s.type));
  RETURN_IF_ERROR(f.Read("type", &s.type));
  RETURN_IF_ERROR(
      f.Read("rope_theta", &c->rope_theta));  // rope_parameters only.
  std::vector<std::string> required;
  if (s.type == "linear") {
    required = {"factor"};
  } else if (s.type == "llama3") {
    required = {"factor", "low_freq_factor", "high_freq_factor",
                "original_max_position_embeddings"};
  } else if (s.type != "default") {
    return absl::UnimplementedError(
        absl::StrCat(where, ": ", name, " type '", s.type,
                     "' is not supported (supported: default, "
                     "linear, llama3)"));
  }
  for (const std::string& key : required) {
    if (!f.Has(key))
      return f.Error(key, absl::StrCat("is required for type '", s.type, "'"));
  }
  RETURN_IF_ERROR(f.Read("factor", &s.factor));
  RETURN_IF_ERROR(f.Read("low_freq_factor", &s.low_freq_factor));
  RETURN_IF_ERROR(f.Read("high_freq_factor", &s.high_freq_factor));
  RETURN_IF_ERROR(f.Read("original_max_position_embeddings",
                         &s.original_max_position_embeddings));
  return absl::OkStatus();
}

absl::Status ReadRope(const JsonFields& f, ModelConfig* c) {
  RETURN_IF_ERROR(f.Read("rope_theta", &c->rope_theta));
  // transformers >= 5 writes "rope_parameters"; older versions "rope_scaling".
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    if (const json* obj = f.Get(key))
      return ReadRopeScaling(*obj, f.where(), key, c);
  }
  return absl::OkStatus();
}

absl::Status Unsupported(const JsonFields& f, std::string_view what) {
  return absl::UnimplementedError(
      absl::StrCat(f.where(), ": ", ToAbsl(what), " is not supported yet"));
}

absl::Status ReadFeatures(const JsonFields& f, ModelConfig* c) {
  std::string act = "silu";
  RETURN_IF_ERROR(f.Read("hidden_act", &act));
  if (act != "silu")
    return Unsupported(f, absl::StrCat("hidden_act '", act, "'"));
  RETURN_IF_ERROR(f.Read("attention_bias", &c->attention_bias));
  if (c->attention_bias) return Unsupported(f, "attention_bias=true");
  RETURN_IF_ERROR(f.Read("mlp_bias", &c->mlp_bias));
  if (c->mlp_bias) return Unsupported(f, "mlp_bias=true");
  if (c->model_type == "qwen3") {
    bool use_sliding_window = false;
    RETURN_IF_ERROR(f.Read("use_sliding_window", &use_sliding_window));
    if (use_sliding_window)
      return Unsupported(f, "qwen3 use_sliding_window=true");
  } else {
    RETURN_IF_ERROR(f.Read("sliding_window", &c->sliding_window));
  }
  // transformers >= 5 writes "dtype" instead of "torch_dtype".
  for (const char* key : {"dtype", "torch_dtype"})
    RETURN_IF_ERROR(f.Read(key, &c->torch_dtype));
  if (c->torch_dtype == "float64")
    return Unsupported(f, "torch_dtype 'float64'");
  if (c->torch_dtype != "float32" && c->torch_dtype != "bfloat16" &&
      c->torch_dtype != "float16") {
    return f.Error("torch_dtype",
                   absl::StrCat("must be float32, bfloat16 or float16, got '",
                                c->torch_dtype, "'"));
  }
  return absl::OkStatus();
}

// bos: config.json's key if present (null = none), else generation_config's,
// else the model-type default. eos: union of both files' values, else the
// default.
absl::Status ReadTokenIds(const JsonFields& f, const JsonFields& gen,
                          const Pending& p, ModelConfig* c) {
  std::vector<int32_t> cfg_eos, gen_eos;
  bool cfg_has_eos = false, gen_has_eos = false;
  RETURN_IF_ERROR(f.ReadIntList("eos_token_id", &cfg_eos, &cfg_has_eos));
  RETURN_IF_ERROR(gen.ReadIntList("eos_token_id", &gen_eos, &gen_has_eos));
  std::vector<int32_t> all = p.default_eos;
  if (cfg_has_eos || gen_has_eos) {
    all = cfg_eos;
    all.insert(all.end(), gen_eos.begin(), gen_eos.end());
  }
  c->eos_token_ids.clear();
  for (int32_t id : all) {
    if (std::find(c->eos_token_ids.begin(), c->eos_token_ids.end(), id) ==
        c->eos_token_ids.end()) {
      c->eos_token_ids.push_back(id);
    }
  }
  std::optional<int> bos = p.default_bos;
  RETURN_IF_ERROR(gen.Read("bos_token_id", &bos));
  RETURN_IF_ERROR(f.Read("bos_token_id", &bos));
  c->bos_token_id = bos;
  return absl::OkStatus();
}

absl::Status Validate(const JsonFields& f, const ModelConfig& c) {
  const std::pair<const char*, int> positive[] = {
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_hidden_layers},
      {"num_attention_heads", c.num_attention_heads},
      {"num_key_value_heads", c.num_key_value_heads},
      {"head_dim", c.head_dim},
      {"vocab_size", c.vocab_size},
      {"max_position_embeddings", c.max_position_embeddings},
  };
  for (const auto& [name, value] : positive) {
    if (value <= 0)
      return f.Error(name, absl::StrCat("must be positive, got ", value));
  }
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return f.Error("num_key_value_heads",
                   absl::StrCat("(", c.num_key_value_heads,
                                ") must divide num_attention_heads (",
                                c.num_attention_heads, ")"));
  }
  if (static_cast<int64_t>(c.num_attention_heads) * c.head_dim >
      std::numeric_limits<int32_t>::max()) {
    return f.Error("head_dim", "times num_attention_heads overflows 32 bits");
  }
  if (!(c.rms_norm_eps > 0)) return f.Error("rms_norm_eps", "must be positive");
  if (c.sliding_window.has_value() && *c.sliding_window <= 0) {
    return f.Error("sliding_window", "must be positive");
  }
  // head_dim must be even, theta positive and the scaling well-formed.
  absl::StatusOr<std::vector<float>> inv =
      kernels::ComputeRopeInvFreq(c.rope_theta, c.head_dim, c.rope_scaling);
  if (!inv.ok())
    return Annotate(inv.status(), absl::StrCat(f.where(), ": invalid RoPE"));
  std::vector<int32_t> ids = c.eos_token_ids;
  if (c.bos_token_id.has_value()) ids.push_back(*c.bos_token_id);
  for (int32_t id : ids) {
    if (id < 0 || id >= c.vocab_size) {
      return f.Error(
          "bos_token_id/eos_token_id",
          absl::StrCat("holds token id ", id,
                       " outside [0, vocab_size=", c.vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> ParseImpl(std::string_view config_json,
                                      std::string_view gen_json,
                                      const std::string& config_where,
                                      const std::string& gen_where) {
  ASSIGN_OR_RETURN(json root, ParseJson(config_json, config_where));
  if (!root.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(config_where, ": top level must be an object"));
  }
  json gen_root = json::object();
  if (!gen_json.empty()) {
    ASSIGN_OR_RETURN(gen_root, ParseJson(gen_json, gen_where));
    if (!gen_root.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(gen_where, ": top level must be an object"));
    }
  }
  const JsonFields f(root, config_where);
  const JsonFields gen(gen_root, gen_where);
  ModelConfig c;
  Pending p;
  RETURN_IF_ERROR(ResolveModelType(f, &c));
  ApplyDefaults(&c, &p);
  RETURN_IF_ERROR(ReadSizes(f, &c, &p));
  RETURN_IF_ERROR(ReadRope(f, &c));
  RETURN_IF_ERROR(ReadFeatures(f, &c));
  RETURN_IF_ERROR(ReadTokenIds(f, gen, p, &c));
  RETURN_IF_ERROR(Validate(f, c));
  return c;
}

}  // namespace

absl::StatusOr<ModelConfig> ParseModelConfig(
    std::string_view config_json, std::string_view generation_config_json) {
  return ParseImpl(config_json, generation_config_json, "config.json",
                   "generation_config.json");
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& dir) {
  const std::string config_path = JoinPath(dir, "config.json");
  const std::string gen_path = JoinPath(dir, "generation_config.json");
  ASSIGN_OR_RETURN(std::string config_text, ReadFileToString(config_path));
  std::string gen_text;
  if (IsRegularFile(gen_path)) {
    ASSIGN_OR_RETURN(gen_text, ReadFileToString(gen_path));
  }
  return ParseImpl(config_text, gen_text, config_path, gen_path);
}

}  // namespace infernum::models
