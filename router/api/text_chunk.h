// The streamed text chunks of one choice, rendered without building a JSON
// tree per token: the event is a prefix and a suffix fixed per choice
// around the JSON-escaped text.
//
// Append(text) gives the same bytes as
//   chat:        SseData(BuildChatCompletionChunk(meta,
//                    {.index = index, .content = text}, usage_null))
//   completions: SseData(BuildCompletionChunk(meta,
//                    {.index = index, .text = text}, usage_null, &offset))
// i.e. chunks without role, logprobs or finish reason (those still go
// through the builders). Immutable after construction; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "router/api/openai_response.h"

namespace infernum::router {

class TextChunkRenderer {
 public:
  enum class Kind { kChat, kCompletion };

  TextChunkRenderer(const ResponseMeta& meta, Kind kind, int index,
                    bool usage_null);

  // Appends the SSE event ("data: {...}\n\n") carrying `text` to `out`.
  // Invalid UTF-8 in `text` becomes U+FFFD, as in DumpJson.
  void Append(std::string_view text, std::string* out) const;

 private:
  std::string prefix_;  // "data: {...,"content": (or "text":)
  std::string suffix_;  // The rest of the event after the text.
};

}  // namespace infernum::router
