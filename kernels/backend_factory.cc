// CreateBackend (backend.h): maps BackendOptions::name to an implementation.
#include "absl/strings/str_cat.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cuda/cuda_backend.h"

namespace infernum::kernels {

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(
    const BackendOptions& options) {
  if (options.name == "cpu") {
    if (options.num_threads < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("num_threads must be >= 0, got ", options.num_threads));
    }
    CpuBackendOptions cpu;
    cpu.num_threads = options.num_threads;
    if (!ParseCpuMatmulPrecision(options.cpu_matmul_precision,
                                 &cpu.matmul_precision)) {
      return absl::InvalidArgumentError(
          absl::StrCat("cpu_matmul_precision must be f32 or bf16, got '",
                       options.cpu_matmul_precision, "'"));
    }
    return CreateCpuBackend(cpu);
  }
  if (options.name == "cuda") return CreateCudaBackend(options);
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown backend '", options.name, "' (expected cpu or cuda)"));
}

}  // namespace infernum::kernels
