// Fuzz harness: the router's OpenAI request parsers on arbitrary bytes.
// Property: they return a request or an error status; they never crash,
// throw, or trip a sanitizer.
#include <string_view>

#include "router/api/openai_request.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  (void)infernum::router::ParseChatCompletionRequest(body);
  (void)infernum::router::ParseCompletionRequest(body);
  return 0;
}
