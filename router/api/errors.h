// OpenAI-style API errors: one table maps every error kind to its HTTP status,
// OpenAI `type`, `code` and the absl::StatusCode used to carry it through the
// router's absl::Status plumbing.
//
// Errors travel as absl::Status. MakeApiError() attaches two payloads (the
// precise kind and the offending request `param`), so that a status built deep
// in request validation still renders as the right HTTP response at the edge:
//
//   return InvalidParamError("temperature", "must be in [0, 2]");
//   ...
//   ApiError e = ApiErrorFromStatus(status);   // at the HTTP boundary
//   res.status = e.info().http_status;  res.body = ErrorBodyJson(e);
//
// A status without payloads (e.g. from a gRPC call) is classified by its code.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace infernum::router {

enum class ErrorKind {
  kInvalidRequest,         // 400 malformed / invalid parameter.
  kContextLengthExceeded,  // 400 prompt + max_tokens exceed the context.
  kAuthentication,         // 401 missing or bad API key.
  kPermissionDenied,       // 403
  kModelNotFound,          // 404 unknown "model".
  kNotFound,               // 404 unknown route / object.
  kMethodNotAllowed,       // 405
  kRequestTooLarge,        // 413 body over the size limit.
  kRateLimited,            // 429 too many requests / queue full.
  kCancelled,              // 499 client went away (nginx convention).
  kInternal,               // 500
  kNotImplemented,         // 501 feature not supported.
  kServiceUnavailable,     // 503 no healthy worker, draining.
  kTimeout,                // 504 upstream deadline exceeded.
};

// One row of the table.
struct ErrorKindInfo {
  ErrorKind kind;
  std::string_view name;  // Stable identifier, used as the status payload.
  int http_status;
  std::string_view type;  // OpenAI error.type
  std::string_view code;  // OpenAI error.code
  absl::StatusCode status_code;
};

// Table row for `kind` (every enumerator has one).
const ErrorKindInfo& GetErrorKindInfo(ErrorKind kind);

// Kind for a status that carries no kind payload.
ErrorKind ErrorKindFromStatusCode(absl::StatusCode code);

// A non-OK status with the kind's code, `message` and the payloads. `param`
// names the request field at fault (e.g. "messages[1].role"), if any.
absl::Status MakeApiError(ErrorKind kind, std::string_view message,
                          std::optional<std::string_view> param = std::nullopt);

// Shorthand for MakeApiError(kInvalidRequest, message, param).
absl::Status InvalidParamError(std::string_view param,
                               std::string_view message);

// An error ready to render.
struct ApiError {
  ErrorKind kind = ErrorKind::kInternal;
  std::string message;
  std::optional<std::string> param;

  const ErrorKindInfo& info() const { return GetErrorKindInfo(kind); }
};

// Recovers kind and param from a status made by MakeApiError, or classifies a
// plain status by code. Must not be called with an OK status (returns an
// internal error describing the misuse).
ApiError ApiErrorFromStatus(const absl::Status& status);

// {"error":{"message":..,"type":..,"param":..|null,"code":..}} serialized.
// Never throws (invalid UTF-8 in the message is replaced with U+FFFD).
std::string ErrorBodyJson(const ApiError& error);

}  // namespace infernum::router
