// ProfilingBackend: a Backend decorator for benchmarks that forwards every
// call to an inner backend and adds each op's wall time to a per-op total
// (matmuls keyed by their weight shape). Only meaningful on backends that run
// ops synchronously (the CPU backend). Time is wall time, or the calling
// thread's CPU time (a shared machine's other load then matters less; use it
// with a one-thread backend). Not thread-safe.
#pragma once

#include <time.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "kernels/backend.h"

namespace infernum::models {

class ProfilingBackend : public kernels::Backend {
 public:
  // `inner` must outlive this object.
  enum class Clock { kWall, kThreadCpu };
  explicit ProfilingBackend(kernels::Backend& inner, Clock clock = Clock::kWall)
      : inner_(inner), clock_(clock) {}

  struct Entry {
    double seconds = 0;
    int64_t calls = 0;
  };
  // Op label ("Matmul 1280x768", "RmsNorm", ...) -> accumulated time.
  const std::map<std::string, Entry>& entries() const { return entries_; }
  void Reset() { entries_.clear(); }

  kernels::DeviceType device_type() const override {
    return inner_.device_type();
  }
  std::string name() const override { return inner_.name(); }
  kernels::DType activation_dtype() const override {
    return inner_.activation_dtype();
  }
  kernels::DType WeightDType(kernels::DType stored) const override {
    return inner_.WeightDType(stored);
  }
  absl::StatusOr<kernels::DeviceBuffer> Allocate(size_t bytes) override {
    return inner_.Allocate(bytes);
  }
  kernels::Stream* default_stream() override { return inner_.default_stream(); }
  absl::StatusOr<std::unique_ptr<kernels::Stream>> CreateStream() override {
    return inner_.CreateStream();
  }
  absl::Status Synchronize(kernels::Stream* s) override {
    return inner_.Synchronize(s);
  }
  absl::StatusOr<size_t> FreeMemory() override { return inner_.FreeMemory(); }
  absl::Status CopyToDevice(void* d, const void* s, size_t n,
                            kernels::Stream* st) override {
    return Time("Copy", [&] { return inner_.CopyToDevice(d, s, n, st); });
  }
  absl::Status CopyToHost(void* d, const void* s, size_t n,
                          kernels::Stream* st) override {
    return Time("Copy", [&] { return inner_.CopyToHost(d, s, n, st); });
  }
  absl::Status CopyOnDevice(void* d, const void* s, size_t n,
                            kernels::Stream* st) override {
    return Time("Copy", [&] { return inner_.CopyOnDevice(d, s, n, st); });
  }
  absl::Status Memset(void* d, int v, size_t n, kernels::Stream* st) override {
    return Time("Memset", [&] { return inner_.Memset(d, v, n, st); });
  }

#define INFERNUM_PROFILED_OP(Op)                                               \
  absl::Status Op(const kernels::Op##Params& p, kernels::Stream* s) override { \
    return Time(#Op, [&] { return inner_.Op(p, s); });                         \
  }
  INFERNUM_PROFILED_OP(Embedding)
  INFERNUM_PROFILED_OP(RmsNorm)
  INFERNUM_PROFILED_OP(Rope)
  INFERNUM_PROFILED_OP(SiluMul)
  INFERNUM_PROFILED_OP(Add)
  INFERNUM_PROFILED_OP(WriteKvCache)
  INFERNUM_PROFILED_OP(PagedAttention)
  INFERNUM_PROFILED_OP(Argmax)
  INFERNUM_PROFILED_OP(Softmax)
  INFERNUM_PROFILED_OP(Cast)
#undef INFERNUM_PROFILED_OP

  absl::Status Matmul(const kernels::MatmulParams& p,
                      kernels::Stream* s) override {
    const std::string label = "Matmul " + std::to_string(p.w.dim(0)) + "x" +
                              std::to_string(p.w.dim(1));
    return Time(label, [&] { return inner_.Matmul(p, s); });
  }
  absl::Status SplitMatmul(const kernels::SplitMatmulParams& p,
                           kernels::Stream* s) override {
    const std::string label = "SplitMatmul " + std::to_string(p.w.dim(0)) +
                              "x" + std::to_string(p.w.dim(1));
    return Time(label, [&] { return inner_.SplitMatmul(p, s); });
  }

 private:
  template <class Fn>
  absl::Status Time(const std::string& label, Fn fn) {
    const double t0 = Now();
    absl::Status status = fn();
    Entry& e = entries_[label];
    e.seconds += Now() - t0;
    ++e.calls;
    return status;
  }

  double Now() const {
    if (clock_ == Clock::kThreadCpu) {
      timespec ts;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return ts.tv_sec + 1e-9 * ts.tv_nsec;
    }
    return std::chrono::duration<double>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  kernels::Backend& inner_;
  const Clock clock_;
  std::map<std::string, Entry> entries_;
};

}  // namespace infernum::models
