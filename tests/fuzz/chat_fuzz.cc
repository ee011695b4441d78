// Fuzz harness: the router's chat front end in one piece. Byte 0 picks a
// model family (tokenizer + its tokenizer_config.json chat template) and
// the generation-prompt flag; the rest is a /v1/chat/completions body. A
// body that parses is rendered with the family's template and the prompt
// tokenized, as the router does. Properties: no crash; a rendered prompt
// always encodes (rendering keeps the text valid UTF-8).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "router/api/chat_template.h"
#include "router/api/openai_request.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/tokenizers.h"

namespace {

using infernum::router::ChatTemplateConfig;

const std::vector<ChatTemplateConfig>& Configs() {
  static const auto* configs = [] {
    auto* out = new std::vector<ChatTemplateConfig>;
    for (const std::string& family : infernum::fuzz::TokenizerFamilies()) {
      const std::string path =
          infernum::fuzz::TokenizerDir(family) + "/tokenizer_config.json";
      std::ifstream in(path);
      const std::string json((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
      auto config = infernum::router::ChatTemplateConfigFromTokenizerConfig(
          json, "", family);
      if (!config.ok()) {
        std::fprintf(stderr, "%s: %s\n", path.c_str(),
                     config.status().ToString().c_str());
        std::abort();
      }
      out->push_back(*config);
    }
    return out;
  }();
  return *configs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t family = data[0] % Configs().size();
  const std::string_view body(reinterpret_cast<const char*>(data + 1),
                              size - 1);
  auto request = infernum::router::ParseChatCompletionRequest(body);
  if (!request.ok()) return 0;
  auto rendered = infernum::router::RenderChatTemplate(
      Configs()[family], request->messages, (data[0] & 128) == 0);
  if (!rendered.ok()) return 0;
  const auto& tokenizer = *infernum::fuzz::Tokenizers()[family];
  if (!tokenizer.Encode(rendered->text, !rendered->contains_bos).ok()) {
    std::fprintf(stderr, "chat_fuzz: a rendered prompt does not encode\n");
    std::abort();
  }
  return 0;
}
