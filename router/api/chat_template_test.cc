// Our native chat templates against the real Jinja templates.
//
// For every family, each conversation below is rendered by RenderChatTemplate
// and by jinja2 (testdata/render_templates.py, needs Debian python3-jinja2)
// from the family's tokenizer_config.json in shared/models/tokenizers, or
// from testdata/reference_templates.json for families whose config has no
// template. Outputs must be byte-identical, and where Jinja raises (roles not
// alternating), we must return an error too.
#include "router/api/chat_template.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace infernum::router {
namespace {

using nlohmann::json;

std::string SharedDir() {
  const char* env = std::getenv("INFERNUM_SHARED");
  return (env != nullptr && *env != '\0') ? env : "/work/shared";
}

std::string TokenizerConfigPath(const std::string& family) {
  return SharedDir() + "/models/tokenizers/" + family +
         "/tokenizer_config.json";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string TmpDir() {
  const char* env = std::getenv("TEST_TMPDIR");
  return env != nullptr ? env : "/tmp";
}

struct Conversation {
  std::vector<ChatMessage> messages;
  bool add_generation_prompt;
};

std::vector<Conversation> Conversations() {
  return {
      {{{"user", "Hello!"}}, true},
      {{{"system", "You are terse."}, {"user", "What is 2+2?"}}, true},
      {{{"system", "Be kind."},
        {"user", "Hi"},
        {"assistant", "Hello! How can I help?"},
        {"user", "Tell me a joke."}},
       true},
      {{{"user", "  padded \n"}}, true},
      {{{"user", "Hi"}, {"assistant", "Hey"}}, false},
      {{{"user", "\u3000ünïcödé 日本語 🚀\u3000"},
        {"assistant", "\u00a0ok\u2003"}},
       false},
      {{{"user", "q1"},
        {"assistant", "<think>\nreason 1\n</think>\n\nanswer 1"},
        {"user", "q2"}},
       true},
      {{{"user", "q"},
        {"assistant", "<think>\nlast reasoning\n</think>\n\nfinal answer"}},
       false},
      {{{"user", "q"},
        {"assistant", "<think>r</think>a"},
        {"user", "<tool_response>x</tool_response>"}},
       true},
      {{{"system", "A"}, {"system", "B"}, {"user", "x"}}, true},
      {{{"user", "a"}, {"user", "b"}}, true},
      {{{"assistant", "I start"}, {"user", "ok"}}, true},
      {{{"system", "only system"}}, true},
      {{{"user", "Hi"}}, false},
      {{{"user", "multi\nline\n\ncontent"},
        {"assistant", "multi\nline "},
        {"user", " end"}},
       true},
      {{{"system", ""}, {"user", ""}}, true},
  };
}

struct FamilyCase {
  std::string dir;        // shared/models/tokenizers/<dir>
  std::string reference;  // Key in reference_templates.json, or "".
  std::string hint;       // Family hint used when the config has none.
  ChatTemplateFamily family;
  bool expect_bos;  // Rendered prompts start with BOS.
};

std::vector<FamilyCase> Families() {
  return {
      {"llama3", "", "", ChatTemplateFamily::kLlama3, true},
      {"qwen3", "", "", ChatTemplateFamily::kChatMl, false},
      {"gemma3", "", "", ChatTemplateFamily::kGemma, true},
      {"deepseek_v3", "", "", ChatTemplateFamily::kDeepSeekV3, true},
      {"llama2", "llama2", "llama2", ChatTemplateFamily::kLlama2, true},
      {"mistral", "mistral", "mistral", ChatTemplateFamily::kMistral, true},
      {"gptoss", "gptoss", "gpt_oss", ChatTemplateFamily::kHarmony, false},
  };
}

json ReferenceTemplates() {
  return json::parse(ReadFile("router/api/testdata/reference_templates.json"));
}

// Renders every (family, conversation) pair with jinja2 in one process.
json RenderWithJinja(const json& cases) {
  const std::string req = TmpDir() + "/jinja_request.json";
  const std::string out = TmpDir() + "/jinja_output.json";
  std::ofstream(req) << json{{"cases", cases}}.dump();
  const std::string cmd =
      "/usr/bin/python3 router/api/testdata/"
      "render_templates.py " +
      req + " " + out;
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << "jinja2 renderer failed; is python3-jinja2 installed "
                      "(apt-get install python3-jinja2)?";
  return json::parse(ReadFile(out), nullptr, false);
}

json MessagesJson(const std::vector<ChatMessage>& messages) {
  json arr = json::array();
  for (const ChatMessage& m : messages) {
    arr.push_back({{"role", m.role}, {"content", m.content}});
  }
  return arr;
}

TEST(ChatTemplateTest, MatchesRealJinjaTemplates) {
  const json refs = ReferenceTemplates();
  const std::vector<Conversation> convs = Conversations();
  json cases = json::array();
  for (const FamilyCase& f : Families()) {
    for (const Conversation& c : convs) {
      json jc = {{"tokenizer_config", TokenizerConfigPath(f.dir)},
                 {"messages", MessagesJson(c.messages)},
                 {"add_generation_prompt", c.add_generation_prompt}};
      if (!f.reference.empty()) {
        jc["template"] = refs["templates"][f.reference]["template"];
      }
      cases.push_back(std::move(jc));
    }
  }
  const json results = RenderWithJinja(cases);
  ASSERT_TRUE(results.is_array() && results.size() == cases.size());

  size_t k = 0;
  for (const FamilyCase& f : Families()) {
    auto config = ChatTemplateConfigFromTokenizerConfig(
        ReadFile(TokenizerConfigPath(f.dir)), "", f.hint);
    ASSERT_TRUE(config.ok()) << f.dir << ": " << config.status();
    EXPECT_EQ(config->family, f.family) << f.dir;
    // The first conversation must render in Jinja (guards the harness).
    EXPECT_TRUE(results[k].contains("text")) << f.dir << results[k].dump();
    int num_texts = 0, num_errors = 0;
    for (size_t i = 0; i < convs.size(); ++i, ++k) {
      const json& want = results[k];
      ++(want.contains("error") ? num_errors : num_texts);
      SCOPED_TRACE(f.dir + " conversation " + std::to_string(i) + ": " +
                   cases[k]["messages"].dump());
      auto got = RenderChatTemplate(*config, convs[i].messages,
                                    convs[i].add_generation_prompt);
      if (want.contains("error")) {
        EXPECT_FALSE(got.ok()) << "jinja raised: " << want["error"]
                               << "\nwe rendered: " << got->text;
        continue;
      }
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->text, want["text"].get<std::string>());
      EXPECT_EQ(got->contains_bos,
                f.expect_bos && !got->text.empty() &&
                    got->text.rfind(config->bos_token, 0) == 0);
    }
    std::cout << f.dir << ": " << num_texts << " prompts identical, "
              << num_errors << " rejected by both\n";
  }
}

TEST(ChatTemplateTest, DetectsFamiliesFromTemplateMarkers) {
  for (const FamilyCase& f : Families()) {
    std::string tpl;
    if (f.reference.empty()) {
      tpl = json::parse(ReadFile(TokenizerConfigPath(f.dir)))["chat_template"];
    } else {
      tpl = ReferenceTemplates()["templates"][f.reference]["template"];
    }
    auto family = DetectChatTemplateFamily(tpl, "");
    ASSERT_TRUE(family.ok()) << f.dir;
    EXPECT_EQ(*family, f.family) << f.dir;
  }
  EXPECT_FALSE(DetectChatTemplateFamily("{{ messages }}", "").ok());
  EXPECT_EQ(*DetectChatTemplateFamily("{{ messages }}", "qwen2"),
            ChatTemplateFamily::kChatMl);
}

TEST(ChatTemplateTest, HintsWithoutTemplate) {
  EXPECT_EQ(*DetectChatTemplateFamily("", "llama"), ChatTemplateFamily::kPlain);
  EXPECT_EQ(*DetectChatTemplateFamily("", ""), ChatTemplateFamily::kPlain);
  EXPECT_EQ(*DetectChatTemplateFamily("", "Gemma3_text"),
            ChatTemplateFamily::kGemma);
  EXPECT_EQ(*DetectChatTemplateFamily("", "deepseek_v3"),
            ChatTemplateFamily::kDeepSeekV3);
  EXPECT_EQ(*DetectChatTemplateFamily("", "gpt_oss"),
            ChatTemplateFamily::kHarmony);
}

TEST(ChatTemplateTest, Stories260KIsPlainAndLetsTheTokenizerAddBos) {
  auto config = ChatTemplateConfigFromTokenizerConfig(
      ReadFile(SharedDir() + "/models/stories260K/tokenizer_config.json"), "",
      "llama");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->family, ChatTemplateFamily::kPlain);
  EXPECT_EQ(config->bos_token, "<s>");
  auto r = RenderChatTemplate(
      *config, {{"system", "Tell a story."}, {"user", "Once upon a time"}},
      true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->text, "Tell a story.\nOnce upon a time");
  EXPECT_FALSE(r->contains_bos);
}

