#include "runtime/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "runtime/error.h"

namespace cudaseg {
namespace {

LogLevel initial_level() {
  const char* env = std::getenv("CUDASEG_LOG_LEVEL");
  if (!env) return LogLevel::info;
  try {
    return parse_log_level(env);
  } catch (const Error&) {
    return LogLevel::info;
  }
}

std::atomic<int>& level_storage() {
  static std::atomic<int> level{static_cast<int>(initial_level())};
  return level;
}

}  // namespace

void set_log_level(LogLevel level) { level_storage() = static_cast<int>(level); }
LogLevel log_level() { return static_cast<LogLevel>(level_storage().load()); }

LogLevel parse_log_level(const std::string& name) {
  if (name == "debug") return LogLevel::debug;
  if (name == "info") return LogLevel::info;
  if (name == "warn" || name == "warning") return LogLevel::warn;
  if (name == "error") return LogLevel::error;
  if (name == "off") return LogLevel::off;
  CUDASEG_FAIL("unknown log level '", name, "' (accepted: debug, info, warn, error, off)");
}

namespace {

struct Sink {
  std::mutex mutex;
  LogSink sink = nullptr;
  void* user_data = nullptr;
};

Sink& sink_state() {
  // Leaked: threads may log while static destructors run.
  static Sink* s = new Sink;
  return *s;
}

}  // namespace

void set_log_sink(LogSink sink, void* user_data) {
  Sink& s = sink_state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.sink = sink;
  s.user_data = user_data;
}

void log_message(LogLevel level, const std::string& message) {
  static const char* names[] = {"debug", "info", "warn", "error", "off"};
  Sink& s = sink_state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.sink)
    s.sink(level, message.c_str(), s.user_data);
  else
    std::fprintf(stderr, "[cudaseg %s] %s\n", names[static_cast<int>(level)], message.c_str());
}

}  // namespace cudaseg
