// The distillation objectives (autograd/distill.h): each against a float64
// formula written out here with loops, by gradcheck, and the FastSegFormer
// and SEKD ones against upstream's loss code on the fixed tensors of
// tests/goldens/distill_upstream.json (tools/goldens/make_distill_goldens.py).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "autograd/distill.h"
#include "autograd/fn.h"
#include "common/testing.h"

using namespace cudaseg;
using cudaseg::testing::gradcheck_ok;
using cudaseg::testing::leaf;
using cudaseg::testing::randn;

namespace {

// A float64 [N, C, H, W] map for the reference formulas.
struct Map {
  int64_t n = 0, c = 0, h = 0, w = 0;
  std::vector<double> v;
  double& at(int64_t a, int64_t b, int64_t y, int64_t x) { return v[static_cast<size_t>(((a * c + b) * h + y) * w + x)]; }
  double at(int64_t a, int64_t b, int64_t y, int64_t x) const {
    return v[static_cast<size_t>(((a * c + b) * h + y) * w + x)];
  }
};

Map map_of(const Tensor& t) { return {t.size(0), t.size(1), t.size(2), t.size(3), t.to_vector()}; }
Map blank(int64_t n, int64_t c, int64_t h, int64_t w) {
  return {n, c, h, w, std::vector<double>(static_cast<size_t>(n * c * h * w), 0.0)};
}

// torch's bilinear resize: align_corners, or the half-pixel mapping with the
// given scale (1/scale_factor when one was given, else in/out).
Map bilinear(const Map& m, int64_t oh, int64_t ow, bool align_corners, double ry = 0, double rx = 0) {
  Map out = blank(m.n, m.c, oh, ow);
  const auto src = [&](int64_t o, int64_t in, int64_t outn, double r) {
    if (align_corners) return outn > 1 ? static_cast<double>(o) * (in - 1) / (outn - 1) : 0.0;
    const double ratio = r > 0 ? r : static_cast<double>(in) / outn;
    return std::max(0.0, (o + 0.5) * ratio - 0.5);
  };
  for (int64_t a = 0; a < m.n; ++a)
    for (int64_t b = 0; b < m.c; ++b)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t x = 0; x < ow; ++x) {
          const double sy = src(y, m.h, oh, ry), sx = src(x, m.w, ow, rx);
          const auto y0 = static_cast<int64_t>(sy), x0 = static_cast<int64_t>(sx);
          const int64_t y1 = std::min(y0 + 1, m.h - 1), x1 = std::min(x0 + 1, m.w - 1);
          const double fy = sy - y0, fx = sx - x0;
          out.at(a, b, y, x) = (1 - fy) * ((1 - fx) * m.at(a, b, y0, x0) + fx * m.at(a, b, y0, x1)) +
                               fy * ((1 - fx) * m.at(a, b, y1, x0) + fx * m.at(a, b, y1, x1));
        }
  return out;
}

double mse(const Map& a, const Map& b) {
  double s = 0;
  for (size_t i = 0; i < a.v.size(); ++i) s += (a.v[i] - b.v[i]) * (a.v[i] - b.v[i]);
  return s / static_cast<double>(a.v.size());
}

double pkl_ref(const Map& s, const Map& t_in, double k1, double T) {
  const Map t = t_in.h == s.h && t_in.w == s.w ? t_in : bilinear(t_in, s.h, s.w, true);
  double kl = 0, sq = 0;
  for (int64_t a = 0; a < s.n; ++a)
    for (int64_t y = 0; y < s.h; ++y)
      for (int64_t x = 0; x < s.w; ++x) {
        double zs = 0, zt = 0;
        for (int64_t c = 0; c < s.c; ++c) {
          zs += std::exp(s.at(a, c, y, x) / T);
          zt += std::exp(t.at(a, c, y, x) / T);
        }
        for (int64_t c = 0; c < s.c; ++c) {
          const double qs = std::exp(s.at(a, c, y, x) / T) / zs, qt = std::exp(t.at(a, c, y, x) / T) / zt;
          kl += qt * std::log(qt / qs);
          sq += (s.at(a, c, y, x) - t.at(a, c, y, x)) * (s.at(a, c, y, x) - t.at(a, c, y, x)) / s.c;
        }
      }
  // Per image 1/(W H) (k1 T^2 sum KL + (1 - k1) sum MSE_i), mean over images.
  return (k1 * T * T * kl + (1 - k1) * sq) / static_cast<double>(s.h * s.w) / s.n;
}

