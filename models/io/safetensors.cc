#include "models/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "models/io/json_fields.h"

namespace infernum::models {
namespace {

using nlohmann::json;

// Headers above this size are rejected (the reference implementation uses
// the same 100 MB cap) rather than parsed.
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

struct DTypeEntry {
  const char* name;
  int bits;
  bool supported;
  kernels::DType dtype;
};
constexpr DTypeEntry kDTypes[] = {
    {"F32", 32, true, kernels::DType::kF32},
    {"BF16", 16, true, kernels::DType::kBF16},
    {"F16", 16, true, kernels::DType::kF16},
    {"I32", 32, true, kernels::DType::kI32},
    {"F64", 64, false, kernels::DType::kF32},
    {"I64", 64, false, kernels::DType::kF32},
    {"U64", 64, false, kernels::DType::kF32},
    {"U32", 32, false, kernels::DType::kF32},
    {"I16", 16, false, kernels::DType::kF32},
    {"U16", 16, false, kernels::DType::kF32},
    {"I8", 8, false, kernels::DType::kF32},
    {"U8", 8, false, kernels::DType::kF32},
    {"BOOL", 8, false, kernels::DType::kF32},
    {"F8_E5M2", 8, false, kernels::DType::kF32},
    {"F8_E4M3", 8, false, kernels::DType::kF32},
    {"F8_E8M0", 8, false, kernels::DType::kF32},
    {"C64", 64, false, kernels::DType::kF32},
    {"F6_E2M3", 6, false, kernels::DType::kF32},
    {"F6_E3M2", 6, false, kernels::DType::kF32},
    {"F4", 4, false, kernels::DType::kF32},
};

const DTypeEntry* FindDType(const std::string& name) {
  for (const DTypeEntry& e : kDTypes) {
    if (name == e.name) return &e;
  }
  return nullptr;
}

// Reads a JSON array of non-negative integers; `what` names it in errors.
absl::Status ReadU64Array(const json& v, std::string_view what,
                          const std::string& ctx, std::vector<uint64_t>* out) {
  if (!v.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx, ": '", ToAbsl(what),
                     "' must be a list of integers, got ", DescribeJson(v)));
  }
  for (const json& e : v) {
    if (!e.is_number_unsigned()) {
      return absl::InvalidArgumentError(absl::StrCat(
          ctx, ": '", ToAbsl(what), "' must hold non-negative integers, got ",
          DescribeJson(v)));
    }
    out->push_back(e.get<uint64_t>());
  }
  return absl::OkStatus();
}

// The data section of a safetensors file (after the header).
struct DataSection {
  const uint8_t* data;
  uint64_t size;
};

// Fills t->shape, numel, data and nbytes from the entry's "shape" and
// "data_offsets", checking the range lies inside `section` and holds exactly
// numel elements of `bits` bits.
absl::Status SetExtent(const std::string& ctx, const json& v, int bits,
                       const DataSection& section, TensorInfo* t) {
  const auto shape_it = v.find("shape");
  const auto offsets_it = v.find("data_offsets");
  if (shape_it == v.end() || offsets_it == v.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx, ": missing 'shape' or 'data_offsets'"));
  }
  std::vector<uint64_t> dims, offsets;
  RETURN_IF_ERROR(ReadU64Array(*shape_it, "shape", ctx, &dims));
  RETURN_IF_ERROR(ReadU64Array(*offsets_it, "data_offsets", ctx, &offsets));
  // numel * bits must fit comfortably in 63 bits.
  const uint64_t kLimit = (uint64_t{1} << 62) / 64;
  uint64_t numel = 1;
  for (uint64_t d : dims) {
    if (d > kLimit || (d != 0 && numel > kLimit / d)) {
      return absl::InvalidArgumentError(
          absl::StrCat(ctx, ": shape is too large"));
    }
    numel *= d;
    t->shape.push_back(static_cast<int64_t>(d));
  }
  t->numel = static_cast<int64_t>(numel);
  if (offsets.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        ctx, ": 'data_offsets' must have 2 entries, has ", offsets.size()));
  }
  const uint64_t begin = offsets[0], end = offsets[1];
  if (begin > end || end > section.size) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx, ": data_offsets [", begin, ", ", end,
                     "] are not a range inside the data section of ",
                     section.size, " bytes (file truncated?)"));
  }
  const uint64_t total_bits = numel * static_cast<uint64_t>(bits);
  if (total_bits % 8 != 0 || end - begin != total_bits / 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        ctx, ": holds ", end - begin, " bytes but shape ",
        ShapeToString(t->shape), " of ", t->dtype_name, " needs ",
        total_bits / 8, total_bits % 8 != 0 ? " and a fraction" : ""));
  }
  t->data = section.data + begin;
  t->nbytes = static_cast<size_t>(end - begin);
  return absl::OkStatus();
}

