// What the command lines of cli/ share: the frame of every *_main (help,
// usage errors, runtime errors, exit statuses), usage errors, numbers and
// sizes.
#pragma once

#include <array>
#include <cstdint>
#include <exception>
#include <ostream>
#include <string>
#include <utility>

namespace cudaseg::cli {

// A command-line mistake: the CLI prints it on one line and exits 2.
struct UsageError {
  std::string message;
};

// "HxW" with positive integers, else UsageError naming `flag`.
std::array<int64_t, 2> parse_size(const std::string& flag, const std::string& text);
int64_t parse_int(const std::string& flag, const std::string& text, int64_t min_value);
// The same within [min_value, max_value].
int64_t parse_int(const std::string& flag, const std::string& text, int64_t min_value, int64_t max_value);
// "on" or "off", else UsageError naming `flag`.
bool parse_on_off(const std::string& flag, const std::string& text);
double parse_double(const std::string& flag, const std::string& text, double lo, double hi);

// The text with its newlines (and the indentation after them) turned into
// "; ", or into " " after a colon.
std::string one_line(std::string text);

// True when argv asks for the usage text (-h or --help anywhere).
bool wants_help(int argc, const char* const* argv);

// The frame every tool's *_main shares, so the tools answer alike: a help
// request prints `usage` (exit 0); `parse(argc, argv)` builds the tool's
// arguments, and a UsageError is one line "tool: message (see tool --help)"
// (exit 2); `run(args)` does the work and returns the exit status, and an
// exception is one line "tool: message" (exit 1).
template <typename Parse, typename Run>
int run_tool(const char* tool, const std::string& usage, int argc, const char* const* argv, std::ostream& out,
             std::ostream& err, Parse&& parse, Run&& run) {
  if (wants_help(argc, argv)) {
    out << usage;
    return 0;
  }
  decltype(parse(argc, argv)) args;
  try {
    args = parse(argc, argv);
  } catch (const UsageError& e) {
    err << tool << ": " << one_line(e.message);
    if (e.message.find("--help") == std::string::npos) err << " (see " << tool << " --help)";
    err << '\n';
    return 2;
  }
  try {
    return run(std::as_const(args));
  } catch (const std::exception& e) {
    err << tool << ": " << one_line(e.what()) << '\n';
    return 1;
  }
}

// Walks argv: next() returns the next argument, value() the value of the
// current flag (UsageError when it is missing).
class ArgReader {
 public:
  ArgReader(int argc, const char* const* argv) : argc_(argc), argv_(argv) {}
  bool done() const { return i_ >= argc_; }
  std::string next() { return argv_[i_++]; }
  std::string value(const std::string& flag);

 private:
  int argc_;
  const char* const* argv_;
  int i_ = 1;
};

}  // namespace cudaseg::cli
