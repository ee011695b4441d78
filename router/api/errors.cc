#include "router/api/errors.h"

#include <nlohmann/json.hpp>

#include "absl/strings/cord.h"

namespace infernum::router {
namespace {

using absl::StatusCode;

constexpr ErrorKindInfo kTable[] = {
    {ErrorKind::kInvalidRequest, "invalid_request", 400,
     "invalid_request_error", "invalid_value", StatusCode::kInvalidArgument},
    {ErrorKind::kContextLengthExceeded, "context_length_exceeded", 400,
     "invalid_request_error", "context_length_exceeded",
     StatusCode::kOutOfRange},
    {ErrorKind::kAuthentication, "authentication", 401, "invalid_request_error",
     "invalid_api_key", StatusCode::kUnauthenticated},
    {ErrorKind::kPermissionDenied, "permission_denied", 403, "permission_error",
     "permission_denied", StatusCode::kPermissionDenied},
    {ErrorKind::kModelNotFound, "model_not_found", 404, "not_found_error",
     "model_not_found", StatusCode::kNotFound},
    {ErrorKind::kNotFound, "not_found", 404, "not_found_error", "not_found",
     StatusCode::kNotFound},
    {ErrorKind::kMethodNotAllowed, "method_not_allowed", 405,
     "invalid_request_error", "method_not_allowed",
     StatusCode::kFailedPrecondition},
    {ErrorKind::kRequestTooLarge, "request_too_large", 413,
     "invalid_request_error", "request_too_large",
     StatusCode::kResourceExhausted},
    {ErrorKind::kRateLimited, "rate_limited", 429, "rate_limit_error",
     "rate_limit_exceeded", StatusCode::kResourceExhausted},
    {ErrorKind::kCancelled, "cancelled", 499, "invalid_request_error",
     "request_cancelled", StatusCode::kCancelled},
    {ErrorKind::kInternal, "internal", 500, "server_error", "internal_error",
     StatusCode::kInternal},
    {ErrorKind::kNotImplemented, "not_implemented", 501,
     "invalid_request_error", "not_implemented", StatusCode::kUnimplemented},
    {ErrorKind::kServiceUnavailable, "service_unavailable", 503,
     "service_unavailable", "service_unavailable", StatusCode::kUnavailable},
    {ErrorKind::kTimeout, "timeout", 504, "server_error", "timeout",
     StatusCode::kDeadlineExceeded},
};

constexpr char kKindPayloadUrl[] = "type.infernum.dev/router.ErrorKind";
constexpr char kParamPayloadUrl[] = "type.infernum.dev/router.ErrorParam";

}  // namespace

const ErrorKindInfo& GetErrorKindInfo(ErrorKind kind) {
  for (const ErrorKindInfo& row : kTable) {
    if (row.kind == kind) return row;
  }
  return GetErrorKindInfo(ErrorKind::kInternal);  // Unreachable by contract.
}

ErrorKind ErrorKindFromStatusCode(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kAlreadyExists:
      return ErrorKind::kInvalidRequest;
    case StatusCode::kOutOfRange:
      return ErrorKind::kContextLengthExceeded;
    case StatusCode::kUnauthenticated:
      return ErrorKind::kAuthentication;
    case StatusCode::kPermissionDenied:
      return ErrorKind::kPermissionDenied;
    case StatusCode::kNotFound:
      return ErrorKind::kNotFound;
    case StatusCode::kResourceExhausted:
      return ErrorKind::kRateLimited;
    case StatusCode::kCancelled:
      return ErrorKind::kCancelled;
    case StatusCode::kUnimplemented:
      return ErrorKind::kNotImplemented;
    case StatusCode::kUnavailable:
    case StatusCode::kAborted:
      return ErrorKind::kServiceUnavailable;
    case StatusCode::kDeadlineExceeded:
      return ErrorKind::kTimeout;
    default:
      return ErrorKind::kInternal;
  }
}

absl::Status MakeApiError(ErrorKind kind, std::string_view message,
                          std::optional<std::string_view> param) {
  const ErrorKindInfo& info = GetErrorKindInfo(kind);
  absl::Status status(info.status_code,
                      absl::string_view(message.data(), message.size()));
  status.SetPayload(kKindPayloadUrl, absl::Cord(absl::string_view(
                                         info.name.data(), info.name.size())));
  if (param.has_value()) {
    status.SetPayload(kParamPayloadUrl, absl::Cord(absl::string_view(
                                            param->data(), param->size())));
  }
  return status;
}

absl::Status InvalidParamError(std::string_view param,
                               std::string_view message) {
  return MakeApiError(ErrorKind::kInvalidRequest, message, param);
}

ApiError ApiErrorFromStatus(const absl::Status& status) {
  ApiError error;
  if (status.ok()) {
    error.message = "internal error: OK status reported as an error";
    return error;
  }
  error.kind = ErrorKindFromStatusCode(status.code());
  error.message = std::string(status.message());
  if (auto kind = status.GetPayload(kKindPayloadUrl)) {
    const std::string name(*kind);
    for (const ErrorKindInfo& row : kTable) {
      if (row.name == name) error.kind = row.kind;
    }
  }
  if (auto param = status.GetPayload(kParamPayloadUrl)) {
    error.param = std::string(*param);
  }
  return error;
}

std::string ErrorBodyJson(const ApiError& error) {
  const ErrorKindInfo& info = error.info();
  nlohmann::json inner = {
      {"message", error.message},
      {"type", std::string(info.type)},
      {"param", nullptr},
      {"code", std::string(info.code)},
  };
  if (error.param.has_value()) inner["param"] = *error.param;
  return nlohmann::json{{"error", std::move(inner)}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace infernum::router