Map normal(const Map& m, double eps) {
  Map out = m;
  const double hw = static_cast<double>(m.h * m.w);
  for (int64_t a = 0; a < m.n; ++a)
    for (int64_t c = 0; c < m.c; ++c) {
      double mean = 0, var = 0;
      for (int64_t y = 0; y < m.h; ++y)
        for (int64_t x = 0; x < m.w; ++x) mean += m.at(a, c, y, x) / hw;
      for (int64_t y = 0; y < m.h; ++y)
        for (int64_t x = 0; x < m.w; ++x) var += (m.at(a, c, y, x) - mean) * (m.at(a, c, y, x) - mean) / (hw - 1);
      for (int64_t y = 0; y < m.h; ++y)
        for (int64_t x = 0; x < m.w; ++x) out.at(a, c, y, x) = (m.at(a, c, y, x) - mean) / (std::sqrt(var) + eps);
    }
  return out;
}

double nfd_ref(const Map& s, const Map& t_in, double eps) {
  const Map t = t_in.h == s.h && t_in.w == s.w ? t_in : bilinear(t_in, s.h, s.w, true);
  const Map ns = normal(s, eps), nt = normal(t, eps);
  double sq = 0;
  for (size_t i = 0; i < ns.v.size(); ++i) sq += (ns.v[i] - nt.v[i]) * (ns.v[i] - nt.v[i]);
  return std::sqrt(sq) / static_cast<double>(s.h * s.w);
}

double cwd_ref(const Map& s, const Map& t, double T) {
  double total = 0;
  for (int64_t a = 0; a < s.n; ++a)
    for (int64_t c = 0; c < s.c; ++c) {
      double zs = 0, zt = 0;
      for (int64_t i = 0; i < s.h * s.w; ++i) {
        zs += std::exp(s.v[static_cast<size_t>((a * s.c + c) * s.h * s.w + i)] / T);
        zt += std::exp(t.v[static_cast<size_t>((a * s.c + c) * s.h * s.w + i)] / T);
      }
      for (int64_t i = 0; i < s.h * s.w; ++i) {
        const double ps = std::exp(s.v[static_cast<size_t>((a * s.c + c) * s.h * s.w + i)] / T) / zs;
        const double pt = std::exp(t.v[static_cast<size_t>((a * s.c + c) * s.h * s.w + i)] / T) / zt;
        total += pt * std::log(pt / ps);
      }
    }
  return T * T * total / static_cast<double>(s.n * s.c);
}

std::vector<double> normalised_gram(const Map& f) {
  std::vector<double> g(static_cast<size_t>(f.n * f.c * f.c), 0.0);
  const int64_t hw = f.h * f.w;
  for (int64_t a = 0; a < f.n; ++a)
    for (int64_t i = 0; i < f.c; ++i)
      for (int64_t j = 0; j < f.c; ++j)
        for (int64_t k = 0; k < hw; ++k)
          g[static_cast<size_t>((a * f.c + i) * f.c + j)] +=
              f.v[static_cast<size_t>((a * f.c + i) * hw + k)] * f.v[static_cast<size_t>((a * f.c + j) * hw + k)];
  for (int64_t a = 0; a < f.n; ++a)
    for (int64_t j = 0; j < f.c; ++j) {  // F.normalize(dim=1): each column
      double norm = 0;
      for (int64_t i = 0; i < f.c; ++i) norm += std::pow(g[static_cast<size_t>((a * f.c + i) * f.c + j)], 2);
      norm = std::max(std::sqrt(norm), 1e-12);
      for (int64_t i = 0; i < f.c; ++i) g[static_cast<size_t>((a * f.c + i) * f.c + j)] /= norm;
    }
  return g;
}

double context_ref(const std::vector<Map>& s, const std::vector<Map>& t) {
  double total = 0;
  for (size_t k = 0; k < s.size(); ++k) {
    const std::vector<double> gs = normalised_gram(s[k]), gt = normalised_gram(t[k]);
    double ctx = 0;
    for (size_t i = 0; i < gs.size(); ++i) ctx += (gs[i] - gt[i]) * (gs[i] - gt[i]);
    total += mse(s[k], t[k]) + ctx / static_cast<double>(gs.size());
  }
  return total / static_cast<double>(s.size());
}

