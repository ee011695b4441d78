// API-key (Bearer) authentication for the router's HTTP routes.
//
// Keys come from router.yaml `api_keys` plus the comma-separated value of
// the environment variable named by `api_key_env` (merged by
// MergeApiKeys() in config.h). With no key configured, authentication is
// off and every request is allowed. Which routes need a key is the HTTP
// server's decision (see http_server.h); this class only checks headers.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace infernum::router {

class ApiKeyAuth {
 public:
  // Empty strings in `keys` are ignored.
  explicit ApiKeyAuth(std::vector<std::string> keys);

  // True when at least one key is configured.
  bool enabled() const { return !keys_.empty(); }
  int num_keys() const { return static_cast<int>(keys_.size()); }

  // True when auth is off, or `authorization` (the Authorization header
  // value) is "Bearer <key>" (scheme case-insensitive) for a configured key.
  // Every key is compared in constant time, and all keys are always
  // compared, so the time taken does not reveal how much of a key matched.
  bool Allows(std::string_view authorization) const;

 private:
  std::vector<std::string> keys_;
};

// Equality whose running time depends only on the lengths of `a` and
// `secret`, never on where they first differ.
bool ConstantTimeEquals(std::string_view a, std::string_view secret);

// The token of an "Authorization: Bearer <token>" header value, without
// surrounding whitespace; empty when the scheme is not Bearer.
std::string_view BearerToken(std::string_view authorization);

// The 401 body in OpenAI's shape:
// {"error":{"message":...,"type":"invalid_request_error","param":null,
//           "code":"invalid_api_key"}}
std::string UnauthorizedBody(bool key_present);

}  // namespace infernum::router
