// Every tool answers alike (cli/args.h run_tool): --help anywhere prints the
// usage and exits 0; a usage error is one line "tool: message (see tool
// --help)" with exit 2; a runtime error is one line "tool: message" with
// exit 1, a multi-line message folded.
#include <gtest/gtest.h>

#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/train_main.h"

using namespace cudaseg;

namespace {

struct Result {
  int status;
  std::string out, err;
};

using Main = std::function<int(int, const char* const*, std::ostream&, std::ostream&)>;

Result call(const Main& main, std::vector<std::string> args) {
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  const int status = main(static_cast<int>(argv.size()), argv.data(), out, err);
  return {status, out.str(), err.str()};
}

const std::vector<std::pair<std::string, Main>>& tools() {
  static const std::vector<std::pair<std::string, Main>> all = {
      {"rtseg_infer", cli::infer_main},
      {"rtseg_bench", cli::bench_main},
      {"rtseg_convert", cli::convert_main},
      {"rtseg_train", [](int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
         return cli::train_main(argc, argv, out, err);
       }}};
  return all;
}

}  // namespace

TEST(RunTool, EveryToolPrintsItsUsageForHelpAnywhere) {
  for (const auto& [tool, main] : tools()) {
    SCOPED_TRACE(tool);
    const Result r = call(main, {tool, "--bogus", "--help"});
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out.rfind("usage: " + tool, 0), 0u) << r.out;
    EXPECT_TRUE(r.err.empty()) << r.err;
  }
}

TEST(RunTool, EveryToolReportsAUsageErrorOnOneLineWithExit2) {
  for (const auto& [tool, main] : tools()) {
    SCOPED_TRACE(tool);
    const Result r = call(main, {tool, "--bogus"});
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(r.err.rfind(tool + ": ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("--bogus"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("(see " + tool + " --help)\n"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  }
}

TEST(RunTool, ARuntimeErrorIsOneLineWithExit1) {
  const auto parse = [](int, const char* const*) { return 7; };
  std::ostringstream out, err;
  const char* argv[] = {"tool"};
  const int status = cli::run_tool("tool", "usage: tool\n", 1, argv, out, err, parse, [](int v) -> int {
    throw std::runtime_error("failed at " + std::to_string(v) + "\n  because of this; missing:\n  a\n  b");
  });
  EXPECT_EQ(status, 1);
  EXPECT_EQ(err.str(), "tool: failed at 7; because of this; missing: a; b\n");
  std::ostringstream out2, err2;
  EXPECT_EQ(cli::run_tool("tool", "usage: tool\n", 1, argv, out2, err2, parse, [](int v) { return v - 4; }), 3);
  EXPECT_TRUE(err2.str().empty());
}

// 4294967297 used to wrap to 1 and 99999999999 to about 1.2 billion threads.
TEST(RunTool, ThreadCountsOutOfRangeAreUsageErrors) {
  for (const auto& [tool, main] : tools()) {
    if (tool != "rtseg_infer" && tool != "rtseg_bench") continue;
    for (const std::string n : {"4294967297", "99999999999", "1025", "0", "99999999999999999999"}) {
      SCOPED_TRACE(tool + " --threads " + n);
      const Result r = call(main, {tool, "--threads", n});
      EXPECT_EQ(r.status, 2);
      EXPECT_NE(r.err.find("--threads"), std::string::npos) << r.err;
      EXPECT_NE(r.err.find(n), std::string::npos) << r.err;
    }
  }
}