Map blur(const Map& m) {
  double g[5][5], sum = 0;
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 5; ++x) sum += g[y][x] = std::exp(-((y - 2) * (y - 2) + (x - 2) * (x - 2)) / 2.0);
  Map out = blank(m.n, m.c, m.h, m.w);
  for (int64_t a = 0; a < m.n; ++a)
    for (int64_t c = 0; c < m.c; ++c)
      for (int64_t y = 0; y < m.h; ++y)
        for (int64_t x = 0; x < m.w; ++x)
          for (int dy = -2; dy <= 2; ++dy)
            for (int dx = -2; dx <= 2; ++dx)
              if (y + dy >= 0 && y + dy < m.h && x + dx >= 0 && x + dx < m.w)
                out.at(a, c, y, x) += g[dy + 2][dx + 2] / sum * m.at(a, c, y + dy, x + dx);
  return out;
}

Map pool2(const Map& m) {
  Map out = blank(m.n, m.c, m.h / 2, m.w / 2);
  for (int64_t a = 0; a < m.n; ++a)
    for (int64_t c = 0; c < m.c; ++c)
      for (int64_t y = 0; y < out.h; ++y)
        for (int64_t x = 0; x < out.w; ++x)
          out.at(a, c, y, x) = (m.at(a, c, 2 * y, 2 * x) + m.at(a, c, 2 * y + 1, 2 * x) +
                                m.at(a, c, 2 * y, 2 * x + 1) + m.at(a, c, 2 * y + 1, 2 * x + 1)) / 4;
  return out;
}

std::vector<Map> pyramid(const Map& m) {
  std::vector<Map> out;
  Map cur = m;
  for (int k = 0; k < 2; ++k) {
    const Map b = blur(cur);
    Map lap = cur;
    for (size_t i = 0; i < lap.v.size(); ++i) lap.v[i] -= b.v[i];
    out.push_back(lap);
    cur = pool2(b);
  }
  out.push_back(cur);
  return out;
}

// Every 4x4 patch at stride 2, zero padding 2, normalised by its mean and unbiased std + 1e-6.
std::vector<double> patch_stats(const Map& m) {
  std::vector<double> out;
  const int64_t lh = (m.h + 4 - 4) / 2 + 1, lw = (m.w + 4 - 4) / 2 + 1;
  for (int64_t a = 0; a < m.n; ++a)
    for (int64_t c = 0; c < m.c; ++c)
      for (int64_t py = 0; py < lh; ++py)
        for (int64_t px = 0; px < lw; ++px) {
          double p[16], mean = 0, var = 0;
          for (int k = 0; k < 16; ++k) {
            const int64_t y = py * 2 - 2 + k / 4, x = px * 2 - 2 + k % 4;
            p[k] = y >= 0 && y < m.h && x >= 0 && x < m.w ? m.at(a, c, y, x) : 0.0;
            mean += p[k] / 16;
          }
          for (double v : p) var += (v - mean) * (v - mean) / 15;
          for (double v : p) out.push_back((v - mean) / (std::sqrt(var) + 1e-6));
        }
  return out;
}

double texture_ref(const std::vector<Map>& s, const std::vector<Map>& t) {
  double structural = 0, statistical = 0;
  for (size_t k = 0; k < s.size(); ++k) {
    const std::vector<Map> ps = pyramid(s[k]), pt = pyramid(t[k]);
    for (size_t l = 0; l < ps.size(); ++l) structural += mse(ps[l], pt[l]);
    const std::vector<double> a = patch_stats(s[k]), b = patch_stats(t[k]);
    double sq = 0;
    for (size_t i = 0; i < a.size(); ++i) sq += (a[i] - b[i]) * (a[i] - b[i]);
    statistical += sq / static_cast<double>(a.size());
  }
  return (structural + statistical) / static_cast<double>(s.size());
}

double reconstruction_ref(const std::vector<Map>& s, const std::vector<Map>& t,
                          const std::vector<std::vector<std::array<int64_t, 2>>>& starts) {
  double total = 0;
  for (size_t k = 0; k < s.size(); ++k) {
    Map masked = s[k];
    const auto mh = static_cast<int64_t>(s[k].h * 0.3), mw = static_cast<int64_t>(s[k].w * 0.3);
    for (int64_t a = 0; a < masked.n; ++a)
      for (int64_t c = 0; c < masked.c; ++c)
        for (int64_t y = starts[k][a][0]; y < starts[k][a][0] + mh; ++y)
          for (int64_t x = starts[k][a][1]; x < starts[k][a][1] + mw; ++x) masked.at(a, c, y, x) = 0;
    total += mse(masked, t[k]);
  }
  return total / static_cast<double>(s.size());
}

