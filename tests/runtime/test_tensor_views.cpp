// Views and strides against PyTorch: the expected shapes, strides and offsets
// below are what torch 1.13 reports for the same calls on a contiguous
// tensor of the same shape.
#include <gtest/gtest.h>

#include <limits>

#include "runtime/rng.h"
#include "runtime/tensor.h"
#include "runtime/thread_pool.h"

using namespace cudaseg;

namespace {
Tensor iota(const Shape& shape) { return Tensor::arange(shape_numel(shape), DType::f64).view(shape); }
}  // namespace

TEST(TensorViews, PermuteMatchesTorch) {
  // torch.arange(120.).view(2,3,4,5).permute(0,2,3,1).stride() == (60, 5, 1, 20)
  Tensor t = iota({2, 3, 4, 5}).permute({0, 2, 3, 1});
  EXPECT_EQ(t.shape(), (Shape{2, 4, 5, 3}));
  EXPECT_EQ(t.strides(), (Shape{60, 5, 1, 20}));
  EXPECT_FALSE(t.is_contiguous());
  Tensor c = t.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.strides(), (Shape{60, 15, 3, 1}));
  // element [1, 2, 3, 1] of the permuted view is x[1, 1, 2, 3] = 60 + 20 + 10 + 3
  EXPECT_EQ(c.to_vector()[1 * 60 + 2 * 15 + 3 * 3 + 1], 93.0);
}

TEST(TensorViews, SliceWithStepMatchesTorch) {
  // x = torch.arange(7*13.).view(7,13); y = x[1:6:2, 2::3]
  // y.shape == (3, 4), y.stride() == (26, 3), y.storage_offset() == 15
  Tensor y = iota({7, 13}).slice(0, 1, 6, 2).slice(1, 2, 13, 3);
  EXPECT_EQ(y.shape(), (Shape{3, 4}));
  EXPECT_EQ(y.strides(), (Shape{26, 3}));
  EXPECT_EQ(y.offset(), 15);
  EXPECT_EQ(y.to_vector(), (std::vector<double>{15, 18, 21, 24, 41, 44, 47, 50, 67, 70, 73, 76}));
  // Python-style clamping: x[-3:100] keeps the last three rows.
  Tensor z = iota({7, 13}).slice(0, -3, 100);
  EXPECT_EQ(z.shape(), (Shape{3, 13}));
  EXPECT_EQ(z.offset(), 4 * 13);
}