TEST(ChatTemplateTest, ConfigFormsAndFlags) {
  // AddedToken-object bos (DeepSeek) is unwrapped.
  auto ds = ChatTemplateConfigFromTokenizerConfig(
      ReadFile(TokenizerConfigPath("deepseek_v3")), "", "");
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ(ds->bos_token, "<｜begin▁of▁sentence｜>");
  // Llama-3.0's template never reads add_generation_prompt.
  auto l3 = ChatTemplateConfigFromTokenizerConfig(
      ReadFile(TokenizerConfigPath("llama3")), "", "");
  EXPECT_TRUE(l3->always_add_generation_prompt);
  auto qwen = ChatTemplateConfigFromTokenizerConfig(
      ReadFile(TokenizerConfigPath("qwen3")), "", "");
  EXPECT_TRUE(qwen->chatml_reasoning);
  // List form, override, and bad JSON.
  json cfg = {{"bos_token", "<s>"},
              {"chat_template",
               {{{"name", "tool_use"}, {"template", "[INST]"}},
                {{"name", "default"}, {"template", "<|im_start|>"}}}}};
  EXPECT_EQ(ChatTemplateConfigFromTokenizerConfig(cfg.dump(), "", "")->family,
            ChatTemplateFamily::kChatMl);
  EXPECT_EQ(
      ChatTemplateConfigFromTokenizerConfig(cfg.dump(), "<start_of_turn>", "")
          ->family,
      ChatTemplateFamily::kGemma);
  EXPECT_FALSE(ChatTemplateConfigFromTokenizerConfig("{oops", "", "").ok());
  EXPECT_FALSE(RenderChatTemplate(*ds, {}, true).ok());
}

}  // namespace
}  // namespace infernum::router
