// Read-only file access for checkpoint loading: an RAII memory map and a
// whole-file read for small text files (config.json and friends).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace infernum::models {

// A read-only, private memory map of a whole file. The mapping lives exactly
// as long as the object; pointers into data() dangle after destruction.
class MappedFile {
 public:
  // Maps `path` read-only. NotFound / PermissionDenied / InvalidArgument (not
  // a regular file) / Internal (mmap failure). An empty file maps to
  // data() == nullptr, size() == 0.
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(
      const std::string& path);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}

  std::string path_;
  const uint8_t* data_;
  size_t size_;
};

// Reads a whole file into a string. NotFound when it does not exist; other
// I/O failures map from errno.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// True when `path` names an existing regular file (following symlinks).
bool IsRegularFile(const std::string& path);

// "dir/name", without doubling a trailing slash of `dir`.
std::string JoinPath(const std::string& dir, const std::string& name);

}  // namespace infernum::models
