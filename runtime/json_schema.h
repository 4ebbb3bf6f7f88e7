// One validator for the JSON objects the library reads from users: the net
// registry's model arguments, the run config's sections and the data config.
// A schema lists each key with its type, default, allowed values or range and
// help; `resolve` checks a given object against it and fills the defaults, and
// `describe` prints it for --help, so the checks, the defaults and the help
// cannot drift apart. Errors name the key's path ("optimizer.lr",
// "augment.jitter.hue") and, for an unknown key or choice, suggest the nearest
// accepted one when it is close enough to be a typo.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cudaseg::schema {

using Json = nlohmann::json;

enum class Type {
  any,         // anything; its owner validates it
  boolean,
  integer,
  number,      // an integer is a number too
  string,
  numbers,     // list of numbers
  integers,    // list of integers
  number_map,  // object of numbers
  size,        // [height, width], positive integers
  object,      // a nested schema (`keys`)
};

struct Key {
  std::string name;
  Type type = Type::any;
  Json default_value = nullptr;
  std::string help = "";
  std::vector<Json> choices = {};  // empty: any value of the type
  // integer and number: the value's range; numbers and integers: each element's.
  std::optional<double> min = std::nullopt;
  std::optional<double> max = std::nullopt;
  int length = -1;          // lists: the required length, -1 any
  bool nullable = false;    // null is accepted (and kept)
  bool required = false;    // no default: the key must be given
  std::vector<Key> keys = {};  // object: its keys
};

// A key holding a nested object with its own keys; absent, it is resolved
// from {} (every default), unless `nullable`, when it stays null.
Key object_key(std::string name, std::string help, std::vector<Key> keys, bool nullable = false);

// Checks `given` (an object, or null for {}) against `keys` and returns it
// with every absent key set to its default. `where` is the object's path in
// errors ("loss", "augment.jitter"; empty for a top-level object). Throws
// cudaseg::Error naming the key's path for an unknown or missing key, a wrong
// type, a value out of range or not among the choices.
Json resolve(const std::vector<Key>& keys, const Json& given, const std::string& where);

// "where.name", or "name" at the top level.
std::string path(const std::string& where, const std::string& name);

// What a key accepts, as errors say it: "a positive integer", "one of ...".
std::string expectation(const Key& key);

// Optimal-string-alignment distance: insertions, deletions, substitutions and
// adjacent transpositions ("widht" is 1 from "width").
size_t edit_distance(const std::string& a, const std::string& b);

// The accepted name nearest `name` if it is close enough to be a typo
// (distance <= max(2, length / 3) and less than the shorter name's length),
// else "".
std::string nearest(const std::string& name, const std::vector<std::string>& accepted);

// One line per key, nested objects indented further:
// "<indent>name (type, default D): help [choices] (range)".
std::string describe(const std::vector<Key>& keys, const std::string& indent);

}  // namespace cudaseg::schema
