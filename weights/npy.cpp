#include "weights/npy.h"

#include <cctype>
#include <cstring>
#include <map>
#include <sstream>

#include "runtime/atomic_file.h"
#include "weights/tensor_dict.h"

namespace cudaseg::weights {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

struct DTypeCode {
  const char* descr;
  DType dtype;
};
constexpr DTypeCode kCodes[] = {{"<f4", DType::f32}, {"<f8", DType::f64}, {"<f2", DType::f16}, {"<i8", DType::i64},
                                {"<i4", DType::i32}, {"|u1", DType::u8},  {"|b1", DType::boolean}};

std::string supported_list() {
  std::string s;
  for (const auto& c : kCodes) s += (s.empty() ? "" : " ") + std::string(c.descr);
  return s;
}

// The header is a Python dict literal; only the forms numpy writes are read:
// quoted strings, True/False and tuples of non-negative integers.
class HeaderParser {
 public:
  HeaderParser(std::string text, std::string source) : s_(std::move(text)), source_(std::move(source)) {}

  struct Value {
    std::string str;
    bool boolean = false;
    Shape tuple;
    char kind = 0;  // 's', 'b', 't'
  };

  std::map<std::string, Value> parse() {
    std::map<std::string, Value> out;
    expect('{');
    while (true) {
      skip();
      if (peek() == '}') break;
      const std::string key = quoted();
      expect(':');
      skip();
      if (!out.emplace(key, value()).second) fail("key '" + key + "' repeated");
      skip();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() != '}') fail("expected ',' or '}'");
    }
    ++i_;
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
    if (i_ != s_.size()) fail("text after the dict");
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    CUDASEG_FAIL(source_, ": malformed .npy header (", why, " at character ", i_, "): ",
                 s_.size() > 200 ? s_.substr(0, 200) + "..." : s_);
  }
  void skip() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void expect(char c) {
    skip();
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  std::string quoted() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    const size_t end = s_.find(q, i_ + 1);
    if (end == std::string::npos) fail("unterminated string");
    std::string out = s_.substr(i_ + 1, end - i_ - 1);
    i_ = end + 1;
    return out;
  }
  Value value() {
    Value v;
    if (peek() == '\'' || peek() == '"') {
      v.kind = 's';
      v.str = quoted();
    } else if (s_.compare(i_, 4, "True") == 0 || s_.compare(i_, 5, "False") == 0) {
      v.kind = 'b';
      v.boolean = s_[i_] == 'T';
      i_ += v.boolean ? 4 : 5;
    } else if (peek() == '(') {
      v.kind = 't';
      ++i_;
      while (true) {
        skip();
        if (peek() == ')') break;
        if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("expected a non-negative integer");
        size_t used = 0;
        const std::string digits = s_.substr(i_, 20);
        unsigned long long n = 0;
        try {
          n = std::stoull(digits, &used);
        } catch (const std::exception&) {
          fail("dimension out of range");
        }
        if (n > (1ull << 62)) fail("dimension out of range");
        v.tuple.push_back(static_cast<int64_t>(n));
        if (v.tuple.size() > 16) fail("more than 16 dimensions");
        i_ += used;
        skip();
        if (peek() == ',') ++i_;
        else if (peek() != ')') fail("expected ',' or ')'");
      }
      ++i_;
    } else {
      fail("expected a string, True, False or a tuple");
    }
    return v;
  }

  std::string s_, source_;
  size_t i_ = 0;
};

