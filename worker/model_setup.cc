#include "worker/model_setup.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "models/io/safetensors.h"

namespace infernum::worker {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<models::ModelConfig> LoadConfig(const ModelSetupOptions& o) {
  if (!o.config_path.empty()) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(o.config_path));
    auto config = models::ParseModelConfig(text, "");
    if (!config.ok()) return Annotate(config.status(), o.config_path);
    return config;
  }
  return models::LoadModelConfig(o.model_dir);
}

}  // namespace

absl::StatusOr<kernels::DType> ParseWeightDType(const std::string& name) {
  if (name == "f32" || name == "float32") return kernels::DType::kF32;
  if (name == "bf16" || name == "bfloat16") return kernels::DType::kBF16;
  if (name == "f16" || name == "float16") return kernels::DType::kF16;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown dtype '", name, "' (expected f32, bf16 or f16)"));
}

absl::StatusOr<LoadedModel> SetupModel(const ModelSetupOptions& o) {
  namespace fs = std::filesystem;
  const bool dummy = o.load_format == "dummy";
  if (o.load_format != "auto" && !dummy) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown --load-format '", o.load_format,
                     "' (expected auto or dummy)"));
  }
  if (o.model_dir.empty() == o.config_path.empty()) {
    return absl::InvalidArgumentError(
        "give exactly one of --model DIR or --config FILE");
  }
  if (!o.config_path.empty() && !dummy) {
    return absl::InvalidArgumentError(
        "--config needs --load-format dummy (it has no weights)");
  }
  std::error_code ec;
  if (!o.model_dir.empty() && !fs::is_directory(o.model_dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat("model directory not found: ", o.model_dir));
  }
  LoadedModel out;
  out.model_id = o.model_dir.empty() ? o.config_path : o.model_dir;
  ASSIGN_OR_RETURN(out.config, LoadConfig(o));
  ASSIGN_OR_RETURN(out.backend, kernels::CreateBackend(o.backend));
  if (dummy) {
    ASSIGN_OR_RETURN(kernels::DType dtype, ParseWeightDType(o.dummy_dtype));
    ASSIGN_OR_RETURN(out.model,
                     models::LlamaModel::LoadDummy(out.config, dtype,
                                                   o.dummy_seed, *out.backend));
  } else {
    ASSIGN_OR_RETURN(auto source, models::WeightSource::Open(o.model_dir));
    ASSIGN_OR_RETURN(
        out.model, models::LlamaModel::Load(out.config, *source, *out.backend));
  }
  const bool has_tokenizer =
      !o.model_dir.empty() &&
      fs::exists(fs::path(o.model_dir) / "tokenizer.json", ec);
  if (has_tokenizer) {
    ASSIGN_OR_RETURN(out.tokenizer,
                     models::Tokenizer::FromDirectory(o.model_dir));
  } else if (o.need_tokenizer) {
    return absl::NotFoundError(
        absl::StrCat("no tokenizer.json in ", out.model_id));
  }
  return out;
}

std::vector<int32_t> DefaultStopTokenIds(const LoadedModel& loaded) {
  std::vector<int32_t> ids = loaded.config.eos_token_ids;
  if (loaded.tokenizer && loaded.tokenizer->eos_token_id()) {
    ids.push_back(*loaded.tokenizer->eos_token_id());
  }
  std::optional<int32_t> bos = loaded.config.bos_token_id;
  if (!bos && loaded.tokenizer) bos = loaded.tokenizer->bos_token_id();
  if (bos) ids.push_back(*bos);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace infernum::worker
