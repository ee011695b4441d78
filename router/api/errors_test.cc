#include "router/api/errors.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace infernum::router {
namespace {

using nlohmann::json;

constexpr ErrorKind kAllKinds[] = {
    ErrorKind::kInvalidRequest,     ErrorKind::kContextLengthExceeded,
    ErrorKind::kAuthentication,     ErrorKind::kPermissionDenied,
    ErrorKind::kModelNotFound,      ErrorKind::kNotFound,
    ErrorKind::kMethodNotAllowed,   ErrorKind::kRequestTooLarge,
    ErrorKind::kRateLimited,        ErrorKind::kCancelled,
    ErrorKind::kInternal,           ErrorKind::kNotImplemented,
    ErrorKind::kServiceUnavailable, ErrorKind::kTimeout,
};

TEST(ErrorsTest, EveryKindHasItsOwnRowAndRoundTripsThroughStatus) {
  std::set<std::string_view> names;
  for (ErrorKind kind : kAllKinds) {
    const ErrorKindInfo& info = GetErrorKindInfo(kind);
    EXPECT_EQ(info.kind, kind) << info.name;
    EXPECT_TRUE(names.insert(info.name).second) << "duplicate " << info.name;
    EXPECT_GE(info.http_status, 400);
    EXPECT_LT(info.http_status, 600);
    const absl::Status st = MakeApiError(kind, "boom");
    EXPECT_EQ(st.code(), info.status_code);
    EXPECT_EQ(ApiErrorFromStatus(st).kind, kind) << info.name;
  }
}

TEST(ErrorsTest, HttpStatusAndTypesMatchOpenAiConventions) {
  struct Want {
    ErrorKind kind;
    int http;
    std::string_view type;
  };
  // From the OpenAI API error documentation / vLLM's behaviour.
  const Want wants[] = {
      {ErrorKind::kInvalidRequest, 400, "invalid_request_error"},
      {ErrorKind::kAuthentication, 401, "invalid_request_error"},
      {ErrorKind::kModelNotFound, 404, "not_found_error"},
      {ErrorKind::kRateLimited, 429, "rate_limit_error"},
      {ErrorKind::kInternal, 500, "server_error"},
      {ErrorKind::kServiceUnavailable, 503, "service_unavailable"},
  };
  for (const Want& w : wants) {
    EXPECT_EQ(GetErrorKindInfo(w.kind).http_status, w.http);
    EXPECT_EQ(GetErrorKindInfo(w.kind).type, w.type);
  }
}

TEST(ErrorsTest, PlainStatusesAreClassifiedByCode) {
  EXPECT_EQ(ApiErrorFromStatus(absl::InvalidArgumentError("x")).kind,
            ErrorKind::kInvalidRequest);
  EXPECT_EQ(ApiErrorFromStatus(absl::UnavailableError("x")).kind,
            ErrorKind::kServiceUnavailable);
  EXPECT_EQ(ApiErrorFromStatus(absl::ResourceExhaustedError("x")).kind,
            ErrorKind::kRateLimited);
  EXPECT_EQ(ApiErrorFromStatus(absl::DataLossError("x")).kind,
            ErrorKind::kInternal);
  EXPECT_EQ(ApiErrorFromStatus(absl::DeadlineExceededError("x")).kind,
            ErrorKind::kTimeout);
  // Misuse with OK is reported, not crashed on.
  EXPECT_EQ(ApiErrorFromStatus(absl::OkStatus()).kind, ErrorKind::kInternal);
}

TEST(ErrorsTest, ParamAndKindSurviveAnnotationAndCopies) {
  absl::Status st = InvalidParamError("messages[1].role", "unknown role 'x'");
  absl::Status copy = st;
  const ApiError e = ApiErrorFromStatus(copy);
  EXPECT_EQ(e.kind, ErrorKind::kInvalidRequest);
  ASSERT_TRUE(e.param.has_value());
  EXPECT_EQ(*e.param, "messages[1].role");
  EXPECT_EQ(e.message, "unknown role 'x'");
}

TEST(ErrorsTest, ErrorBodyHasTheOpenAiShape) {
  ApiError e = ApiErrorFromStatus(InvalidParamError("top_p", "bad top_p"));
  json body = json::parse(ErrorBodyJson(e));
  ASSERT_TRUE(body.is_object());
  ASSERT_EQ(body.size(), 1u);
  const json& err = body.at("error");
  ASSERT_EQ(err.size(), 4u);
  EXPECT_EQ(err.at("message"), "bad top_p");
  EXPECT_EQ(err.at("type"), "invalid_request_error");
  EXPECT_EQ(err.at("param"), "top_p");
  EXPECT_EQ(err.at("code"), "invalid_value");

  ApiError no_param = ApiErrorFromStatus(
      MakeApiError(ErrorKind::kModelNotFound, "The model 'x' does not exist"));
  json body2 = json::parse(ErrorBodyJson(no_param));
  EXPECT_TRUE(body2["error"]["param"].is_null());
  EXPECT_EQ(body2["error"]["code"], "model_not_found");
  EXPECT_EQ(body2["error"]["type"], "not_found_error");
}

TEST(ErrorsTest, InvalidUtf8InMessageDoesNotThrow) {
  ApiError e;
  e.kind = ErrorKind::kInternal;
  e.message = std::string("bad \xff\xfe bytes");
  const std::string body = ErrorBodyJson(e);
  json parsed = json::parse(body, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded());
  EXPECT_EQ(parsed["error"]["message"], "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes");
}

}  // namespace
}  // namespace infernum::router
