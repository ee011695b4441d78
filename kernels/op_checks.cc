#include "kernels/op_checks.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"

namespace infernum::kernels {
namespace {

absl::Status Error(std::string_view op, std::string_view name,
                   std::string_view what, const Tensor& t) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(op), ": ", std::string(name), " ",
                   std::string(what), ", got ", t.DebugString()));
}

}  // namespace

absl::Status CheckTensor(std::string_view op, std::string_view name,
                         const Tensor& t, int ndim,
                         std::initializer_list<DType> dtypes) {
  if (!t.defined()) return Error(op, name, "is required", t);
  if (t.ndim != ndim)
    return Error(op, name, absl::StrCat("must have ", ndim, " dims"), t);
  for (int i = 0; i < t.ndim; ++i) {
    if (t.shape[i] < 0) return Error(op, name, "has a negative dim", t);
  }
  if (std::find(dtypes.begin(), dtypes.end(), t.dtype) == dtypes.end()) {
    std::string names;
    for (DType d : dtypes)
      absl::StrAppend(&names, names.empty() ? "" : "/", DTypeName(d));
    return Error(op, name, absl::StrCat("must be ", names), t);
  }
  return absl::OkStatus();
}

absl::Status CheckDim(std::string_view op, std::string_view name,
                      const Tensor& t, int i, int64_t expected) {
  if (t.dim(i) != expected)
    return Error(op, name, absl::StrCat("dim ", i, " must be ", expected), t);
  return absl::OkStatus();
}

absl::Status CheckSameShape(std::string_view op, std::string_view a_name,
                            const Tensor& a, std::string_view b_name,
                            const Tensor& b) {
  bool same = a.ndim == b.ndim;
  for (int i = 0; same && i < a.ndim; ++i) same = a.shape[i] == b.shape[i];
  if (!same) {
    return Error(op, b_name,
                 absl::StrCat("must have the shape of ", std::string(a_name),
                              " ", a.DebugString()),
                 b);
  }
  return absl::OkStatus();
}

absl::Status CheckNoAlias(std::string_view op, std::string_view a_name,
                          const Tensor& a, std::string_view b_name,
                          const Tensor& b) {
  const auto* a0 = static_cast<const char*>(a.data);
  const auto* b0 = static_cast<const char*>(b.data);
  if (a.nbytes() == 0 || b.nbytes() == 0) return absl::OkStatus();
  if (a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes()) {
    return Error(op, b_name,
                 absl::StrCat("must not overlap ", std::string(a_name)), b);
  }
  return absl::OkStatus();
}

absl::Status CheckAligned(std::string_view op, std::string_view name,
                          const Tensor& t, size_t alignment) {
  if (reinterpret_cast<uintptr_t>(t.data) % alignment != 0) {
    return Error(op, name, absl::StrCat("must be ", alignment, "-byte aligned"),
                 t);
  }
  return absl::OkStatus();
}

}  // namespace infernum::kernels
