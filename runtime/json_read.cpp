#include "runtime/json_read.h"

#include "runtime/error.h"

namespace cudaseg {

void check_json_depth(const std::string& text, const std::string& source) {
  size_t depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      CUDASEG_CHECK(++depth <= kMaxJsonDepth, source, ": JSON nested deeper than ", kMaxJsonDepth,
                    " levels (at byte ", i, "); refused before it could exhaust the stack");
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}

nlohmann::json parse_json(const std::string& text, const std::string& source) {
  check_json_depth(text, source);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number like 6e405
    CUDASEG_FAIL(source, ": not valid JSON: ", e.what());
  }
}

}  // namespace cudaseg