// Validates one header entry named `name`.
absl::StatusOr<TensorInfo> ParseEntry(const std::string& name, const json& v,
                                      const DataSection& section,
                                      const std::string& path) {
  if (name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": empty tensor name"));
  }
  const std::string ctx = absl::StrCat(path, ": tensor '", name, "'");
  if (!v.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx, ": entry must be an object, got ", DescribeJson(v)));
  }
  const auto dtype_it = v.find("dtype");
  if (dtype_it == v.end() || !dtype_it->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx, ": missing or non-string 'dtype'"));
  }
  TensorInfo t;
  t.name = name;
  t.dtype_name = dtype_it->get<std::string>();
  const DTypeEntry* dt = FindDType(t.dtype_name);
  if (dt == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx, ": unknown dtype '", t.dtype_name, "'"));
  }
  t.dtype_supported = dt->supported;
  t.dtype = dt->dtype;
  RETURN_IF_ERROR(SetExtent(ctx, v, dt->bits, section, &t));
  return t;
}

absl::Status ParseMetadata(const json& v, const std::string& path,
                           std::map<std::string, std::string>* out) {
  if (!v.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": '__metadata__' must be an object, got ", DescribeJson(v)));
  }
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": '__metadata__' value of '", key,
                       "' must be a string, got ", DescribeJson(value)));
    }
    (*out)[key] = value.get<std::string>();
  }
  return absl::OkStatus();
}

// A shard file name from the index must stay inside the checkpoint directory.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

}  // namespace

std::string ShapeToString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(
    const std::string& path) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  ASSIGN_OR_RETURN(f->file_, MappedFile::Open(path));
  RETURN_IF_ERROR(f->Parse());
  return f;
}

