// cpp-httplib helpers of the HTTP front end: JSON error bodies (also for
// the library's own errors), request body reading within a size limit.
#pragma once

#include <cstdint>
#include <exception>
#include <string>

#include "router/api/errors.h"

namespace httplib {
class ContentReader;
struct Request;
struct Response;
}  // namespace httplib

namespace infernum::router {

inline constexpr char kJsonContentType[] = "application/json";

// True for "application/json" with optional parameters (charset).
bool IsJsonContentType(const std::string& value);

// Fills `res` with the kind's HTTP status and OpenAI error body.
void SendError(httplib::Response& res, ErrorKind kind, std::string message);

// For cpp-httplib's error handler: when `res` has no body (an error the
// library produced itself: bad request line, unknown path, payload too
// large, ...), gives it a JSON error body, keeps its status and returns
// true; false when the response already has a body.
bool FillLibraryError(const httplib::Request& req, httplib::Response& res);

// For cpp-httplib's exception handler: logs, answers 500.
void HandlerException(const httplib::Request& req, httplib::Response& res,
                      std::exception_ptr ep);

enum class ReadOutcome { kOk, kTooLarge, kReadError, kNotJson };

// Reads the request body through `reader` into `*body`, stopping past
// `max_bytes`, then checks that the Content-Type is JSON (multipart never
// is). `res` is the response (cpp-httplib sets 413 on it when its own
// payload limit stops the read).
ReadOutcome ReadLimitedBody(const httplib::Request& req,
                            const httplib::Response& res,
                            const httplib::ContentReader& reader,
                            int64_t max_bytes, std::string* body);

// Reads and drops the body of a request refused before reading it, so the
// connection stays usable; when it is larger than `max_bytes` (or cannot
// be read) marks the response "Connection: close" instead.
void DiscardBody(const httplib::Request& req, httplib::Response& res,
                 const httplib::ContentReader& reader, int64_t max_bytes);

}  // namespace infernum::router