uint32_t read_le(const uint8_t* p, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

Tensor parse_npy(const Bytes& bytes, const std::string& source) {
  CUDASEG_CHECK(bytes.size >= kMagicSize + 4 && std::memcmp(bytes.data, kMagic, kMagicSize) == 0, source,
                ": not a .npy file (no \\x93NUMPY magic)");
  const int major = bytes.data[6], minor = bytes.data[7];
  CUDASEG_CHECK((major == 1 || major == 2 || major == 3) && minor == 0, source, ": unsupported .npy version ",
                major, ".", minor, " (supported: 1.0, 2.0, 3.0)");
  const int len_bytes = major == 1 ? 2 : 4;
  CUDASEG_CHECK(bytes.size >= 8u + len_bytes, source, ": truncated .npy header");
  const uint64_t header_len = read_le(bytes.data + 8, len_bytes);
  const uint64_t data_start = 8 + len_bytes + header_len;
  CUDASEG_CHECK(data_start <= bytes.size, source, ": .npy header of ", header_len, " bytes runs past the end of the ",
                bytes.size, "-byte file");
  std::string header(reinterpret_cast<const char*>(bytes.data) + 8 + len_bytes, header_len);
  while (!header.empty() && (header.back() == '\n' || header.back() == ' ')) header.pop_back();

  const auto dict = HeaderParser(header, source).parse();
  for (const auto& [key, v] : dict)
    CUDASEG_CHECK(key == "descr" || key == "fortran_order" || key == "shape", source, ": unexpected .npy header key '",
                  key, "'");
  auto need = [&](const char* key, char kind, const char* what) -> const HeaderParser::Value& {
    auto it = dict.find(key);
    CUDASEG_CHECK(it != dict.end(), source, ": .npy header lacks '", key, "'");
    CUDASEG_CHECK(it->second.kind == kind, source, ": .npy header '", key, "' must be ", what);
    return it->second;
  };
  const std::string descr = need("descr", 's', "a dtype string").str;
  const bool fortran = need("fortran_order", 'b', "True or False").boolean;
  const Shape shape = need("shape", 't', "a tuple").tuple;
  CUDASEG_CHECK(!fortran, source, ": Fortran-order arrays are not supported; save np.ascontiguousarray(a)");
  const DTypeCode* code = nullptr;
  for (const auto& c : kCodes)
    if (descr == c.descr) code = &c;
  CUDASEG_CHECK(code, source, ": unsupported .npy dtype '", descr, "' (supported: ", supported_list(), ")");

  const uint64_t nbytes = checked_nbytes(shape, code->dtype, source);
  CUDASEG_CHECK(bytes.size - data_start == nbytes, source, ": .npy data holds ", bytes.size - data_start,
                " bytes but ", descr, " ", shape_str(shape), " needs ", nbytes);
  const Bytes data = bytes.sub(data_start, nbytes, source);
  if (code->dtype == DType::boolean)
    for (size_t i = 0; i < data.size; ++i)
      CUDASEG_CHECK(data.data[i] <= 1, source, ": bool element ", i, " is ", int(data.data[i]), ", not 0 or 1");
  return tensor_over_bytes(data, code->dtype, shape, contiguous_strides(shape), 0, source);
}

Tensor read_npy(const std::string& path) { return parse_npy(map_file(path), path); }

std::vector<uint8_t> npy_bytes(const Tensor& tensor) {
  CUDASEG_CHECK(tensor.defined(), "npy: cannot write an undefined tensor");
  const DTypeCode* code = nullptr;
  for (const auto& c : kCodes)
    if (c.dtype == tensor.dtype()) code = &c;
  CUDASEG_CHECK(code, "npy: no .npy dtype for ", dtype_name(tensor.dtype()), " (supported: ", supported_list(), ")");
  std::ostringstream dict;
  dict << "{'descr': '" << code->descr << "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < tensor.shape().size(); ++i) dict << (i ? ", " : "") << tensor.shape()[i];
  dict << (tensor.shape().size() == 1 ? ",), }" : "), }");
  std::string header = dict.str();
  // numpy 1.24's layout, byte for byte: room for the first axis to grow to
  // 21 digits, then spaces up to a multiple of 64 (a whole 64 when already
  // aligned) and '\n'.
  if (!tensor.shape().empty()) header.append(21 - std::to_string(tensor.shape()[0]).size(), ' ');
  // At most 16 dims keep the header far below version 1.0's 65535 bytes.
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  std::vector<uint8_t> out(kMagic, kMagic + kMagicSize);
  out.push_back(1);
  out.push_back(0);
  out.push_back(static_cast<uint8_t>(header.size()));
  out.push_back(static_cast<uint8_t>(header.size() >> 8));
  out.insert(out.end(), header.begin(), header.end());
  const std::vector<uint8_t> data = contiguous_bytes(tensor.device().is_cpu() ? tensor : tensor.to(Device::cpu()));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

void write_npy(const std::string& path, const Tensor& tensor) {
  const std::vector<uint8_t> bytes = npy_bytes(tensor);
  AtomicFile file(path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

}  // namespace cudaseg::weights
