// Zero-copy safetensors loading: SafetensorsFile maps one file and indexes
// its tensors; WeightSource presents a checkpoint directory (one
// model.safetensors, or shards listed by model.safetensors.index.json) as a
// single name -> tensor map.
//
// Format: u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
//  "__metadata__": {str: str}}, then the data section; offsets are relative
// to the start of the data section. Open() validates every entry (dtype
// string, shape, offsets inside the data section, byte size == numel * dtype
// size), so a corrupt or truncated file is an error, never an out-of-bounds
// read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/dtype.h"
#include "models/io/mapped_file.h"

namespace infernum::models {

struct TensorInfo {
  std::string name;
  std::string dtype_name;        // As in the header: "F32", "BF16", "I64", ...
  bool dtype_supported = false;  // dtype_name is F32, BF16, F16 or I32.
  kernels::DType dtype =
      kernels::DType::kF32;    // Meaningful only if dtype_supported.
  std::vector<int64_t> shape;  // Row-major; [] is a scalar.
  int64_t numel = 0;
  // Points into the file mapping; valid while the owning SafetensorsFile (or
  // WeightSource) lives. NOT necessarily aligned to the element size (the
  // format does not require it): copy with memcpy.
  const void* data = nullptr;
  size_t nbytes = 0;
};

// "[64, 172]".
std::string ShapeToString(const std::vector<int64_t>& shape);

class SafetensorsFile {
 public:
  // Maps and validates `path`. InvalidArgument (naming the file, and the
  // tensor where one is at fault) for any malformed content; NotFound etc.
  // from the file system. Unknown dtype strings are rejected here; known but
  // unsupported ones (I64, F64, F8_*, ...) are accepted with
  // dtype_supported == false.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(
      const std::string& path);

  // The tensor named `name`, or nullptr.
  const TensorInfo* Find(std::string_view name) const;
  // All tensors, sorted by name.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // The "__metadata__" string map (empty if absent).
  const std::map<std::string, std::string>& metadata() const {
    return metadata_;
  }
  const std::string& path() const { return file_->path(); }

 private:
  SafetensorsFile() = default;
  absl::Status Parse();

  std::unique_ptr<MappedFile> file_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

class WeightSource {
 public:
  // `path` is a checkpoint directory holding model.safetensors.index.json
  // (sharded; preferred when present) or model.safetensors, or a path to a
  // single .safetensors file. Every shard named by the index must exist and
  // hold the tensors the index assigns to it. Tensors in a shard but not in
  // the index are ignored (as transformers does).
  static absl::StatusOr<std::unique_ptr<WeightSource>> Open(
      const std::string& path);

  // NotFound naming the tensor when absent; InvalidArgument when its dtype is
  // not one Infernum supports (F32, BF16, F16, I32).
  absl::StatusOr<const TensorInfo*> Get(std::string_view name) const;
  // Get(), plus: dtype is F32, BF16 or F16 and the shape equals `shape`
  // exactly; InvalidArgument naming the tensor, expected and actual shape.
  absl::StatusOr<const TensorInfo*> GetChecked(
      std::string_view name, std::initializer_list<int64_t> shape) const;
  absl::StatusOr<const TensorInfo*> GetChecked(
      std::string_view name, const std::vector<int64_t>& shape) const;
  bool Contains(std::string_view name) const {
    return tensors_.count(name) != 0;
  }
  // Every tensor name, sorted.
  std::vector<std::string> names() const;
  size_t num_files() const { return files_.size(); }
  // The path Open() was given.
  const std::string& path() const { return path_; }

 private:
  WeightSource() = default;
  void AddAll(const SafetensorsFile& file);
  absl::Status OpenSharded(const std::string& dir,
                           const std::string& index_path);

  std::string path_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorInfo*, std::less<>> tensors_;
};

}  // namespace infernum::models
