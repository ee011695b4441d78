// Conversion between absl::Status and grpc::Status, shared by the router (gRPC
// client) and the workers (gRPC server). Both use the canonical code space of
// google.rpc.Code, so the mapping is one-to-one for all 17 codes; any value
// outside that space (a corrupt or future code) maps to UNKNOWN.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace infernum {

// Maps an absl code to the gRPC code of the same name.
grpc::StatusCode ToGrpcCode(absl::StatusCode code);

// Maps a gRPC code to the absl code of the same name.
absl::StatusCode FromGrpcCode(grpc::StatusCode code);

// Converts code and message (payloads are not carried over gRPC).
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace infernum