double alignment_ref(const std::vector<Map>& s, const std::vector<Map>& t, double scale) {
  double total = 0;
  for (size_t k = 0; k < s.size(); ++k) {
    const auto oh = static_cast<int64_t>(std::floor(s[k].h * scale)), ow = static_cast<int64_t>(std::floor(s[k].w * scale));
    total += mse(bilinear(s[k], oh, ow, false, 1 / scale, 1 / scale), bilinear(t[k], oh, ow, false, 1 / scale, 1 / scale));
  }
  return total / static_cast<double>(s.size());
}

std::vector<Map> maps_of(const std::vector<Tensor>& ts) {
  std::vector<Map> out;
  for (const Tensor& t : ts) out.push_back(map_of(t));
  return out;
}

std::vector<Tensor> randn_list(const std::vector<Shape>& shapes, uint64_t seed) {
  std::vector<Tensor> out;
  for (const Shape& s : shapes) out.push_back(randn(s, seed++));
  return out;
}

std::vector<Tensor> leaves(const std::vector<Shape>& shapes, uint64_t seed) {
  std::vector<Tensor> out;
  for (const Shape& s : shapes) out.push_back(leaf(s, seed++));
  return out;
}

::testing::AssertionResult near_rel(double got, double want, double rtol) {
  if (std::abs(got - want) <= rtol * std::abs(want)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "got " << got << ", want " << want << " (rel "
                                       << std::abs(got - want) / std::abs(want) << " > " << rtol << ")";
}

const std::vector<std::vector<std::array<int64_t, 2>>> kStarts = {{{1, 2}, {3, 0}}, {{0, 1}, {2, 2}}};

}  // namespace

TEST(Distill, PklMatchesPaperFormula) {
  const Tensor s = randn({2, 4, 5, 6}, 1), t = randn({2, 4, 5, 6}, 2), t_big = randn({2, 4, 9, 11}, 3);
  for (double k1 : {0.0, 0.5, 1.0}) {
    fn::PklOptions o;
    o.k1 = k1;
    EXPECT_TRUE(near_rel(fn::pkl_loss(s, t, o).item(), pkl_ref(map_of(s), map_of(t), k1, 2.0), 1e-12)) << k1;
    EXPECT_TRUE(near_rel(fn::pkl_loss(s, t_big, o).item(), pkl_ref(map_of(s), map_of(t_big), k1, 2.0), 1e-12)) << k1;
  }
}

TEST(Distill, NfdMatchesPaperFormula) {
  const Tensor s = randn({2, 3, 5, 6}, 4), t = randn({2, 3, 5, 6}, 5), t_big = randn({2, 3, 8, 13}, 6);
  EXPECT_TRUE(near_rel(fn::nfd_loss(s, t).item(), nfd_ref(map_of(s), map_of(t), 1e-5), 1e-12));
  EXPECT_TRUE(near_rel(fn::nfd_loss(s, t_big).item(), nfd_ref(map_of(s), map_of(t_big), 1e-5), 1e-12));
  // Normalisation makes it blind to a per-channel affine change of either feature.
  EXPECT_NEAR(fn::nfd_loss(fn::add(fn::mul(s, 3.0), 7.0), s, {0.0}).item(), 0.0, 1e-12);
}

TEST(Distill, CwdMatchesPaperFormula) {
  const Tensor s = randn({2, 3, 4, 5}, 7), t = randn({2, 3, 4, 5}, 8);
  for (double T : {1.0, 4.0}) {
    EXPECT_TRUE(near_rel(fn::cwd_loss(s, t, {T}).item(), cwd_ref(map_of(s), map_of(t), T), 1e-12)) << T;
  }
}

