// JSON read from files and command lines goes through parse_json. nlohmann's
// parser and destructor are iterative, but dump(), copies and comparisons
// recurse once per nesting level, so a value nested 100,000 deep parses and
// then overflows the stack wherever it is used. Bounding the depth where the
// text is read names the file, and nothing a user writes nests this deep.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace cudaseg {

inline constexpr size_t kMaxJsonDepth = 512;

// Throws cudaseg::Error naming `source` and the byte offset when `text` opens
// more than kMaxJsonDepth arrays and objects inside each other.
void check_json_depth(const std::string& text, const std::string& source);

// check_json_depth, then the parse; a syntax error names `source`.
nlohmann::json parse_json(const std::string& text, const std::string& source);

}  // namespace cudaseg
