#include "router/server/worker_client.h"

#include <grpcpp/grpcpp.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/error_codes.h"

namespace infernum::router {
namespace {

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxModelInfoBytes);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

}  // namespace

WorkerClient::InFlightGuard::InFlightGuard(
    std::shared_ptr<std::atomic<int>> counter)
    : counter_(std::move(counter)) {
  if (counter_ != nullptr) counter_->fetch_add(1);
}

WorkerClient::InFlightGuard& WorkerClient::InFlightGuard::operator=(
    InFlightGuard&& other) noexcept {
  if (this != &other) {
    Release();
    counter_ = std::move(other.counter_);
  }
  return *this;
}

void WorkerClient::InFlightGuard::Release() {
  if (counter_ != nullptr) counter_->fetch_sub(1);
  counter_.reset();
}

WorkerClient::WorkerClient(std::string address)
    : address_(std::move(address)),
      channel_(MakeChannel(address_)),
      worker_stub_(v1::Worker::NewStub(channel_)),
      health_stub_(grpc::health::v1::Health::NewStub(channel_)) {}

absl::Status WorkerClient::CheckHealth(absl::Duration timeout) const {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  const grpc::Status st = health_stub_->Check(&ctx, req, &resp);
  if (!st.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "worker ", address_, " health check failed: ", st.error_message()));
  }
  if (resp.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::UnavailableError(
        absl::StrCat("worker ", address_, " is not serving"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ModelInfo> WorkerClient::GetModelInfo(
    absl::Duration timeout) const {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  v1::ModelInfo info;
  const grpc::Status st =
      worker_stub_->GetModelInfo(&ctx, v1::GetModelInfoRequest(), &info);
  if (!st.ok()) {
    const absl::Status s = FromGrpcStatus(st);
    return absl::Status(s.code(), absl::StrCat("GetModelInfo on ", address_,
                                               ": ", s.message()));
  }
  return info;
}

absl::StatusOr<v1::LoadReport> WorkerClient::GetLoad(
    absl::Duration timeout) const {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  v1::LoadReport report;
  const grpc::Status st =
      worker_stub_->GetLoad(&ctx, v1::GetLoadRequest(), &report);
  if (!st.ok()) {
    const absl::Status s = FromGrpcStatus(st);
    return absl::Status(
        s.code(), absl::StrCat("GetLoad on ", address_, ": ", s.message()));
  }
  return report;
}

}  // namespace infernum::router
