// TextChunkRenderer against the JSON builders it stands in for.
#include "router/api/text_chunk.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "router/api/openai_response.h"

namespace infernum::router {
namespace {

const std::vector<std::string>& Texts() {
  static const std::vector<std::string> texts = {
      "",
      "Hello",
      " world",
      "quote \" backslash \\ slash /",
      "new\nline\ttab\r\x01\x1f\x7f",
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",  // Multi-byte UTF-8.
      "half \xf0\x9f",                              // Invalid UTF-8.
      "\xff\xfe",
      "\x01text\x02",  // The renderer's own placeholder.
      std::string(5000, 'a'),
  };
  return texts;
}

std::vector<ResponseMeta> Metas() {
  return {
      {.id = "chatcmpl-0123", .created = 1700000000, .model = "tiny"},
      {.id = "cmpl-x",
       .created = 0,
       .model = "m \"quoted\" \x01text\x02",
       .system_fingerprint = "fp_\x01text\x02"},
  };
}

TEST(TextChunkRendererTest, ChatMatchesTheBuilder) {
  for (const ResponseMeta& meta : Metas()) {
    for (bool usage_null : {false, true}) {
      for (int index : {0, 7}) {
        const TextChunkRenderer r(meta, TextChunkRenderer::Kind::kChat, index,
                                  usage_null);
        for (const std::string& text : Texts()) {
          const ChatDelta delta{.index = index, .content = text};
          std::string out = "before";
          r.Append(text, &out);
          EXPECT_EQ(out, "before" + SseData(BuildChatCompletionChunk(
                                        meta, delta, usage_null)))
              << text;
        }
      }
    }
  }
}

TEST(TextChunkRendererTest, CompletionMatchesTheBuilder) {
  for (const ResponseMeta& meta : Metas()) {
    for (bool usage_null : {false, true}) {
      for (int index : {0, 3}) {
        const TextChunkRenderer r(meta, TextChunkRenderer::Kind::kCompletion,
                                  index, usage_null);
        for (const std::string& text : Texts()) {
          const CompletionDelta delta{.index = index, .text = text};
          int64_t offset = 5;
          std::string out;
          r.Append(text, &out);
          EXPECT_EQ(out, SseData(BuildCompletionChunk(meta, delta, usage_null,
                                                      &offset)))
              << text;
          EXPECT_EQ(offset, 5);  // No logprobs: the offset does not move.
        }
      }
    }
  }
}

}  // namespace
}  // namespace infernum::router
