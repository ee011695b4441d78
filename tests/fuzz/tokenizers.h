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

// The tokenizer folders, in the order of Tokenizers().
inline const std::vector<std::string>& TokenizerFamilies() {
  static const auto* families =
      new std::vector<std::string>{"llama3",  "qwen3",       "llama2", "gemma3",
                                   "mistral", "deepseek_v3", "gptoss"};
  return *families;
}

inline std::string TokenizerDir(const std::string& family) {
  return testing::SharedModelsDir() + "/tokenizers/" + family;
}

inline const std::vector<std::unique_ptr<models::Tokenizer>>& Tokenizers() {
  static const auto* tokenizers = [] {
    auto* out = new std::vector<std::unique_ptr<models::Tokenizer>>;
    for (const std::string& family : TokenizerFamilies()) {
      const std::string dir = TokenizerDir(family);
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
