#include "autograd/distill.h"

#include <cmath>

#include "autograd/fn.h"
#include "runtime/error.h"

namespace cudaseg::fn {
namespace {

void check_pair(const char* what, const Tensor& student, const Tensor& teacher) {
  CUDASEG_CHECK(student.dim() == 4 && teacher.dim() == 4, what, ": expected [N, C, H, W] student and teacher, got ",
                shape_str(student.shape()), " and ", shape_str(teacher.shape()));
  CUDASEG_CHECK(student.size(0) == teacher.size(0) && student.size(1) == teacher.size(1), what,
                ": student ", shape_str(student.shape()), " and teacher ", shape_str(teacher.shape()),
                " differ in batch or channels (give the student an adapter)");
}

void check_lists(const char* what, const std::vector<Tensor>& student, const std::vector<Tensor>& teacher) {
  CUDASEG_CHECK(!student.empty() && student.size() == teacher.size(), what, ": ", student.size(),
                " student and ", teacher.size(), " teacher maps; expected the same non-zero count");
  for (size_t i = 0; i < student.size(); ++i) check_pair(what, student[i], teacher[i]);
}

Tensor scaled(const Tensor& x, double scale) {
  if (scale == 1.0) return x;
  return interpolate(x, std::nullopt, std::array<double, 2>{scale, scale}, "bilinear", false);
}

Tensor gram(const Tensor& f) {
  const Tensor flat = reshape(f, {f.size(0), f.size(1), f.size(2) * f.size(3)});
  return bmm(flat, transpose(flat, 1, 2));
}

// Depthwise: each channel of each sample as its own single-channel image.
Tensor per_channel_conv(const Tensor& x, const Tensor& kernel, const ops::Conv2dParams& params) {
  const Tensor planes = reshape(x, {x.size(0) * x.size(1), 1, x.size(2), x.size(3)});
  return fn::conv2d(planes, kernel, Tensor(), params);
}

Tensor gaussian5(DType dtype, Device device) {
  // Normalised in float32, as upstream builds it.
  std::vector<float> g(25);
  float total = 0;
  for (int y = 0; y < 5; ++y) {
    for (int x = 0; x < 5; ++x) {
      const float dy = static_cast<float>(y - 2), dx = static_cast<float>(x - 2);
      g[y * 5 + x] = std::exp(-(dx * dx + dy * dy) / 2.0f);
      total += g[y * 5 + x];
    }
  }
  std::vector<double> out;
  for (const float v : g) out.push_back(static_cast<double>(v / total));
  return Tensor::from_vector(out, {1, 1, 5, 5}, dtype).to(device);
}

std::vector<Tensor> laplacian_pyramid(const Tensor& x, const Tensor& kernel) {
  ops::Conv2dParams same;
  same.padding = {2, 2};
  ops::AvgPool2dParams half;
  half.kernel_size = {2, 2};
  std::vector<Tensor> out;
  Tensor current = x;
  for (int level = 0; level < 2; ++level) {
    const Tensor blurred = reshape(per_channel_conv(current, kernel, same), current.shape());
    out.push_back(sub(current, blurred));
    current = fn::avg_pool2d(blurred, half);
  }
  out.push_back(current);
  return out;
}

// F.unfold(x, 4, stride=2, padding=2) as [N*C, 16, L]: a one-hot kernel per
// window position picks the 16 values of every patch.
Tensor normalised_patches(const Tensor& x, const Tensor& picker) {
  ops::Conv2dParams p;
  p.stride = {2, 2};
  p.padding = {2, 2};
  const Tensor patches = per_channel_conv(x, picker, p);
  const Tensor mean_p = mean(patches, {1}, true);
  const Tensor std_p = std(patches, {1}, 1.0, true);
  return div(sub(patches, mean_p), add(std_p, 1e-6));
}

}  // namespace

Tensor resize_teacher(const Tensor& teacher, const Tensor& student) {
  CUDASEG_CHECK(teacher.dim() == 4 && student.dim() == 4, "resize_teacher: expected [N, C, H, W] maps, got ",
                shape_str(teacher.shape()), " and ", shape_str(student.shape()));
  if (teacher.size(2) == student.size(2) && teacher.size(3) == student.size(3)) return teacher;
  return interpolate(teacher, std::array<int64_t, 2>{student.size(2), student.size(3)}, std::nullopt, "bilinear",
                     true);
}

Tensor pkl_loss(const Tensor& student_logits, const Tensor& teacher_logits, const PklOptions& options) {
  check_pair("pkl_loss", student_logits, teacher_logits);
  CUDASEG_CHECK(options.temperature > 0 && options.k1 >= 0 && options.k1 <= 1,
                "pkl_loss: needs temperature > 0 and k1 in [0, 1], got ", options.temperature, " and ", options.k1);
  const Tensor t = resize_teacher(teacher_logits, student_logits);
  const double T = options.temperature;
  const auto n = static_cast<double>(student_logits.size(0)), c = static_cast<double>(student_logits.size(1));
  const double area = static_cast<double>(student_logits.size(2) * student_logits.size(3));
  const Tensor kl = fn::kl_div(log_softmax(div(student_logits, T), 1), softmax(div(t, T), 1), ops::Reduction::sum);
  const Tensor sq = fn::mse_loss(student_logits, t, ops::Reduction::sum);
  return add(mul(kl, options.k1 * T * T / (n * area)), mul(sq, (1 - options.k1) / (n * c * area)));
}

Tensor nfd_loss(const Tensor& student, const Tensor& teacher, const NfdOptions& options) {
  check_pair("nfd_loss", student, teacher);
  const auto normal = [&](const Tensor& f) {
    return div(sub(f, mean(f, {2, 3}, true)), add(std(f, {2, 3}, 1.0, true), options.eps));
  };
  const double area = static_cast<double>(student.size(2) * student.size(3));
  return div(norm(sub(normal(resize_teacher(teacher, student)), normal(student))), area);
}

Tensor cwd_loss(const Tensor& student, const Tensor& teacher, const CwdOptions& options) {
  check_pair("cwd_loss", student, teacher);
  CUDASEG_CHECK(options.temperature > 0, "cwd_loss: needs temperature > 0, got ", options.temperature);
  const double T = options.temperature;
  const Tensor t = resize_teacher(teacher, student);
  const Shape flat{student.size(0), student.size(1), student.size(2) * student.size(3)};
  const Tensor kl = fn::kl_div(log_softmax(div(reshape(student, flat), T), 2), softmax(div(reshape(t, flat), T), 2),
                           ops::Reduction::sum);
  return mul(kl, T * T / static_cast<double>(student.size(0) * student.size(1)));
}

Tensor sekd_context_loss(const std::vector<Tensor>& student, const std::vector<Tensor>& teacher,
                         const SekdContextOptions& options) {
  check_lists("sekd_context_loss", student, teacher);
  CUDASEG_CHECK(!options.scales.empty(), "sekd_context_loss: no scales");
  Tensor total;
  for (const double scale : options.scales) {
    for (size_t i = 0; i < student.size(); ++i) {
      const Tensor s = scaled(student[i], scale), t = scaled(resize_teacher(teacher[i], student[i]), scale);
      const Tensor term = add(fn::mse_loss(s, t), fn::mse_loss(normalize(gram(s), 2.0, 1), normalize(gram(t), 2.0, 1)));
      total = total.defined() ? add(total, term) : term;
    }
  }
  return div(total, static_cast<double>(options.scales.size() * student.size()));
}

Tensor sekd_texture_loss(const std::vector<Tensor>& student, const std::vector<Tensor>& teacher) {
  check_lists("sekd_texture_loss", student, teacher);
  const Tensor kernel = gaussian5(student[0].dtype(), student[0].device());
  std::vector<double> pick(16 * 16, 0.0);
  for (int k = 0; k < 16; ++k) pick[k * 16 + k] = 1.0;
  const Tensor picker = Tensor::from_vector(pick, {16, 1, 4, 4}, student[0].dtype()).to(student[0].device());
  Tensor structural, statistical;
  for (size_t i = 0; i < student.size(); ++i) {
    CUDASEG_CHECK(student[i].size(2) >= 4 && student[i].size(3) >= 4, "sekd_texture_loss: level ", i, " is ",
                  shape_str(student[i].shape()), "; its two-level pyramid needs maps of at least 4x4");
    const Tensor t = resize_teacher(teacher[i], student[i]);
    const std::vector<Tensor> ps = laplacian_pyramid(student[i], kernel), pt = laplacian_pyramid(t, kernel);
    for (size_t k = 0; k < ps.size(); ++k) {
      const Tensor term = fn::mse_loss(ps[k], pt[k]);
      structural = structural.defined() ? add(structural, term) : term;
    }
    const Tensor stat = fn::mse_loss(normalised_patches(student[i], picker), normalised_patches(t, picker));
    statistical = statistical.defined() ? add(statistical, stat) : stat;
  }
  const auto levels = static_cast<double>(student.size());
  return add(div(structural, levels), div(statistical, levels));
}

Tensor sekd_reconstruction_loss(const std::vector<Tensor>& student, const std::vector<Tensor>& teacher,
                                const std::vector<std::vector<std::array<int64_t, 2>>>& starts, double mask_ratio) {
  check_lists("sekd_reconstruction_loss", student, teacher);
  CUDASEG_CHECK(starts.size() == student.size(), "sekd_reconstruction_loss: ", starts.size(),
                " lists of mask starts for ", student.size(), " stages");
  Tensor total;
  for (size_t i = 0; i < student.size(); ++i) {
    const Tensor& s = student[i];
    const int64_t n = s.size(0), h = s.size(2), w = s.size(3);
    const auto mh = static_cast<int64_t>(static_cast<double>(h) * mask_ratio);
    const auto mw = static_cast<int64_t>(static_cast<double>(w) * mask_ratio);
    CUDASEG_CHECK(static_cast<int64_t>(starts[i].size()) == n, "sekd_reconstruction_loss: stage ", i, " has ",
                  starts[i].size(), " mask starts for ", n, " samples");
    std::vector<double> mask(static_cast<size_t>(n * h * w), 1.0);
    for (int64_t b = 0; b < n; ++b) {
      const auto [top, left] = starts[i][b];
      CUDASEG_CHECK(top >= 0 && left >= 0 && top + mh <= h && left + mw <= w, "sekd_reconstruction_loss: stage ",
                    i, " sample ", b, ": the ", mh, "x", mw, " mask at (", top, ", ", left, ") leaves the ", h, "x",
                    w, " map");
      for (int64_t y = top; y < top + mh; ++y) {
        for (int64_t x = left; x < left + mw; ++x) mask[static_cast<size_t>((b * h + y) * w + x)] = 0.0;
      }
    }
    const Tensor m = Tensor::from_vector(mask, {n, 1, h, w}, s.dtype()).to(s.device());
    const Tensor term = fn::mse_loss(mul(s, expand(m, s.shape())), resize_teacher(teacher[i], s));
    total = total.defined() ? add(total, term) : term;
  }
  return div(total, static_cast<double>(student.size()));
}

Tensor sekd_alignment_loss(const std::vector<Tensor>& student, const std::vector<Tensor>& teacher,
                           const std::vector<double>& scales) {
  check_lists("sekd_alignment_loss", student, teacher);
  CUDASEG_CHECK(!scales.empty(), "sekd_alignment_loss: no scales");
  Tensor total;
  for (size_t i = 0; i < student.size(); ++i) {
    for (const double scale : scales) {
      const Tensor term = fn::mse_loss(scaled(student[i], scale), scaled(resize_teacher(teacher[i], student[i]), scale));
      total = total.defined() ? add(total, term) : term;
    }
  }
  return div(total, static_cast<double>(student.size() * scales.size()));
}

}  // namespace cudaseg::fn
