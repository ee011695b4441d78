#include "router/server/auth.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <utility>

namespace infernum::router {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c; }

}  // namespace

bool ConstantTimeEquals(std::string_view a, std::string_view secret) {
  // Loop over the secret's length only; bytes of `a` past its end (or
  // missing ones) still make the result false through the length check.
  uint8_t diff = a.size() == secret.size() ? 0 : 1;
  for (size_t i = 0; i < secret.size(); ++i) {
    const uint8_t x = i < a.size() ? static_cast<uint8_t>(a[i]) : 0;
    diff |= x ^ static_cast<uint8_t>(secret[i]);
  }
  // Keep the compiler from short-circuiting the loop.
  volatile uint8_t result = diff;
  return result == 0;
}

std::string_view BearerToken(std::string_view authorization) {
  std::string_view v = Trim(authorization);
  constexpr std::string_view kScheme = "bearer";
  if (v.size() <= kScheme.size() || !IsSpace(v[kScheme.size()])) return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (Lower(v[i]) != kScheme[i]) return {};
  }
  return Trim(v.substr(kScheme.size()));
}

ApiKeyAuth::ApiKeyAuth(std::vector<std::string> keys) {
  for (std::string& key : keys) {
    if (!key.empty()) keys_.push_back(std::move(key));
  }
}

bool ApiKeyAuth::Allows(std::string_view authorization) const {
  if (keys_.empty()) return true;
  const std::string_view token = BearerToken(authorization);
  bool match = false;
  for (const std::string& key : keys_) {
    // Non-short-circuit OR: every key is compared.
    match = ConstantTimeEquals(token, key) | match;
  }
  return match && !token.empty();
}

std::string UnauthorizedBody(bool key_present) {
  const char* message = key_present
                            ? "Incorrect API key provided. Send a valid key as "
                              "'Authorization: Bearer <key>'."
                            : "You didn't provide an API key. Send it as "
                              "'Authorization: Bearer <key>'.";
  const nlohmann::json body = {{"error",
                                {{"message", message},
                                 {"type", "invalid_request_error"},
                                 {"param", nullptr},
                                 {"code", "invalid_api_key"}}}};
  return body.dump();
}

}  // namespace infernum::router