TEST(Distill, SekdLossesMatchFormulas) {
  const std::vector<Shape> shapes = {{2, 3, 8, 8}, {2, 4, 6, 10}};
  const std::vector<Tensor> s = randn_list(shapes, 10), t = randn_list(shapes, 20);
  EXPECT_TRUE(near_rel(fn::sekd_context_loss(s, t).item(), context_ref(maps_of(s), maps_of(t)), 1e-12));
  EXPECT_TRUE(near_rel(fn::sekd_texture_loss(s, t).item(), texture_ref(maps_of(s), maps_of(t)), 1e-6))
      << "the Gaussian is float32 as upstream's";
  EXPECT_TRUE(near_rel(fn::sekd_reconstruction_loss(s, t, kStarts).item(),
                       reconstruction_ref(maps_of(s), maps_of(t), kStarts), 1e-12));
  EXPECT_TRUE(near_rel(fn::sekd_alignment_loss(s, t, {0.5}).item(), alignment_ref(maps_of(s), maps_of(t), 0.5),
                       1e-12));
}

TEST(Distill, Gradcheck) {
  const Tensor t = randn({2, 3, 4, 5}, 30), t_big = randn({2, 3, 7, 6}, 31);
  EXPECT_TRUE(gradcheck_ok([&](const std::vector<Tensor>& x) { return fn::pkl_loss(x[0], t_big); },
                           {leaf({2, 3, 4, 5}, 32)}));
  EXPECT_TRUE(gradcheck_ok([&](const std::vector<Tensor>& x) { return fn::nfd_loss(x[0], t_big); },
                           {leaf({2, 3, 4, 5}, 33)}));
  EXPECT_TRUE(gradcheck_ok([&](const std::vector<Tensor>& x) { return fn::cwd_loss(x[0], t); },
                           {leaf({2, 3, 4, 5}, 34)}));
  const std::vector<Shape> shapes = {{2, 3, 8, 8}, {2, 2, 6, 10}};
  const std::vector<Tensor> tt = randn_list(shapes, 40);
  const auto list = [](const std::vector<Tensor>& x) { return x; };
  EXPECT_TRUE(gradcheck_ok([&](const std::vector<Tensor>& x) { return fn::sekd_context_loss(list(x), tt); },
                           leaves(shapes, 50)));
  EXPECT_TRUE(gradcheck_ok([&](const std::vector<Tensor>& x) { return fn::sekd_texture_loss(list(x), tt); },
                           leaves(shapes, 60)));
  EXPECT_TRUE(gradcheck_ok(
      [&](const std::vector<Tensor>& x) { return fn::sekd_reconstruction_loss(list(x), tt, kStarts); },
      leaves(shapes, 70)));
  EXPECT_TRUE(gradcheck_ok([&](const std::vector<Tensor>& x) { return fn::sekd_alignment_loss(list(x), tt); },
                           leaves(shapes, 80)));
}

TEST(Distill, MismatchedChannelsNameTheShapes) {
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [] { fn::nfd_loss(randn({1, 3, 4, 4}, 1), randn({1, 5, 4, 4}, 2)); },
      {"nfd_loss", "[1, 3, 4, 4]", "[1, 5, 4, 4]", "adapter"}));
}

// ---------------------------------------------------------------- upstream code
namespace {

struct UpstreamCase {
  std::vector<Tensor> student, teacher;
  double value = 0;
  Tensor grad0;
  nlohmann::json raw;
};

Tensor tensor_of(const nlohmann::json& j) {
  return Tensor::from_vector(j["values"].get<std::vector<double>>(), j["shape"].get<std::vector<int64_t>>(),
                             DType::f64);
}

UpstreamCase upstream(const std::string& name) {
  static const nlohmann::json golden = [] {
    std::ifstream in(std::string(CUDASEG_SOURCE_DIR) + "/tests/goldens/distill_upstream.json");
    return nlohmann::json::parse(in);
  }();
  for (const auto& c : golden["cases"]) {
    if (c["name"] != name) continue;
    UpstreamCase out;
    for (const auto& s : c["student"]) out.student.push_back(tensor_of(s));
    for (const auto& t : c["teacher"]) out.teacher.push_back(tensor_of(t));
    out.value = c["value"];
    out.grad0 = tensor_of(c["grad0"]);
    out.raw = c;
    return out;
  }
  ADD_FAILURE() << "no case " << name << " in distill_upstream.json";
  return {};
}

// The value (float64 here, float32 upstream) and the gradient of the first student tensor.
template <typename F>
void expect_upstream(const UpstreamCase& c, F&& loss, double value_scale = 1.0) {
  std::vector<Tensor> s;
  for (const Tensor& x : c.student) {
    Tensor leaf_x = x.clone();
    leaf_x.set_requires_grad(true);
    s.push_back(leaf_x);
  }
  const Tensor value = loss(s, c.teacher);
  EXPECT_TRUE(near_rel(value.item() * value_scale, c.value, 2e-6));
  autograd::backward(value);
  EXPECT_LT(cudaseg::testing::rel_l2(fn::mul(s[0].grad(), value_scale), c.grad0), 2e-5);
}

}  // namespace

