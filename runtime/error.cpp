#include "runtime/error.h"

namespace cudaseg {

Error::Error(const std::string& message, ErrorKind kind) : Error(message, {}, kind) {}

Error::Error(std::string message, std::vector<std::string> context, ErrorKind kind)
    : std::runtime_error(compose(message, context)),
      message_(std::move(message)),
      context_(std::move(context)),
      kind_(kind) {}

Error Error::with_context(const std::string& where) const {
  std::vector<std::string> context;
  context.reserve(context_.size() + 1);
  context.push_back(where);
  context.insert(context.end(), context_.begin(), context_.end());
  return Error(message_, std::move(context), kind_);
}

std::string Error::compose(const std::string& message, const std::vector<std::string>& context) {
  std::string out;
  for (const auto& c : context) out += c + ": ";
  return out + message;
}

}  // namespace cudaseg
