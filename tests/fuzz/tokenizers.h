// The shared tokenizers the harnesses use, loaded once (from
// $INFERNUM_SHARED/models/tokenizers); aborts with a message if one is
// missing, so a harness never runs on nothing.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "common/testing.h"
#include "models/tokenizer/tokenizer.h"

namespace infernum::fuzz {

inline const std::vector<std::unique_ptr<models::Tokenizer>>& Tokenizers() {
  static const auto* tokenizers = [] {
    auto* out = new std::vector<std::unique_ptr<models::Tokenizer>>;
    for (const char* family : {"llama3", "qwen3", "llama2", "gemma3", "mistral",
                               "deepseek_v3", "gptoss"}) {
      const std::string dir =
          testing::SharedModelsDir() + "/tokenizers/" + family;
      auto t = models::Tokenizer::FromDirectory(dir);
      if (!t.ok()) {
        std::fprintf(stderr, "%s: %s\n", dir.c_str(),
                     t.status().ToString().c_str());
        std::abort();
      }
      out->push_back(std::move(t).value());
    }
    return out;
  }();
  return *tokenizers;
}

}  // namespace infernum::fuzz