TEST(TensorViews, ExpandMatchesTorch) {
  // torch.arange(3.).view(3,1).expand(2,3,4): shape (2,3,4), stride (0,1,0)
  Tensor e = iota({3, 1}).expand({2, 3, 4});
  EXPECT_EQ(e.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(e.strides(), (Shape{0, 1, 0}));
  std::vector<double> v = e.contiguous().to_vector();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(v[i * 12 + j * 4 + k], j);
  Tensor keep = iota({3, 1}).expand({-1, 5});
  EXPECT_EQ(keep.shape(), (Shape{3, 5}));
  EXPECT_THROW(iota({3, 2}).expand({3, 4}), Error);
}

TEST(TensorViews, TransposeThenContiguousMatchesTorch) {
  // torch.arange(6.).view(2,3).t().contiguous().flatten() == [0,3,1,4,2,5]
  Tensor t = iota({2, 3}).transpose(0, 1);
  EXPECT_EQ(t.strides(), (Shape{1, 3}));
  EXPECT_EQ(t.contiguous().to_vector(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
}

TEST(TensorViews, ViewFollowsComputeStride) {
  Tensor x = iota({4, 6});
  // A split of a contiguous dim is a view.
  EXPECT_EQ(x.view({2, 2, 6}).strides(), (Shape{12, 6, 1}));
  // transpose(0,1).view(-1) is not viewable in torch either.
  EXPECT_THROW(x.transpose(0, 1).view({-1}), Error);
  // ... but reshape copies.
  EXPECT_EQ(x.transpose(0, 1).reshape({-1}).to_vector()[1], 6.0);
  // Merging dims that stay adjacent in memory after a slice is a view:
  // torch.arange(24.).view(4,6)[:, :3].view(2,2,3) has stride (12, 6, 1).
  Tensor s = x.slice(1, 0, 3).view({2, 2, 3});
  EXPECT_EQ(s.strides(), (Shape{12, 6, 1}));
  EXPECT_THROW(x.slice(1, 0, 3).view({12}), Error);
}

TEST(TensorViews, SqueezeUnsqueezeNarrowSelect) {
  Tensor x = iota({2, 1, 3});
  EXPECT_EQ(x.squeeze().shape(), (Shape{2, 3}));
  EXPECT_EQ(x.squeeze(1).shape(), (Shape{2, 3}));
  EXPECT_EQ(x.squeeze(0).shape(), (Shape{2, 1, 3}));
  // torch.arange(6.).view(2,1,3).unsqueeze(-1).stride() == (3, 3, 1, 1)
  EXPECT_EQ(x.unsqueeze(-1).strides(), (Shape{3, 3, 1, 1}));
  EXPECT_EQ(x.unsqueeze(0).strides(), (Shape{6, 3, 3, 1}));
  Tensor n = iota({5, 4}).narrow(0, 1, 3);
  EXPECT_EQ(n.offset(), 4);
  EXPECT_THROW(iota({5, 4}).narrow(0, 3, 3), Error);
  Tensor s = iota({5, 4}).select(1, -1);
  EXPECT_EQ(s.shape(), (Shape{5}));
  EXPECT_EQ(s.to_vector(), (std::vector<double>{3, 7, 11, 15, 19}));
}

TEST(TensorViews, ViewsShareStorage) {
  Tensor x = iota({3, 4});
  Tensor v = x.slice(1, 1, 3);
  v.fill_(-1.0);
  std::vector<double> got = x.to_vector();
  EXPECT_EQ(got[1], -1.0);
  EXPECT_EQ(got[2], -1.0);
  EXPECT_EQ(got[3], 3.0);
  EXPECT_GT(x.storage()->version(), 0u);
}

TEST(TensorViews, InvalidViewsNameOpAndShapes) {
  Tensor x = iota({2, 3});
  try {
    x.view({4, 2});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("view"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("[4, 2]"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos);
  }
  try {
    x.permute({0, 0});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("permute"), std::string::npos);
  }
  EXPECT_THROW(x.transpose(0, 2), Error);
  EXPECT_THROW(x.slice(0, 0, 1, 0), Error);
  EXPECT_THROW(x.as_strided({3, 3}, {3, 1}, 0), Error);
}

TEST(TensorCopies, DtypeCastsRoundTrip) {
  Generator gen(7);
  Tensor x = gen.normal({5, 7}, 0.0, 3.0);
  Tensor back = x.to(DType::f64).to(DType::f32);
  EXPECT_EQ(back.to_vector(), x.to_vector());
  Tensor h = x.to(DType::f16).to(DType::f32);
  std::vector<double> a = x.to_vector(), b = h.to_vector();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], std::abs(a[i]) * 1e-3 + 1e-4);
  Tensor bf = x.to(DType::bf16).to(DType::f32);
  b = bf.to_vector();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], std::abs(a[i]) * 8e-3 + 1e-4);
  Tensor i = Tensor::from_vector({-2.7, 0.2, 3.9}, {3}).to(DType::i64);
  EXPECT_EQ(i.to_vector(), (std::vector<double>{-2, 0, 3}));  // truncation, as torch
}

