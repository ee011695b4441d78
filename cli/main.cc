// infernum: command-line entry point (generate, tokenize, detokenize, bench).
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace {

constexpr char kUsage[] =
    "usage: infernum <command> [flags]\n"
    "commands:\n"
    "  generate    generate text from a prompt (or many prompts with -i)\n"
    "  tokenize    JSON string per stdin line -> JSON array of token ids\n"
    "  detokenize  JSON array of ids per stdin line -> JSON string\n"
    "  bench       measure prefill/decode speed against this machine's limits\n"
    "run 'infernum <command> --help' for its flags\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(
        "infernum: missing command (generate, tokenize, detokenize, bench); "
        "see --help\n",
        stderr);
    return 2;
  }
  const std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "generate") return infernum::cli::GenerateMain(args);
  if (command == "tokenize") return infernum::cli::TokenizeMain(args);
  if (command == "detokenize") return infernum::cli::DetokenizeMain(args);
  if (command == "bench") return infernum::cli::BenchMain(args);
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::fprintf(stderr, "infernum: unknown command '%s'; see --help\n",
               command.c_str());
  return 2;
}
