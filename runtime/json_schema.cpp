#include "runtime/json_schema.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "runtime/error.h"

namespace cudaseg::schema {
namespace {

std::string number_text(double v) {
  std::ostringstream os;
  // Whole bounds up to 2^49 in full (1048576, not 1.04858e+06).
  os << std::setprecision(15) << v;
  return os.str();
}

std::string range_text(const Key& k) {
  if (k.min && k.max) return " in [" + number_text(*k.min) + ", " + number_text(*k.max) + "]";
  if (k.min) return " >= " + number_text(*k.min);
  if (k.max) return " <= " + number_text(*k.max);
  return "";
}

bool in_range(const Key& k, const Json& v) {
  const double d = v.get<double>();
  return (!k.min || d >= *k.min) && (!k.max || d <= *k.max);
}

bool is_element(const Key& k, const Json& e) {
  return (k.type == Type::integers ? e.is_number_integer() : e.is_number()) && in_range(k, e);
}

bool accepts(const Key& k, const Json& v) {
  switch (k.type) {
    case Type::any: return true;
    case Type::boolean: return v.is_boolean();
    case Type::integer: return v.is_number_integer() && in_range(k, v);
    case Type::number: return v.is_number() && in_range(k, v);
    case Type::string: return v.is_string();
    case Type::numbers:
    case Type::integers:
      return v.is_array() && (k.length < 0 || static_cast<int>(v.size()) == k.length) &&
             std::all_of(v.begin(), v.end(), [&](const Json& e) { return is_element(k, e); });
    case Type::number_map:
      return v.is_object() && std::all_of(v.begin(), v.end(), [](const Json& e) { return e.is_number(); });
    case Type::size:
      return v.is_array() && v.size() == 2 &&
             std::all_of(v.begin(), v.end(), [](const Json& e) { return e.is_number_integer() && e.get<int64_t>() > 0; });
    case Type::object: return v.is_object();
  }
  return false;
}

std::string type_name(Type t) {
  switch (t) {
    case Type::any: return "any";
    case Type::boolean: return "bool";
    case Type::integer: return "integer";
    case Type::number: return "number";
    case Type::string: return "string";
    case Type::numbers: return "numbers";
    case Type::integers: return "integers";
    case Type::number_map: return "number_map";
    case Type::size: return "[height, width]";
    case Type::object: return "object";
  }
  return "";
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string choices_text(const std::vector<Json>& choices, bool quoted) {
  std::vector<std::string> names;
  for (const auto& c : choices) names.push_back(quoted || !c.is_string() ? c.dump() : c.get<std::string>());
  return join_names(names);
}

Json resolve_value(const Key& k, const Json& v, const std::string& p) {
  if (v.is_null() && k.nullable) return nullptr;
  if (k.type == Type::object) return resolve(k.keys, v, p);
  // JSON integers past 2^64 - 1 parse as floats: "expected an integer >= 0"
  // would call 18446744073709551616 something it is not.
  CUDASEG_CHECK(!(k.type == Type::integer && v.is_number_float() && std::fabs(v.get<double>()) >= 9223372036854775808.0),
                p, ": ", v.dump(), " is beyond the 64-bit integers (at most 18446744073709551615 for a seed, ",
                "9223372036854775807 otherwise)");
  CUDASEG_CHECK(accepts(k, v), p, ": expected ", expectation(k), ", got ", v.dump());
  if (!k.choices.empty() && std::find(k.choices.begin(), k.choices.end(), v) == k.choices.end()) {
    std::string hint;
    if (v.is_string()) {
      std::vector<std::string> names;
      for (const auto& c : k.choices)
        if (c.is_string()) names.push_back(c.get<std::string>());
      const std::string near = nearest(v.get<std::string>(), names);
      if (!near.empty()) hint = " (did you mean \"" + near + "\"?)";
    }
    CUDASEG_FAIL(p, ": expected ", expectation(k), ", got ", v.dump(), hint);
  }
  return v;
}

}  // namespace

Key object_key(std::string name, std::string help, std::vector<Key> keys, bool nullable) {
  Key k{std::move(name), Type::object, nullable ? Json(nullptr) : Json::object(), std::move(help)};
  k.nullable = nullable;
  k.keys = std::move(keys);
  return k;
}

std::string path(const std::string& where, const std::string& name) {
  return where.empty() ? name : where + "." + name;
}

std::string expectation(const Key& k) {
  std::string what;
  if (!k.choices.empty()) {
    what = "one of " + choices_text(k.choices, true);
  } else {
    const std::string n = k.length >= 0 ? std::to_string(k.length) + " " : "";
    switch (k.type) {
      case Type::any: what = "any value"; break;
      case Type::boolean: what = "true or false"; break;
      case Type::integer:
        what = k.min == 1.0 && !k.max ? "a positive integer" : "an integer" + range_text(k);
        break;
      case Type::number: what = "a number" + range_text(k); break;
      case Type::string: what = "a string"; break;
      case Type::numbers: what = "a list of " + n + "numbers" + range_text(k); break;
      case Type::integers: what = "a list of " + n + "integers" + range_text(k); break;
      case Type::number_map: what = "an object of numbers"; break;
      case Type::size: what = "[height, width] (positive integers)"; break;
      case Type::object: what = "a JSON object"; break;
    }
  }
  return k.nullable ? "null or " + what : what;
}

Json resolve(const std::vector<Key>& keys, const Json& given, const std::string& where) {
  CUDASEG_CHECK(given.is_null() || given.is_object(), where.empty() ? "" : where + ": ",
                "expected a JSON object, got ", given.dump());
  std::vector<std::string> names;
  for (const Key& k : keys) names.push_back(k.name);
  if (given.is_object()) {
    for (const auto& item : given.items()) {
      if (std::find(names.begin(), names.end(), item.key()) != names.end()) continue;
      const std::string near = nearest(item.key(), names);
      CUDASEG_FAIL("unknown key '", item.key(), "'", where.empty() ? "" : " in " + where,
                   near.empty() ? "" : " (did you mean '" + near + "'?)", "; accepted: ", join_names(names));
    }
  }
  Json out = Json::object();
  for (const Key& k : keys) {
    const std::string p = path(where, k.name);
    if (given.is_object() && given.contains(k.name)) {
      out[k.name] = resolve_value(k, given[k.name], p);
    } else {
      CUDASEG_CHECK(!k.required, p, ": required, expected ", expectation(k));
      out[k.name] = k.type == Type::object && !k.nullable ? resolve(k.keys, nullptr, p) : k.default_value;
    }
  }
  return out;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

std::string nearest(const std::string& name, const std::vector<std::string>& accepted) {
  std::string best;
  size_t best_distance = 0;
  for (const auto& a : accepted) {
    const size_t d = edit_distance(name, a);
    // A distance as large as the shorter name replaces it wholesale: no typo.
    if (d > std::max<size_t>(2, name.size() / 3) || d >= std::min(name.size(), a.size())) continue;
    if (best.empty() || d < best_distance) {
      best = a;
      best_distance = d;
    }
  }
  return best;
}

std::string describe(const std::vector<Key>& keys, const std::string& indent) {
  std::ostringstream os;
  for (const Key& k : keys) {
    os << indent << k.name << " (" << type_name(k.type);
    if (k.required) {
      os << ", required";
    } else if (k.type != Type::object || k.nullable) {
      os << ", default " << k.default_value.dump();
    }
    os << "): " << k.help;
    if (!k.choices.empty()) os << " [" << choices_text(k.choices, false) << "]";
    if (k.type != Type::size && !range_text(k).empty()) os << " (" << range_text(k).substr(1) << ")";
    os << "\n";
    if (k.type == Type::object) os << describe(k.keys, indent + "  ");
  }
  return os.str();
}

}  // namespace cudaseg::schema
