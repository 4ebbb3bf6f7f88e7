#include "cli/args.h"

#include <cerrno>
#include <cmath>
#include <sstream>
#include <cstdlib>

namespace cudaseg::cli {

std::array<int64_t, 2> parse_size(const std::string& flag, const std::string& text) {
  const size_t x = text.find_first_of("xX");
  if (x != std::string::npos) {
    try {
      const std::array<int64_t, 2> hw{parse_int(flag, text.substr(0, x), 1), parse_int(flag, text.substr(x + 1), 1)};
      return hw;
    } catch (const UsageError&) {
    }
  }
  throw UsageError{flag + " wants HxW with positive integers, got '" + text + "'"};
}

bool parse_on_off(const std::string& flag, const std::string& text) {
  if (text == "on") return true;
  if (text == "off") return false;
  throw UsageError{flag + " wants on or off, got '" + text + "'"};
}

int64_t parse_int(const std::string& flag, const std::string& text, int64_t min_value) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < min_value)
    throw UsageError{flag + " wants an integer >= " + std::to_string(min_value) + ", got '" + text + "'"};
  if (errno == ERANGE) throw UsageError{flag + " value '" + text + "' is out of range"};
  return v;
}

int64_t parse_int(const std::string& flag, const std::string& text, int64_t min_value, int64_t max_value) {
  const int64_t v = parse_int(flag, text, min_value);
  if (v > max_value) {
    throw UsageError{flag + " wants an integer in [" + std::to_string(min_value) + ", " + std::to_string(max_value) +
                     "], got '" + text + "'"};
  }
  return v;
}

double parse_double(const std::string& flag, const std::string& text, double lo, double hi) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v) || v < lo || v > hi)
  {
    std::ostringstream os;
    os << flag << " wants a number in [" << lo << ", " << hi << "], got '" << text << "'";
    throw UsageError{os.str()};
  }
  return v;
}

bool wants_help(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") return true;
  }
  return false;
}

std::string one_line(std::string text) {
  for (size_t pos; (pos = text.find('\n')) != std::string::npos;) {
    size_t end = pos + 1;
    while (end < text.size() && text[end] == ' ') ++end;
    // A line ending in ':' introduces the next one ("missing:\n  a.weight").
    text.replace(pos, end - pos, pos > 0 && text[pos - 1] == ':' ? " " : "; ");
  }
  return text;
}

std::string ArgReader::value(const std::string& flag) {
  if (i_ >= argc_) throw UsageError{flag + " needs a value"};
  return argv_[i_++];
}

}  // namespace cudaseg::cli