TEST(TensorCopies, HalfConversionIsRoundToNearestEven) {
  EXPECT_EQ(float_to_half_bits(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half_bits(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half_bits(65520.0f), 0x7c00);        // rounds to inf
  EXPECT_EQ(float_to_half_bits(1.0f + 1.0f / 2048), 0x3c00);  // tie -> even
  EXPECT_EQ(float_to_half_bits(1.0f + 3.0f / 2048), 0x3c02);  // tie -> even (up)
  EXPECT_EQ(float_to_half_bits(5.9604645e-08f), 0x0001);  // smallest subnormal
  EXPECT_EQ(half_bits_to_float(0x0001), 5.9604645e-08f);
  EXPECT_EQ(half_bits_to_float(0xc000), -2.0f);
  EXPECT_EQ(float_to_bf16_bits(1.0f + 1.0f / 256), 0x3f80);  // tie -> even
}

TEST(TensorCopies, CopyIntoStridedView) {
  Tensor dst = Tensor::zeros({4, 5}, DType::f64);
  Tensor src = iota({5, 2}).transpose(0, 1);  // [2, 5], strides (1, 2)
  dst.slice(0, 1, 4, 2).copy_(src);
  std::vector<double> v = dst.to_vector();
  EXPECT_EQ(v[5 + 0], 0.0);
  EXPECT_EQ(v[5 + 1], 2.0);
  EXPECT_EQ(v[15 + 4], 9.0);
  EXPECT_EQ(v[10], 0.0);
}

TEST(TensorViews, HostileGeometryIsRejectedNotOverflowed) {
  Tensor x = iota({4});
  EXPECT_THROW(x.as_strided({int64_t(1) << 62, 4}, {4, int64_t(1) << 62}, 0), Error);
  EXPECT_THROW(x.as_strided({3}, {1}, std::numeric_limits<int64_t>::max() - 1), Error);
  EXPECT_THROW(shape_numel({int64_t(1) << 40, int64_t(1) << 40}), Error);
  auto storage = Storage::allocate(16, Device::cpu());
  auto unaligned = Storage::wrap(static_cast<char*>(storage->data()) + 1, 8, Device::cpu(), nullptr);
  EXPECT_THROW(Tensor::from_storage(unaligned, DType::f32, {1}, {1}, 0), Error);
}

// Large contiguous copies go in pieces over the thread pool; overlapping
// ones (a view shifted within its own storage) stay one memmove.
TEST(TensorCopy, LargeCopiesAreExactAndOverlappingOnesAreMemmoves) {
  set_num_threads(3);
  const int64_t n = (int64_t{5} << 20) / 4 + 7;  // 5 MB and a partial piece
  Tensor src = Tensor::empty({n}, DType::f32, Device::cpu());
  for (int64_t i = 0; i < n; ++i) src.data<float>()[i] = static_cast<float>(i % 1000003);
  Tensor dst = Tensor::zeros({n}, DType::f32, Device::cpu());
  dst.copy_(src);
  int64_t differ = 0;
  for (int64_t i = 0; i < n; ++i) differ += dst.data<float>()[i] != src.data<float>()[i];
  EXPECT_EQ(differ, 0);
  // Shift by one element to the right within the same storage.
  src.narrow(0, 1, n - 1).copy_(src.narrow(0, 0, n - 1));
  differ = 0;
  for (int64_t i = 1; i < n; ++i) differ += src.data<float>()[i] != static_cast<float>((i - 1) % 1000003);
  EXPECT_EQ(differ, 0);
}

// Transposing copies (a transformer's NCHW <-> token layout changes) go in
// tiles: every element lands where the element walk puts it, for sizes off
// the tile, a view's offset, a batch, and shapes below the tile (row walk).
TEST(TensorCopy, TransposedCopiesMatchTheElementWalk) {
  set_num_threads(3);
  for (const Shape& shape : {Shape{2, 37, 5, 23}, Shape{1, 64, 16, 32}, Shape{3, 7, 4, 5}, Shape{1, 19, 33, 1}}) {
    const Tensor base = Generator(11).uniform({shape[0], shape[1] + 1, shape[2], shape[3]}, -1.0, 1.0);
    const Tensor x = base.narrow(1, 1, shape[1]);  // an offset view
    for (const auto& perm : {std::vector<int64_t>{0, 2, 3, 1}, std::vector<int64_t>{0, 3, 1, 2}}) {
      const Tensor p = x.permute(perm);
      const Tensor y = p.contiguous();
      ASSERT_TRUE(y.is_contiguous());
      int64_t differ = 0;
      const Shape& s = p.shape();
      for (int64_t a = 0; a < s[0]; ++a)
        for (int64_t b = 0; b < s[1]; ++b)
          for (int64_t c = 0; c < s[2]; ++c)
            for (int64_t d = 0; d < s[3]; ++d) {
              const float* all = static_cast<const float*>(p.storage()->data());
              const float want = all[p.offset() + a * p.stride(0) + b * p.stride(1) + c * p.stride(2) + d * p.stride(3)];
              differ += y.data<float>()[((a * s[1] + b) * s[2] + c) * s[3] + d] != want;
            }
      EXPECT_EQ(differ, 0) << shape_str(shape);
    }
  }
}
