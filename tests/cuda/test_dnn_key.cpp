// The key of cuDNN's convolution state (cuda/dnn_key.h): plain C++, so these
// tests run without a GPU.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "cuda/dnn_key.h"

namespace cudaseg::cuda {
namespace {

ConvKey sample_key() {
  ConvKey k;
  k.device = 0;
  k.direction = ConvDirection::forward;
  k.dtype = DType::f16;
  k.layout = ConvLayout::nchw;
  k.math = ConvMath::tensor_op;
  k.n = 1;
  k.c = 64;
  k.h = 128;
  k.w = 256;
  k.o = 128;
  k.kh = 3;
  k.kw = 3;
  k.pad_h = 1;
  k.pad_w = 1;
  k.stride_h = 2;
  k.stride_w = 2;
  k.dilation_h = 1;
  k.dilation_w = 1;
  k.groups = 1;
  return k;
}

// One change per field, in the order of ConvKey::fields().
std::vector<std::function<void(ConvKey&)>> field_changes() {
  return {
      [](ConvKey& k) { k.device = 1; },
      [](ConvKey& k) { k.direction = ConvDirection::backward_data; },
      [](ConvKey& k) { k.dtype = DType::bf16; },
      [](ConvKey& k) { k.layout = ConvLayout::nhwc; },
      [](ConvKey& k) { k.math = ConvMath::fma; },
      [](ConvKey& k) { k.n = 2; },
      [](ConvKey& k) { k.c = 32; },
      [](ConvKey& k) { k.h = 129; },
      [](ConvKey& k) { k.w = 255; },
      [](ConvKey& k) { k.o = 64; },
      [](ConvKey& k) { k.kh = 1; },
      [](ConvKey& k) { k.kw = 5; },
      [](ConvKey& k) { k.pad_h = 0; },
      [](ConvKey& k) { k.pad_w = 2; },
      [](ConvKey& k) { k.stride_h = 1; },
      [](ConvKey& k) { k.stride_w = 1; },
      [](ConvKey& k) { k.dilation_h = 2; },
      [](ConvKey& k) { k.dilation_w = 2; },
      [](ConvKey& k) { k.groups = 64; },
  };
}

TEST(DnnKey, EqualKeysAreEqualAndHashAlike) {
  const ConvKey a = sample_key(), b = sample_key();
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a != b);
  EXPECT_EQ(ConvKeyHash{}(a), ConvKeyHash{}(b));
}

TEST(DnnKey, EveryFieldTakesPart) {
  const auto changes = field_changes();
  // A field added to the key without a change here fails this line.
  ASSERT_EQ(changes.size(), std::tuple_size_v<decltype(sample_key().fields())>);
  const ConvKey base = sample_key();
  std::set<size_t> hashes{ConvKeyHash{}(base)};
  for (size_t i = 0; i < changes.size(); ++i) {
    ConvKey k = sample_key();
    changes[i](k);
    EXPECT_FALSE(k == base) << "field " << i;
    EXPECT_TRUE(k != base) << "field " << i;
    EXPECT_NE(ConvKeyHash{}(k), ConvKeyHash{}(base)) << "field " << i;
    hashes.insert(ConvKeyHash{}(k));
  }
  // The one-field neighbours of a key all hash apart from each other too.
  EXPECT_EQ(hashes.size(), changes.size() + 1);
}

// Two fields swapping their values (a 3x1 and a 1x3 kernel, H and W of a
// transposed image) are different convolutions and should not collide.
TEST(DnnKey, SwappedFieldsDiffer) {
  ConvKey a = sample_key(), b = sample_key();
  a.kh = 3;
  a.kw = 1;
  b.kh = 1;
  b.kw = 3;
  EXPECT_FALSE(a == b);
  EXPECT_NE(ConvKeyHash{}(a), ConvKeyHash{}(b));
  a = sample_key();
  b = sample_key();
  std::swap(b.h, b.w);
  EXPECT_FALSE(a == b);
  EXPECT_NE(ConvKeyHash{}(a), ConvKeyHash{}(b));
}

// The table dnn.cpp keeps: the convolutions of a net at a few sizes, in both
// directions, found again by value and spread over the buckets.
TEST(DnnKey, WorksAsAnUnorderedMapKey) {
  std::unordered_map<ConvKey, int, ConvKeyHash> table;
  int next = 0;
  for (int32_t size : {64, 128, 256, 512})
    for (int32_t c : {3, 32, 64, 128, 256})
      for (ConvDirection d : {ConvDirection::forward, ConvDirection::backward_data, ConvDirection::backward_filter}) {
        ConvKey k = sample_key();
        k.h = size;
        k.w = 2 * size;
        k.c = c;
        k.direction = d;
        EXPECT_TRUE(table.emplace(k, next++).second);
      }
  ASSERT_EQ(table.size(), 60u);
  ConvKey probe = sample_key();
  probe.h = 256;
  probe.w = 512;
  probe.c = 64;
  probe.direction = ConvDirection::backward_data;
  ASSERT_EQ(table.count(probe), 1u);
  EXPECT_EQ(table.at(probe), ((2 * 5) + 2) * 3 + 1);
  std::set<size_t> buckets;
  for (const auto& entry : table) buckets.insert(table.bucket(entry.first));
  EXPECT_GE(buckets.size(), 30u) << "60 keys in " << table.bucket_count() << " buckets";
}

}  // namespace
}  // namespace cudaseg::cuda
