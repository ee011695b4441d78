#include "kernels/cuda/cuda_graphs.h"

#include <cuda_runtime_api.h>

#include <map>

#include "common/logging.h"
#include "common/status.h"
#include "kernels/cuda/cuda_backend_impl.h"
#include "kernels/cuda/cuda_status.h"

namespace infernum::kernels {

struct CudaGraphCache::Impl {
  cuda::CudaBackendImpl* backend;
  bool enabled;
  // key -> instantiated graph; nullptr marks a key that could not be captured.
  std::map<int64_t, cudaGraphExec_t> graphs;

  // Captures step() on `stream` into a graph; the caller already ran it once.
  absl::StatusOr<cudaGraphExec_t> Capture(
      cudaStream_t stream, const std::function<absl::Status()>& step) {
    RETURN_IF_CUDA_ERROR(
        cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal),
        "cudaStreamBeginCapture");
    backend->set_capturing(true);
    const absl::Status step_status = step();
    backend->set_capturing(false);
    cudaGraph_t graph = nullptr;
    const cudaError_t end = cudaStreamEndCapture(stream, &graph);
    if (!step_status.ok() || end != cudaSuccess) {
      if (graph != nullptr) cudaGraphDestroy(graph);
      cudaGetLastError();
      return !step_status.ok() ? step_status
                               : cuda::CudaStatus(end, "cudaStreamEndCapture");
    }
    cudaGraphExec_t exec = nullptr;
    const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    RETURN_IF_CUDA_ERROR(inst, "cudaGraphInstantiate");
    return exec;
  }
};

CudaGraphCache::CudaGraphCache(CudaBackend* backend, bool enabled)
    : impl_(std::make_unique<Impl>()) {
  impl_->backend = static_cast<cuda::CudaBackendImpl*>(backend);
  impl_->enabled = enabled && backend != nullptr;
}

CudaGraphCache::~CudaGraphCache() { Clear(); }

bool CudaGraphCache::enabled() const { return impl_->enabled; }

int CudaGraphCache::num_graphs() const {
  int n = 0;
  for (const auto& [key, exec] : impl_->graphs) n += exec != nullptr;
  return n;
}

void CudaGraphCache::Clear() {
  for (auto& [key, exec] : impl_->graphs) {
    if (exec != nullptr) cudaGraphExecDestroy(exec);
  }
  impl_->graphs.clear();
}

absl::Status CudaGraphCache::Run(int64_t key, Stream* stream,
                                 const std::function<absl::Status()>& step) {
  if (!impl_->enabled) return step();
  const cudaStream_t s = impl_->backend->native(stream);
  auto it = impl_->graphs.find(key);
  if (it != impl_->graphs.end()) {
    if (it->second == nullptr) return step();  // Not capturable: eager.
    RETURN_IF_CUDA_ERROR(cudaGraphLaunch(it->second, s), "cudaGraphLaunch");
    return absl::OkStatus();
  }
  // First use of the key: the eager run produces this step's results and
  // sizes the backend's scratch; the capture records the same work.
  RETURN_IF_ERROR(step());
  auto exec = impl_->Capture(s, step);
  if (!exec.ok()) {
    LOG(WARNING) << "CUDA graph capture for key " << key
                 << " failed; running it eagerly from now on: "
                 << exec.status();
    impl_->graphs[key] = nullptr;
    return absl::OkStatus();
  }
  impl_->graphs[key] = *exec;
  return absl::OkStatus();
}

}  // namespace infernum::kernels
