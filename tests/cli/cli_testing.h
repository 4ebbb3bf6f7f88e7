// Running rtseg_infer / rtseg_bench in-process (infer_main, bench_main) and,
// for exit statuses, as the built programs next to the test binary's folder.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli.h"

namespace cudaseg::infer_testing {

struct CliResult {
  int status;
  std::string out, err;
};

template <typename Main>
CliResult run_cli(Main main, const std::string& tool, std::vector<std::string> args) {
  args.insert(args.begin(), tool);
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  const int status = main(static_cast<int>(argv.size()), argv.data(), out, err);
  return {status, out.str(), err.str()};
}

inline CliResult infer(const std::vector<std::string>& args) {
  return run_cli(cli::infer_main, "rtseg_infer", args);
}
inline CliResult bench(const std::vector<std::string>& args) {
  return run_cli(cli::bench_main, "rtseg_bench", args);
}

inline bool one_line(const std::string& text) { return !text.empty() && text.find('\n') == text.size() - 1; }

// build/rtseg_infer for build/tests/test_infer.
inline std::string program_path(const std::string& name) {
  char self[PATH_MAX] = {};
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string dir = n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string();
  dir = dir.substr(0, dir.rfind('/'));
  return dir.substr(0, dir.rfind('/')) + "/" + name;
}

// The exit status of `command` run by the shell.
inline int shell_status(const std::string& command) {
  const int raw = std::system(command.c_str());
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
}

}  // namespace cudaseg::infer_testing
