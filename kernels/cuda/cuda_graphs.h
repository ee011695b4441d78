// CudaGraphCache: captures a decode step into a CUDA graph per batch-size
// bucket and replays it. CUDA-free header.
//
// Run(key, stream, step):
//  - disabled (the worker's --no-cuda-graphs): calls step().
//  - first call for `key`: calls step() eagerly (this produces the step's
//    results and lets the backend size its scratch buffers), then captures a
//    second call of step() on `stream` into a graph (capture does NOT
//    execute anything) and instantiates it. If capture fails (step returned
//    an error, or did something capture forbids) the key is marked eager and
//    the eager results stand.
//  - later calls for `key`: launches the graph; step() is not called.
//
// What the model / runner must guarantee for a key:
//  - step() enqueues only device work on `stream` and reads/writes only
//    buffers whose addresses never change for that key (fixed per-bucket
//    input buffers: token ids, positions, slot_mapping, block tables,
//    seq_lens, query_start_loc, logits; weights; the KV cache). Host inputs
//    are copied into those buffers on `stream` BEFORE Run(), outside step().
//  - the batch is padded to the bucket size with identical shapes and host
//    params every time (PagedAttentionParams.num_seqs / max_query_len /
//    max_seq_len too: pass the bucket's values, and max_seq_len = the
//    model's max context, since the split plan is baked into the graph).
//    Padding rows: slot_mapping = -1, seq_lens = 0 (their attention output
//    is zero), any block table entry.
//  - step() allocates nothing (Allocate fails with FailedPrecondition while
//    capturing), does not synchronize, and copies nothing to pageable host
//    memory. Buffers a graph uses must outlive the cache (or call Clear()).
//  - no other thread uses the backend while a capture is in progress.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "kernels/cuda/cuda_backend.h"

namespace infernum::kernels {

class CudaGraphCache {
 public:
  CudaGraphCache(CudaBackend* backend, bool enabled);
  ~CudaGraphCache();
  CudaGraphCache(const CudaGraphCache&) = delete;
  CudaGraphCache& operator=(const CudaGraphCache&) = delete;

  absl::Status Run(int64_t key, Stream* stream,
                   const std::function<absl::Status()>& step);

  bool enabled() const;
  int num_graphs() const;  // Instantiated graphs (eager-marked keys excluded).
  // Destroys every graph (call before freeing buffers they reference).
  void Clear();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace infernum::kernels
