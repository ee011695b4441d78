// The infernum CLI's subcommands. Each takes the arguments after the
// subcommand name and returns the process exit code: 0 on success, 2 for bad
// arguments or unusable input (after printing one line to stderr), 1 for a
// failure while running.
#pragma once

#include <string>
#include <vector>

namespace infernum::cli {

int GenerateMain(const std::vector<std::string>& args);
int TokenizeMain(const std::vector<std::string>& args);
int DetokenizeMain(const std::vector<std::string>& args);
int BenchMain(const std::vector<std::string>& args);

// Prints "infernum <cmd>: <message>" on one line to stderr and returns 2.
int UsageError(const std::string& command, const std::string& message);

}  // namespace infernum::cli
