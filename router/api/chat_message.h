// One chat turn after request parsing: role and flattened text content.
#pragma once

#include <string>

namespace infernum::router {

struct ChatMessage {
  // "system", "user" or "assistant" ("developer" is normalized to "system").
  std::string role;
  // Text content. A list of {"type":"text"} parts is joined with "\n" (as
  // vLLM does for string-format templates); a null assistant content is "".
  std::string content;
};

}  // namespace infernum::router
