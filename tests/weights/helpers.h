// Shared helpers of the weights tests: fixture paths, scratch folders,
// deterministic non-constant tensors, and byte-exact comparison.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/rng.h"
#include "runtime/tensor.h"
#include "weights/tensor_dict.h"

namespace cudaseg::weights::testing {

inline std::string pth_fixture(const std::string& name) { return std::string(CUDASEG_TEST_DATA) + "/pth/" + name; }

inline nlohmann::json expected_fixtures() {
  std::ifstream in(pth_fixture("expected.json"));
  return nlohmann::json::parse(in);
}

inline std::string hex_of(const Tensor& t) {
  static const char* const kHex = "0123456789abcdef";
  std::string out;
  for (uint8_t b : contiguous_bytes(t)) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

// A scratch folder removed (with its files) when the test ends.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/cudaseg-weights-test-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Distinct values per tensor and element (never all-zero or constant).
inline Tensor random_tensor(const Shape& shape, DType dtype, uint64_t seed) {
  Generator gen(seed);
  if (is_floating(dtype)) return gen.normal(shape, 0.0, 3.0, DType::f64).to(dtype);
  const double high = dtype == DType::boolean ? 2.0 : dtype == DType::u8 ? 256.0 : 1e6;
  const double low = dtype == DType::boolean || dtype == DType::u8 ? 0.0 : -1e6;
  Tensor u = gen.uniform(shape, low, high, DType::f64);
  std::vector<double> v = u.to_vector();
  for (double& x : v) x = static_cast<double>(static_cast<int64_t>(x));
  return Tensor::from_vector(v, shape, dtype);
}

inline TensorDict all_dtypes_dict(uint64_t seed) {
  TensorDict d;
  const DType dtypes[] = {DType::f32, DType::f16, DType::bf16, DType::f64,
                          DType::i64, DType::i32, DType::u8,  DType::boolean};
  int i = 0;
  for (DType dt : dtypes) {
    d.insert(std::string("t_") + dtype_name(dt), random_tensor({3, 5 + i}, dt, seed + static_cast<uint64_t>(i)));
    ++i;
  }
  d.insert("bn.num_batches_tracked", Tensor::from_vector({4242.0}, {}, DType::i64));
  return d;
}

inline void expect_same_tensors(const TensorDict& a, const TensorDict& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    const Tensor* u = b.find(name);
    ASSERT_NE(u, nullptr) << name;
    EXPECT_EQ(t.dtype(), u->dtype()) << name;
    EXPECT_EQ(t.shape(), u->shape()) << name;
    EXPECT_EQ(hex_of(t), hex_of(*u)) << name;
  }
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline bool file_exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

}  // namespace cudaseg::weights::testing
