#include "router/api/text_chunk.h"

#include "common/logging.h"

namespace infernum::router {
namespace {

// Stands in for the text while the template chunk is rendered; the last
// occurrence of its JSON form is the text's place (the text comes after
// every meta field in both chunk shapes).
constexpr char kPlaceholder[] = "\x01text\x02";

}  // namespace

TextChunkRenderer::TextChunkRenderer(const ResponseMeta& meta, Kind kind,
                                     int index, bool usage_null) {
  std::string event;
  if (kind == Kind::kChat) {
    const ChatDelta delta{.index = index, .content = kPlaceholder};
    event = SseData(BuildChatCompletionChunk(meta, delta, usage_null));
  } else {
    const CompletionDelta delta{.index = index, .text = kPlaceholder};
    int64_t offset = 0;  // Unused without logprobs.
    event = SseData(BuildCompletionChunk(meta, delta, usage_null, &offset));
  }
  const std::string quoted = DumpJson(ResponseJson(kPlaceholder));
  const size_t at = event.rfind(quoted);
  CHECK(at != std::string::npos) << "chunk builders changed shape: " << event;
  prefix_ = event.substr(0, at);
  suffix_ = event.substr(at + quoted.size());
}

void TextChunkRenderer::Append(std::string_view text, std::string* out) const {
  out->append(prefix_);
  out->append(DumpJson(ResponseJson(std::string(text))));
  out->append(suffix_);
}

}  // namespace infernum::router
