#include "router/server/http_util.h"

#include <httplib.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace infernum::router {
namespace {

// Kind for an error status cpp-httplib produced.
ErrorKind KindForStatus(int status) {
  switch (status) {
    case 400:
      return ErrorKind::kInvalidRequest;
    case 404:
      return ErrorKind::kNotFound;
    case 405:
      return ErrorKind::kMethodNotAllowed;
    case 413:
    case 414:
      return ErrorKind::kRequestTooLarge;
    case 503:
      return ErrorKind::kServiceUnavailable;
    default:
      return status < 500 ? ErrorKind::kInvalidRequest : ErrorKind::kInternal;
  }
}

// Feeds the body to `receive` (multipart bodies too); the reader's result.
template <typename Receive>
bool ReadAll(const httplib::Request& req, const httplib::ContentReader& reader,
             Receive receive) {
  if (req.is_multipart_form_data()) {
    return reader([](const httplib::MultipartFormData&) { return true; },
                  receive);
  }
  return reader(receive);
}

}  // namespace

bool IsJsonContentType(const std::string& value) {
  const std::string media = absl::AsciiStrToLower(
      absl::StripAsciiWhitespace(value.substr(0, value.find(';'))));
  return media == kJsonContentType;
}

void SendError(httplib::Response& res, ErrorKind kind, std::string message) {
  const ApiError error{.kind = kind, .message = std::move(message)};
  res.status = error.info().http_status;
  res.set_content(ErrorBodyJson(error), kJsonContentType);
}

bool FillLibraryError(const httplib::Request& req, httplib::Response& res) {
  if (!res.body.empty()) return false;
  const int status = res.status;
  std::string message =
      status == 404
          ? absl::StrCat("no route for ", req.method, " ", req.path)
          : absl::StrCat("the request failed with HTTP status ", status);
  SendError(res, KindForStatus(status), std::move(message));
  res.status = status;  // Keep the library's status (e.g. 414).
  return true;
}

void HandlerException(const httplib::Request&, httplib::Response& res,
                      std::exception_ptr ep) {
  std::string what = "unknown exception";
  try {
    if (ep) std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  LOG(ERROR) << "exception in a request handler: " << what;
  SendError(res, ErrorKind::kInternal, "internal error");
}

ReadOutcome ReadLimitedBody(const httplib::Request& req,
                            const httplib::Response& res,
                            const httplib::ContentReader& reader,
                            int64_t max_bytes, std::string* body) {
  bool too_large = false;
  const bool read_ok = ReadAll(req, reader, [&](const char* data, size_t n) {
    if (body->size() + n > static_cast<size_t>(max_bytes)) {
      too_large = true;
      return false;
    }
    body->append(data, n);
    return true;
  });
  if (!read_ok) {
    // cpp-httplib reports its own payload limit as status 413.
    return too_large || res.status == 413 ? ReadOutcome::kTooLarge
                                          : ReadOutcome::kReadError;
  }
  if (req.is_multipart_form_data() ||
      !IsJsonContentType(req.get_header_value("Content-Type"))) {
    return ReadOutcome::kNotJson;
  }
  return ReadOutcome::kOk;
}

void DiscardBody(const httplib::Request& req, httplib::Response& res,
                 const httplib::ContentReader& reader, int64_t max_bytes) {
  const int status = res.status;  // A failed read overwrites it.
  int64_t seen = 0;
  const bool ok = ReadAll(req, reader, [&](const char*, size_t n) {
    seen += static_cast<int64_t>(n);
    return seen <= max_bytes;
  });
  res.status = status;
  if (!ok) res.set_header("Connection", "close");
}

}  // namespace infernum::router
