#include "common/error_codes.h"

#include <gtest/gtest.h>

#include <string>

namespace infernum {
namespace {

// Canonical numbers from gRPC's doc/statuscodes.md (the reference), indexed by
// the names both libraries use.
struct Canonical {
  int number;
  const char* name;  // absl::StatusCodeToString spelling.
};
constexpr Canonical kSpec[] = {
    {0, "OK"},
    {1, "CANCELLED"},
    {2, "UNKNOWN"},
    {3, "INVALID_ARGUMENT"},
    {4, "DEADLINE_EXCEEDED"},
    {5, "NOT_FOUND"},
    {6, "ALREADY_EXISTS"},
    {7, "PERMISSION_DENIED"},
    {8, "RESOURCE_EXHAUSTED"},
    {9, "FAILED_PRECONDITION"},
    {10, "ABORTED"},
    {11, "OUT_OF_RANGE"},
    {12, "UNIMPLEMENTED"},
    {13, "INTERNAL"},
    {14, "UNAVAILABLE"},
    {15, "DATA_LOSS"},
    {16, "UNAUTHENTICATED"},
};

TEST(ErrorCodesTest, EveryCanonicalCodeMapsByNameAndNumber) {
  for (const Canonical& c : kSpec) {
    const auto absl_code = static_cast<absl::StatusCode>(c.number);
    ASSERT_EQ(absl::StatusCodeToString(absl_code), c.name);
    const grpc::StatusCode g = ToGrpcCode(absl_code);
    EXPECT_EQ(static_cast<int>(g), c.number) << c.name;
    EXPECT_EQ(FromGrpcCode(g), absl_code) << c.name;
  }
}

TEST(ErrorCodesTest, OutOfSpaceValuesBecomeUnknown) {
  EXPECT_EQ(ToGrpcCode(static_cast<absl::StatusCode>(99)),
            grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(FromGrpcCode(static_cast<grpc::StatusCode>(-3)),
            absl::StatusCode::kUnknown);
}

TEST(ErrorCodesTest, StatusConversionKeepsCodeAndMessage) {
  const grpc::Status g =
      ToGrpcStatus(absl::ResourceExhaustedError("queue full"));
  EXPECT_EQ(g.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(g.error_message(), "queue full");
  const absl::Status a = FromGrpcStatus(g);
  EXPECT_EQ(a, absl::ResourceExhaustedError("queue full"));
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

}  // namespace
}  // namespace infernum
