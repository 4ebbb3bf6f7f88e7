// Levelled logging to stderr. The level starts from CUDASEG_LOG_LEVEL
// (debug, info, warn, error, off; default info) and can be set at run time.
#pragma once

#include <sstream>
#include <string>

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

void set_log_level(LogLevel level);
LogLevel log_level();
LogLevel parse_log_level(const std::string& name);  // throws on an unknown name
void log_message(LogLevel level, const std::string& message);

// Where messages go instead of stderr (the C API's logging callback), for
// the whole process; null goes back to stderr. Messages reach the sink one
// at a time, from whichever thread logs, and once set_log_sink returns the
// previous sink is no longer running, so its user data may be released.
using LogSink = void (*)(LogLevel level, const char* message, void* user_data);
void set_log_sink(LogSink sink, void* user_data);

}  // namespace cudaseg

#define CUDASEG_LOG(level, ...)                                                  \
  do {                                                                           \
    if (static_cast<int>(level) >= static_cast<int>(::cudaseg::log_level())) {   \
      ::cudaseg::log_message(level, ::cudaseg::detail_log_concat(__VA_ARGS__));  \
    }                                                                            \
  } while (0)
#define CUDASEG_LOG_DEBUG(...) CUDASEG_LOG(::cudaseg::LogLevel::debug, __VA_ARGS__)
#define CUDASEG_LOG_INFO(...) CUDASEG_LOG(::cudaseg::LogLevel::info, __VA_ARGS__)
#define CUDASEG_LOG_WARN(...) CUDASEG_LOG(::cudaseg::LogLevel::warn, __VA_ARGS__)
#define CUDASEG_LOG_ERROR(...) CUDASEG_LOG(::cudaseg::LogLevel::error, __VA_ARGS__)

namespace cudaseg {
template <typename... Args>
std::string detail_log_concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace cudaseg
CUDASEG_API_END
