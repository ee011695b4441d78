#include "kernels/op_checks.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status.h"

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

absl::Status CheckSplitMatmul(const SplitMatmulParams& p) {
  constexpr std::string_view kOp = "SplitMatmul";
  if (p.num_outs < 1 || p.num_outs > SplitMatmulParams::kMaxOuts) {
    return absl::InvalidArgumentError(
        absl::StrCat("SplitMatmul: num_outs must be in [1, ",
                     SplitMatmulParams::kMaxOuts, "], got ", p.num_outs));
  }
  if (p.x.ndim != 2 || p.w.ndim != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("SplitMatmul: x and w must be 2-D, got ",
                     p.x.DebugString(), " and ", p.w.DebugString()));
  }
  RETURN_IF_ERROR(CheckDim(kOp, "w", p.w, 1, p.x.dim(1)));
  int64_t rows = 0;
  for (int i = 0; i < p.num_outs; ++i) {
    const std::string name = absl::StrCat("outs[", i, "]");
    if (p.outs[i].ndim != 2) {
      return absl::InvalidArgumentError(absl::StrCat("SplitMatmul: ", name,
                                                     " must be 2-D, got ",
                                                     p.outs[i].DebugString()));
    }
    RETURN_IF_ERROR(CheckDim(kOp, name, p.outs[i], 0, p.x.dim(0)));
    rows += p.outs[i].dim(1);
  }
  if (rows != p.w.dim(0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("SplitMatmul: the outputs have ", rows,
                     " columns in all, w has ", p.w.dim(0), " rows"));
  }
  return absl::OkStatus();
}

}  // namespace infernum::kernels
