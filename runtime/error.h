// cudaseg::Error: the one exception type of the library. It carries a message
// (the op, the argument, the shapes) and an optional context chain (the layer
// or file it happened in), outermost first in what().
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg {

// What kind of failure an Error reports, for callers that react differently
// (the C API's statuses). The kind travels through with_context(), which a
// subclass would not: it copies the error as an Error.
enum class ErrorKind { general, out_of_memory };

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, ErrorKind kind = ErrorKind::general);

  // The message without context.
  const std::string& message() const { return message_; }
  const std::vector<std::string>& context() const { return context_; }
  ErrorKind kind() const { return kind_; }

  // Returns a copy with `where` prepended to the context ("backbone.layer1.0: ...").
  Error with_context(const std::string& where) const;

 private:
  Error(std::string message, std::vector<std::string> context, ErrorKind kind);
  static std::string compose(const std::string& message, const std::vector<std::string>& context);
  std::string message_;
  std::vector<std::string> context_;
  ErrorKind kind_ = ErrorKind::general;
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace cudaseg

// Throws cudaseg::Error with the streamed message when `cond` is false.
#define CUDASEG_CHECK(cond, ...)                                       \
  do {                                                                 \
    if (!(cond)) throw ::cudaseg::Error(::cudaseg::detail::concat(__VA_ARGS__)); \
  } while (0)

#define CUDASEG_FAIL(...) throw ::cudaseg::Error(::cudaseg::detail::concat(__VA_ARGS__))

// An allocation that the host or a device refused: ErrorKind::out_of_memory.
#define CUDASEG_FAIL_OOM(...) \
  throw ::cudaseg::Error(::cudaseg::detail::concat(__VA_ARGS__), ::cudaseg::ErrorKind::out_of_memory)

CUDASEG_API_END
