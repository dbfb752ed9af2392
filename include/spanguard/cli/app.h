// The `spanguard` command line: version, replay, run, check-rules, show-config.
#pragma once

namespace spanguard::cli {

// Parses the arguments, runs the subcommand and returns the process exit code:
// 0 success, 1 runtime failure (unreadable capture, missing interface), 2 usage/config/rule error.
int main(int argc, char** argv);

}  // namespace spanguard::cli
