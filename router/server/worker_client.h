// Client side of one infernum-worker (one gRPC endpoint, host:port).
//
// Owns the channel (max receive size raised to 256 MiB for GetModelInfo's
// tokenizer.json; short reconnect backoff so a restarted worker is seen
// quickly) and the Worker / Health stubs. Thread-safe: every method may be
// called from any thread; gRPC stubs are thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "proto/infernum/v1/worker.grpc.pb.h"

namespace infernum::router {

inline constexpr int kMaxModelInfoBytes = 256 << 20;

class WorkerClient {
 public:
  // Does not connect yet (gRPC channels connect lazily).
  explicit WorkerClient(std::string address);

  WorkerClient(const WorkerClient&) = delete;
  WorkerClient& operator=(const WorkerClient&) = delete;

  const std::string& address() const { return address_; }

  // grpc.health.v1 Check for the whole server (service ""). OK when the
  // worker answers SERVING; Unavailable otherwise (unreachable, NOT_SERVING,
  // deadline).
  absl::Status CheckHealth(absl::Duration timeout) const;

  // Fetches the model description (tokenizer files included).
  absl::StatusOr<v1::ModelInfo> GetModelInfo(absl::Duration timeout) const;

  // The worker's current load (GetLoad). Errors as for GetModelInfo
  // (Unimplemented from workers that predate it).
  absl::StatusOr<v1::LoadReport> GetLoad(absl::Duration timeout) const;

  // For starting Generate streams with the callback API.
  v1::Worker::Stub* stub() const { return worker_stub_.get(); }

  // Generate streams currently open on this worker (for routing policies).
  int num_in_flight() const { return in_flight_->load(); }

  // RAII in-flight count: +1 while alive. Movable; safe to outlive the
  // WorkerClient.
  class InFlightGuard {
   public:
    InFlightGuard() = default;
    explicit InFlightGuard(std::shared_ptr<std::atomic<int>> counter);
    InFlightGuard(InFlightGuard&& other) noexcept = default;
    InFlightGuard& operator=(InFlightGuard&& other) noexcept;
    ~InFlightGuard() { Release(); }
    void Release();

   private:
    std::shared_ptr<std::atomic<int>> counter_;
  };
  InFlightGuard TrackInFlight() const { return InFlightGuard(in_flight_); }

 private:
  std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Worker::Stub> worker_stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_stub_;
  std::shared_ptr<std::atomic<int>> in_flight_ =
      std::make_shared<std::atomic<int>>(0);
};

}  // namespace infernum::router
