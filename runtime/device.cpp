#include "runtime/device.h"

#include <cctype>

#include "runtime/error.h"

namespace cudaseg {

Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5) {
    const std::string digits = text.substr(5);
    bool ok = digits.size() < 6;
    for (char c : digits) ok = ok && std::isdigit(static_cast<unsigned char>(c));
    if (ok) return cuda(std::stoi(digits));
  }
  CUDASEG_FAIL("invalid device '", text, "' (accepted: cpu, cuda, cuda:N)");
}

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

}  // namespace cudaseg