absl::Status SafetensorsFile::Parse() {
  const std::string& p = file_->path();
  const uint8_t* bytes = file_->data();
  const uint64_t size = file_->size();
  if (size < 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        p, ": file is ", size,
        " bytes, too short for the 8-byte header length (truncated?)"));
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > size - 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        p, ": header length ", header_len, " exceeds the ", size - 8,
        " bytes after it (truncated or not a "
        "safetensors file?)"));
  }
  if (header_len > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        p, ": header length ", header_len, " exceeds the 100 MiB limit"));
  }
  const std::string_view header(reinterpret_cast<const char*>(bytes + 8),
                                header_len);
  ASSIGN_OR_RETURN(json root, ParseJson(header, absl::StrCat(p, ": header")));
  if (!root.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(p, ": header must be a JSON object"));
  }
  const DataSection section{bytes + 8 + header_len, size - 8 - header_len};
  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      RETURN_IF_ERROR(ParseMetadata(value, p, &metadata_));
      continue;
    }
    ASSIGN_OR_RETURN(TensorInfo t, ParseEntry(key, value, section, p));
    tensors_.push_back(std::move(t));
  }
  std::sort(
      tensors_.begin(), tensors_.end(),
      [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
  for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
  return absl::OkStatus();
}

const TensorInfo* SafetensorsFile::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

absl::StatusOr<std::unique_ptr<WeightSource>> WeightSource::Open(
    const std::string& path) {
  std::unique_ptr<WeightSource> src(new WeightSource());
  src->path_ = path;
  std::string single = path;
  if (!IsRegularFile(path)) {
    const std::string index = JoinPath(path, "model.safetensors.index.json");
    if (IsRegularFile(index)) {
      RETURN_IF_ERROR(src->OpenSharded(path, index));
      return src;
    }
    single = JoinPath(path, "model.safetensors");
    if (!IsRegularFile(single)) {
      return absl::NotFoundError(absl::StrCat(
          "no model.safetensors or model.safetensors.index.json in ", path));
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file,
                   SafetensorsFile::Open(single));
  src->AddAll(*file);
  src->files_.push_back(std::move(file));
  return src;
}

void WeightSource::AddAll(const SafetensorsFile& file) {
  for (const TensorInfo& t : file.tensors()) tensors_[t.name] = &t;
}

absl::Status WeightSource::OpenSharded(const std::string& dir,
                                       const std::string& index_path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(index_path));
  ASSIGN_OR_RETURN(json root, ParseJson(text, index_path));
  const auto map_it = root.is_object() ? root.find("weight_map") : root.end();
  if (map_it == root.end() || !map_it->is_object() || map_it->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(index_path, ": 'weight_map' must be a non-empty object"));
  }
  std::map<std::string, std::vector<std::string>> by_shard;
  for (const auto& [name, shard] : map_it->items()) {
    if (!shard.is_string() || !IsPlainFileName(shard.get<std::string>())) {
      return absl::InvalidArgumentError(absl::StrCat(
          index_path, ": tensor '", name, "' maps to ", DescribeJson(shard),
          ", not a file name in the directory"));
    }
    by_shard[shard.get<std::string>()].push_back(name);
  }
  for (const auto& [shard, names] : by_shard) {
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file =
        SafetensorsFile::Open(JoinPath(dir, shard));
    if (!file.ok()) {
      return Annotate(file.status(),
                      absl::StrCat(index_path, " lists shard '", shard,
                                   "' (for tensor '", names.front(), "')"));
    }
    for (const std::string& name : names) {
      const TensorInfo* t = (*file)->Find(name);
      if (t == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(index_path, " assigns tensor '", name, "' to shard '",
                         shard, "', which does not contain it"));
      }
      tensors_[name] = t;
    }
    files_.push_back(*std::move(file));
  }
  return absl::OkStatus();
}

absl::StatusOr<const TensorInfo*> WeightSource::Get(
    std::string_view name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    return absl::NotFoundError(
        absl::StrCat("tensor '", ToAbsl(name), "' not found in ", path_));
  }
  const TensorInfo* t = it->second;
  if (!t->dtype_supported) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", ToAbsl(name), "' has dtype ", t->dtype_name,
                     ", which Infernum does not support "
                     "(supported: F32, BF16, F16, I32)"));
  }
  return t;
}

absl::StatusOr<const TensorInfo*> WeightSource::GetChecked(
    std::string_view name, std::initializer_list<int64_t> shape) const {
  return GetChecked(name, std::vector<int64_t>(shape));
}

absl::StatusOr<const TensorInfo*> WeightSource::GetChecked(
    std::string_view name, const std::vector<int64_t>& shape) const {
  ASSIGN_OR_RETURN(const TensorInfo* t, Get(name));
  if (t->dtype == kernels::DType::kI32) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", ToAbsl(name), "' has dtype ", t->dtype_name,
                     "; weights must be F32, BF16 or F16"));
  }
  if (t->shape != shape) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", ToAbsl(name), "' has shape ", ShapeToString(t->shape),
        ", expected ", ShapeToString(shape)));
  }
  return t;
}

std::vector<std::string> WeightSource::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& [name, t] : tensors_) out.push_back(name);
  return out;
}

}  // namespace infernum::models
