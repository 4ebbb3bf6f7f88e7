// bench_vim: what valid interpolation (ops/vim.h) saves on the label path of
// PP-MobileSeg at ADE20K size: 150-class logits at 1/8 (64x64) resized to
// 512x512 and argmaxed, in full (upsample_bilinear2d + argmax) and by VIM
// (candidates only), on logits where `--present` classes dominate regions (as
// a trained net's do) and on uniform noise (every class a candidate: VIM's
// worst case). Checks that both give the same labels. Median milliseconds.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "bench/median_ms.h"
#include "ops/reduce.h"
#include "ops/resize.h"
#include "ops/vim.h"
#include "runtime/gpu.h"
#include "runtime/rng.h"
#include "runtime/thread_pool.h"

using namespace cudaseg;

namespace {

struct Options {
  int iters = 10, warmup = 2, threads = 0;
  int64_t classes = 150, side = 64, out = 512, present = 8;
  Device device = Device::cpu();
};

double median_ms(const Options& o, const std::function<void()>& f) {
  return bench::median_ms(o.warmup, o.iters, o.device, f);
}

// Every class at -4 plus noise, the owner of each 8x8 region (one of
// `present` classes spread over the range) at +6.
Tensor region_logits(const Options& o) {
  Generator gen(7);
  const Tensor noise = gen.uniform({1, o.classes, o.side, o.side}, -1.0, 1.0).contiguous();
  const Tensor owner = gen.uniform({(o.side + 7) / 8, (o.side + 7) / 8}, 0.0, double(o.present)).contiguous();
  std::vector<double> v(static_cast<size_t>(o.classes * o.side * o.side));
  const int64_t ow = (o.side + 7) / 8;
  for (int64_t k = 0; k < o.classes; ++k)
    for (int64_t y = 0; y < o.side; ++y)
      for (int64_t x = 0; x < o.side; ++x) {
        const int64_t i = (k * o.side + y) * o.side + x;
        const int64_t cls = static_cast<int64_t>(owner.data<float>()[(y / 8) * ow + x / 8]) * o.classes / o.present;
        v[static_cast<size_t>(i)] = noise.data<float>()[i] + (k == cls ? 6.0 : -4.0);
      }
  return Tensor::from_vector(v, {1, o.classes, o.side, o.side}, DType::f32);
}

int64_t mismatches(const Tensor& a, const Tensor& b) {
  const Tensor x = a.to(Device::cpu()).contiguous(), y = b.to(Device::cpu()).contiguous();
  int64_t n = 0;
  for (int64_t i = 0; i < x.numel(); ++i) n += x.data<int64_t>()[i] != y.data<int64_t>()[i];
  return n;
}

void run(const Options& o, const char* name, const Tensor& logits) {
  const std::array<int64_t, 2> size{o.out, o.out};
  Tensor full, vim;
  std::vector<int64_t> candidates;
  const double full_ms = median_ms(o, [&] { full = ops::argmax(ops::upsample_bilinear2d(logits, size, false), 1); });
  const double vim_ms = median_ms(o, [&] { vim = ops::upsample_bilinear2d_argmax(logits, size, false, &candidates); });
  const double cand_ms = median_ms(o, [&] { ops::vim_candidates(logits); });
  std::printf("| %s | %lld | %.2f | %.2f | %.2f | %.2fx | %lld |\n", name, static_cast<long long>(candidates.at(0)),
              full_ms, vim_ms, cand_ms, full_ms / vim_ms, static_cast<long long>(mismatches(full, vim)));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_vim: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--device")
      o.device = Device::parse(value());
    else if (a == "--iters")
      o.iters = std::stoi(value());
    else if (a == "--warmup")
      o.warmup = std::stoi(value());
    else if (a == "--threads")
      o.threads = std::stoi(value());
    else if (a == "--present")
      o.present = std::stoll(value());
    else {
      std::fprintf(stderr,
                   "usage: bench_vim [--device cpu|cuda[:N]] [--iters N] [--warmup N] [--threads N] [--present K]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  if (o.threads > 0) set_num_threads(o.threads);
  std::printf("150 classes, logits 1x150x%lldx%lld -> %lldx%lld, float32, %s, %d threads\n\n",
              static_cast<long long>(o.side), static_cast<long long>(o.side), static_cast<long long>(o.out),
              static_cast<long long>(o.out), o.device.str().c_str(), num_threads());
  std::printf(
      "| logits | candidates | full resize + argmax ms | VIM ms | of which candidates ms | speed-up | label mismatches "
      "|\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  run(o, "regions", region_logits(o).to(o.device));
  Generator gen(9);
  run(o, "uniform noise", gen.uniform({1, o.classes, o.side, o.side}, -1.0, 1.0).to(o.device));
  return 0;
}
