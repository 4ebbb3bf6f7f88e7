// Argument helpers shared by the rtseg_infer and rtseg_bench command lines
// (cli/cli.h): usage errors, numbers and sizes.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace cudaseg::cli {

// A command-line mistake: the CLI prints it on one line and exits 2.
struct UsageError {
  std::string message;
};

// "HxW" with positive integers, else UsageError naming `flag`.
std::array<int64_t, 2> parse_size(const std::string& flag, const std::string& text);
int64_t parse_int(const std::string& flag, const std::string& text, int64_t min_value);
// "on" or "off", else UsageError naming `flag`.
bool parse_on_off(const std::string& flag, const std::string& text);
double parse_double(const std::string& flag, const std::string& text, double lo, double hi);

// The text with its newlines (and the indentation after them) turned into "; ".
std::string one_line(std::string text);

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