// Where upstream follows the paper: the KL term (k1 = 1), same size and the
// multi-resolution resize of the teacher logits.
TEST(DistillUpstream, PklKlTermFollowsPaper) {
  for (const char* name : {"pkl_alpha1", "pkl_resize_alpha1"}) {
    const UpstreamCase c = upstream(name);
    expect_upstream(c, [](const std::vector<Tensor>& s, const std::vector<Tensor>& t) {
      return fn::pkl_loss(s[0], t[0], {1.0, 2.0});
    });
  }
}

// Departure: upstream's MSE term is F.mse_loss / (W H), the paper's sum over
// pixels / (W H) is W H times larger. Shown by the factor at k1 = 0.
TEST(DistillUpstream, PklMseTermDepartsFromPaperByArea) {
  const UpstreamCase c = upstream("pkl_alpha0");
  const double area = static_cast<double>(c.student[0].size(2) * c.student[0].size(3));
  const double paper = fn::pkl_loss(c.student[0], c.teacher[0], {0.0, 2.0}).item();
  EXPECT_GT(std::abs(paper - c.value), 0.5 * paper) << "upstream " << c.value << " vs paper " << paper;
  expect_upstream(c, [](const std::vector<Tensor>& s, const std::vector<Tensor>& t) {
    return fn::pkl_loss(s[0], t[0], {0.0, 2.0});
  }, 1.0 / area);
  // k1 = 0.5 upstream = paper KL half + paper MSE half / (W H).
  const UpstreamCase mixed = upstream("pkl_alpha0.5");
  const double kl = fn::pkl_loss(mixed.student[0], mixed.teacher[0], {1.0, 2.0}).item();
  const double sq = fn::pkl_loss(mixed.student[0], mixed.teacher[0], {0.0, 2.0}).item();
  EXPECT_TRUE(near_rel(0.5 * kl + 0.5 * sq / area, mixed.value, 2e-6));
}

// Departure: upstream's NFD never normalises (Normal() is never called). Its
// value is the plain ||F_t - F_s|| / (W H), which cudaseg's loss is not.
TEST(DistillUpstream, NfdUpstreamSkipsNormalisation) {
  const UpstreamCase c = upstream("nfd_unnormalised");
  const Tensor s = c.student[0], t = c.teacher[0];
  const double area = static_cast<double>(s.size(2) * s.size(3));
  EXPECT_TRUE(near_rel(fn::norm(fn::sub(t, s)).item() / area, c.value, 2e-6));
  const double ours = fn::nfd_loss(s, t).item();
  EXPECT_GT(std::abs(ours - c.value), 1e-3 * c.value) << "ours " << ours << " upstream " << c.value;
}

TEST(DistillUpstream, SekdContext) {
  expect_upstream(upstream("sekd_context"), [](const std::vector<Tensor>& s, const std::vector<Tensor>& t) {
    return fn::sekd_context_loss(s, t);
  });
}

TEST(DistillUpstream, SekdTexture) {
  expect_upstream(upstream("sekd_texture"), [](const std::vector<Tensor>& s, const std::vector<Tensor>& t) {
    return fn::sekd_texture_loss(s, t);
  });
}

TEST(DistillUpstream, SekdAlignment) {
  expect_upstream(upstream("sekd_alignment"), [](const std::vector<Tensor>& s, const std::vector<Tensor>& t) {
    return fn::sekd_alignment_loss(s, t);
  });
}

TEST(DistillUpstream, SekdReconstructionWithUpstreamDraws) {
  const UpstreamCase c = upstream("sekd_reconstruction");
  std::vector<std::vector<std::array<int64_t, 2>>> starts;
  for (const auto& stage : c.raw["starts"]) {
    starts.emplace_back();
    for (const auto& st : stage) starts.back().push_back({st[0].get<int64_t>(), st[1].get<int64_t>()});
  }
  expect_upstream(c, [&](const std::vector<Tensor>& s, const std::vector<Tensor>& t) {
    return fn::sekd_reconstruction_loss(s, t, starts);
  });
}
