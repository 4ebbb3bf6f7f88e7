#include "train/chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "runtime/error.h"

namespace cudaseg::train {
namespace {

// The glyphs of ASCII 32..126, 5 columns by 8 rows ('#' ink, '.' paper; rows
// separated by '|'); capitals and digits use the top 7 rows, descenders the 8th.
constexpr int kGlyphStride = 6;
const char* const kFont[95] = {
    ".....|.....|.....|.....|.....|.....|.....|.....",  // space
    "..#..|..#..|..#..|..#..|..#..|.....|..#..|.....",  // !
    ".#.#.|.#.#.|.#.#.|.....|.....|.....|.....|.....",  // "
    ".#.#.|.#.#.|#####|.#.#.|#####|.#.#.|.#.#.|.....",  // #
    "..#..|.####|#.#..|.###.|..#.#|####.|..#..|.....",  // $
    "##...|##..#|...#.|..#..|.#...|#..##|...##|.....",  // %
    ".##..|#..#.|#.#..|.#...|#.#.#|#..#.|.##.#|.....",  // &
    "..#..|..#..|..#..|.....|.....|.....|.....|.....",  // '
    "...#.|..#..|.#...|.#...|.#...|..#..|...#.|.....",  // (
    ".#...|..#..|...#.|...#.|...#.|..#..|.#...|.....",  // )
    ".....|..#..|#.#.#|.###.|#.#.#|..#..|.....|.....",  // *
    ".....|..#..|..#..|#####|..#..|..#..|.....|.....",  // +
    ".....|.....|.....|.....|.....|..#..|..#..|.#...",  // ,
    ".....|.....|.....|#####|.....|.....|.....|.....",  // -
    ".....|.....|.....|.....|.....|.##..|.##..|.....",  // .
    ".....|....#|...#.|..#..|.#...|#....|.....|.....",  // /
    ".###.|#...#|#..##|#.#.#|##..#|#...#|.###.|.....",  // 0
    "..#..|.##..|..#..|..#..|..#..|..#..|.###.|.....",  // 1
    ".###.|#...#|....#|...#.|..#..|.#...|#####|.....",  // 2
    "#####|...#.|..#..|...#.|....#|#...#|.###.|.....",  // 3
    "...#.|..##.|.#.#.|#..#.|#####|...#.|...#.|.....",  // 4
    "#####|#....|####.|....#|....#|#...#|.###.|.....",  // 5
    "..##.|.#...|#....|####.|#...#|#...#|.###.|.....",  // 6
    "#####|....#|...#.|..#..|.#...|.#...|.#...|.....",  // 7
    ".###.|#...#|#...#|.###.|#...#|#...#|.###.|.....",  // 8
    ".###.|#...#|#...#|.####|....#|...#.|.##..|.....",  // 9
    ".....|.##..|.##..|.....|.##..|.##..|.....|.....",  // :
    ".....|.##..|.##..|.....|.##..|..#..|.#...|.....",  // ;
    "...#.|..#..|.#...|#....|.#...|..#..|...#.|.....",  // <
    ".....|.....|#####|.....|#####|.....|.....|.....",  // =
    ".#...|..#..|...#.|....#|...#.|..#..|.#...|.....",  // >
    ".###.|#...#|....#|...#.|..#..|.....|..#..|.....",  // ?
    ".###.|#...#|....#|.##.#|#.#.#|#.#.#|.###.|.....",  // @
    ".###.|#...#|#...#|#####|#...#|#...#|#...#|.....",  // A
    "####.|#...#|#...#|####.|#...#|#...#|####.|.....",  // B
    ".###.|#...#|#....|#....|#....|#...#|.###.|.....",  // C
    "###..|#..#.|#...#|#...#|#...#|#..#.|###..|.....",  // D
    "#####|#....|#....|####.|#....|#....|#####|.....",  // E
    "#####|#....|#....|####.|#....|#....|#....|.....",  // F
    ".###.|#...#|#....|#.###|#...#|#...#|.####|.....",  // G
    "#...#|#...#|#...#|#####|#...#|#...#|#...#|.....",  // H
    ".###.|..#..|..#..|..#..|..#..|..#..|.###.|.....",  // I
    "..###|...#.|...#.|...#.|...#.|#..#.|.##..|.....",  // J
    "#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#|.....",  // K
    "#....|#....|#....|#....|#....|#....|#####|.....",  // L
    "#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#|.....",  // M
    "#...#|#...#|##..#|#.#.#|#..##|#...#|#...#|.....",  // N
    ".###.|#...#|#...#|#...#|#...#|#...#|.###.|.....",  // O
    "####.|#...#|#...#|####.|#....|#....|#....|.....",  // P
    ".###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#|.....",  // Q
    "####.|#...#|#...#|####.|#.#..|#..#.|#...#|.....",  // R
    ".####|#....|#....|.###.|....#|....#|####.|.....",  // S
    "#####|..#..|..#..|..#..|..#..|..#..|..#..|.....",  // T
    "#...#|#...#|#...#|#...#|#...#|#...#|.###.|.....",  // U
    "#...#|#...#|#...#|#...#|#...#|.#.#.|..#..|.....",  // V
    "#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.|.....",  // W
    "#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#|.....",  // X
    "#...#|#...#|.#.#.|..#..|..#..|..#..|..#..|.....",  // Y
    "#####|....#|...#.|..#..|.#...|#....|#####|.....",  // Z
    ".###.|.#...|.#...|.#...|.#...|.#...|.###.|.....",  // [
    ".....|#....|.#...|..#..|...#.|....#|.....|.....",  // backslash
    ".###.|...#.|...#.|...#.|...#.|...#.|.###.|.....",  // ]
    "..#..|.#.#.|#...#|.....|.....|.....|.....|.....",  // ^
    ".....|.....|.....|.....|.....|.....|#####|.....",  // _
    ".#...|..#..|.....|.....|.....|.....|.....|.....",  // `
    ".....|.....|.###.|....#|.####|#...#|.####|.....",  // a
    "#....|#....|#.##.|##..#|#...#|#...#|####.|.....",  // b
    ".....|.....|.###.|#....|#....|#...#|.###.|.....",  // c
    "....#|....#|.##.#|#..##|#...#|#...#|.####|.....",  // d
    ".....|.....|.###.|#...#|#####|#....|.###.|.....",  // e
    "..##.|.#..#|.#...|###..|.#...|.#...|.#...|.....",  // f
    ".....|.....|.####|#...#|#...#|.####|....#|.###.",  // g
    "#....|#....|#.##.|##..#|#...#|#...#|#...#|.....",  // h
    "..#..|.....|.##..|..#..|..#..|..#..|.###.|.....",  // i
    "...#.|.....|..##.|...#.|...#.|...#.|#..#.|.##..",  // j
    "#....|#....|#..#.|#.#..|##...|#.#..|#..#.|.....",  // k
    ".##..|..#..|..#..|..#..|..#..|..#..|.###.|.....",  // l
    ".....|.....|##.#.|#.#.#|#.#.#|#...#|#...#|.....",  // m
    ".....|.....|#.##.|##..#|#...#|#...#|#...#|.....",  // n
    ".....|.....|.###.|#...#|#...#|#...#|.###.|.....",  // o
    ".....|.....|####.|#...#|#...#|####.|#....|#....",  // p
    ".....|.....|.####|#...#|#...#|.####|....#|....#",  // q
    ".....|.....|#.##.|##..#|#....|#....|#....|.....",  // r
    ".....|.....|.####|#....|.###.|....#|####.|.....",  // s
    ".#...|.#...|###..|.#...|.#...|.#..#|..##.|.....",  // t
    ".....|.....|#...#|#...#|#...#|#..##|.##.#|.....",  // u
    ".....|.....|#...#|#...#|#...#|.#.#.|..#..|.....",  // v
    ".....|.....|#...#|#...#|#.#.#|#.#.#|.#.#.|.....",  // w
    ".....|.....|#...#|.#.#.|..#..|.#.#.|#...#|.....",  // x
    ".....|.....|#...#|#...#|#...#|.####|....#|.###.",  // y
    ".....|.....|#####|...#.|..#..|.#...|#####|.....",  // z
    "...#.|..#..|..#..|.#...|..#..|..#..|...#.|.....",  // {
    "..#..|..#..|..#..|..#..|..#..|..#..|..#..|.....",  // |
    ".#...|..#..|..#..|...#.|..#..|..#..|.#...|.....",  // }
    ".....|.....|.#...|#.#.#|...#.|.....|.....|.....",  // ~
};

constexpr int kCellW = 6, kCellH = 10;
constexpr Rgb kWhite{255, 255, 255}, kInk{40, 40, 40}, kGrid{225, 225, 225};
constexpr int64_t kPad = 8;

struct Canvas {
  int64_t h, w;
  uint8_t* p;
  void set(int64_t y, int64_t x, Rgb c) const {
    if (y < 0 || y >= h || x < 0 || x >= w) return;
    std::copy(c.begin(), c.end(), p + (y * w + x) * 3);
  }
  const uint8_t* at(int64_t y, int64_t x) const { return p + (y * w + x) * 3; }
  void fill(int64_t y0, int64_t x0, int64_t y1, int64_t x1, Rgb c) const {
    for (int64_t y = y0; y < y1; ++y)
      for (int64_t x = x0; x < x1; ++x) set(y, x, c);
  }
  // Bresenham, two pixels thick so a curve reads at a glance.
  void line(int64_t y0, int64_t x0, int64_t y1, int64_t x1, Rgb c, bool thick = false) const {
    const int64_t dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int64_t err = dx + dy;
    for (;;) {
      set(y0, x0, c);
      if (thick) set(y0 + 1, x0, c);
      if (x0 == x1 && y0 == y1) break;
      const int64_t e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  }
  void rect(int64_t y0, int64_t x0, int64_t y1, int64_t x1, Rgb c) const {
    line(y0, x0, y0, x1, c);
    line(y1, x0, y1, x1, c);
    line(y0, x0, y1, x0, c);
    line(y0, x1, y1, x1, c);
  }
  void stamp(const Tensor& mask, int64_t y, int64_t x, Rgb c) const {
    const uint8_t* m = mask.data<uint8_t>();
    for (int64_t r = 0; r < mask.size(0); ++r)
      for (int64_t k = 0; k < mask.size(1); ++k)
        if (m[r * mask.size(1) + k]) set(y + r, x + k, c);
  }
  // Text with its top-left corner at (y, x); `align` 0 left, 1 centred on x, 2 ending at x.
  void text(const std::string& s, int64_t y, int64_t x, int align = 0, int scale = 1, Rgb c = kInk) const {
    const Tensor mask = text_mask(s, scale);
    stamp(mask, y, x - (align == 1 ? mask.size(1) / 2 : align == 2 ? mask.size(1) : 0), c);
  }
};

int64_t text_width(const std::string& s, int scale = 1) { return static_cast<int64_t>(s.size()) * kCellW * scale; }

// Cuts `s` to at most `width` pixels of text, marking the cut with "..".
std::string fit(const std::string& s, int64_t width) {
  const auto chars = static_cast<size_t>(std::max<int64_t>(3, width / kCellW));
  return s.size() <= chars ? s : s.substr(0, chars - 2) + "..";
}

Tensor blank(int64_t height, int64_t width) { return Tensor::full({height, width, 3}, 255.0, DType::u8); }

// The value axis from ticks.front() to ticks.back() over pixels [p0, p1].
struct Axis {
  std::vector<double> ticks;
  double step;
  int64_t p0, p1;
  double lo() const { return ticks.front(); }
  double hi() const { return ticks.back(); }
  int64_t pixel(double v) const {
    const double f = std::clamp((v - lo()) / (hi() - lo()), 0.0, 1.0);
    return p0 + std::llround(f * static_cast<double>(p1 - p0));
  }
};

Axis make_axis(double lo, double hi, int count, double min_step = 0) {
  Axis a;
  a.ticks = nice_ticks(lo, hi, count);
  if (min_step > 0 && a.ticks[1] - a.ticks[0] < min_step) {
    a.ticks.clear();
    // One value sits in the middle of the axis, as nice_ticks puts it.
    if (hi == lo) lo -= min_step, hi += min_step;
    for (double v = std::floor(lo / min_step) * min_step; v < hi + min_step; v += min_step) a.ticks.push_back(v);
    if (a.ticks.size() < 2) a.ticks.push_back(a.ticks.back() + min_step);
  }
  a.step = a.ticks[1] - a.ticks[0];
  return a;
}

// Pixels in the box that are neither paper nor grid: how much a legend there would hide.
int64_t ink_under(const Canvas& c, int64_t y0, int64_t x0, int64_t y1, int64_t x1) {
  int64_t n = 0;
  for (int64_t y = std::max<int64_t>(y0, 0); y < std::min(y1, c.h); ++y)
    for (int64_t x = std::max<int64_t>(x0, 0); x < std::min(x1, c.w); ++x) {
      const uint8_t* p = c.at(y, x);
      n += !std::equal(p, p + 3, kWhite.begin()) && !std::equal(p, p + 3, kGrid.begin());
    }
  return n;
}

// A box of swatches and names in the plot's upper or lower right corner,
// whichever hides fewer of the curves.
void legend(const Canvas& c, const std::vector<Series>& series, int64_t top, int64_t bottom, int64_t right) {
  int64_t name_w = 0;
  for (const Series& s : series) name_w = std::max(name_w, text_width(s.name));
  const int64_t box_w = 6 + 16 + 4 + name_w + 4, box_h = 4 + kCellH * static_cast<int64_t>(series.size()) + 2;
  const int64_t x0 = right - 6 - box_w, upper = top + 6, lower = bottom - 6 - box_h;
  const int64_t x1 = x0 + box_w;
  const bool below = ink_under(c, lower, x0, lower + box_h, x1) < ink_under(c, upper, x0, upper + box_h, x1);
  const int64_t y0 = below ? lower : upper;
  c.fill(y0, x0, y0 + box_h, x0 + box_w, kWhite);
  c.rect(y0, x0, y0 + box_h, x0 + box_w, kInk);
  for (size_t k = 0; k < series.size(); ++k) {
    const int64_t y = y0 + 4 + kCellH * static_cast<int64_t>(k);
    c.line(y + 4, x0 + 6, y + 4, x0 + 6 + 16, series_colour(k), true);
    c.text(series[k].name, y, x0 + 6 + 16 + 4);
  }
}

}  // namespace

Tensor text_mask(const std::string& text, int scale, bool vertical) {
  CUDASEG_CHECK(scale >= 1 && scale <= 8, "text_mask: scale ", scale, " is outside 1..8");
  const int64_t rows = kCellH * scale, cols = text_width(text, scale);
  Tensor mask = Tensor::zeros({rows, std::max<int64_t>(cols, 1)}, DType::u8);
  uint8_t* m = mask.data<uint8_t>();
  for (size_t i = 0; i < text.size(); ++i) {
    const auto ch = static_cast<unsigned char>(text[i]);
    const char* glyph = kFont[ch >= 32 && ch < 127 ? ch - 32 : '?' - 32];
    for (int r = 0; r < 8; ++r)
      for (int b = 0; b < 5; ++b) {
        if (glyph[r * kGlyphStride + b] != '#') continue;
        for (int sy = 0; sy < scale; ++sy)
          for (int sx = 0; sx < scale; ++sx) {
            const int64_t y = (1 + r) * scale + sy, x = (static_cast<int64_t>(i) * kCellW + b) * scale + sx;
            m[y * mask.size(1) + x] = 1;
          }
      }
  }
  if (!vertical) return mask;
  const int64_t w = mask.size(1);
  Tensor turned = Tensor::zeros({w, rows}, DType::u8);
  uint8_t* t = turned.data<uint8_t>();
  for (int64_t y = 0; y < rows; ++y)
    for (int64_t x = 0; x < w; ++x) t[(w - 1 - x) * rows + y] = m[y * w + x];
  return turned;
}

std::vector<double> nice_ticks(double lo, double hi, int count) {
  CUDASEG_CHECK(std::isfinite(lo) && std::isfinite(hi) && count >= 2, "nice_ticks: bad range [", lo, ", ", hi,
                "] or count ", count);
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) {
    const double half = lo == 0 ? 0.5 : std::abs(lo) * 0.1;
    lo -= half, hi += half;
  }
  const double raw = (hi - lo) / (count - 1), mag = std::pow(10.0, std::floor(std::log10(raw))), f = raw / mag;
  const double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  std::vector<double> ticks;
  for (double k = first; k <= last; ++k) ticks.push_back(k * step);
  if (ticks.size() < 2) ticks.push_back((last + 1) * step);
  return ticks;
}

std::string tick_label(double value, double step) {
  char buf[48];
  if (std::abs(value) < step * 1e-6) value = 0;
  if (step < 1e-4 || std::abs(value) >= 1e7) {
    std::snprintf(buf, sizeof buf, "%.3g", value);
  } else {
    const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  }
  return buf;
}

Rgb series_colour(size_t k) {
  static const Rgb colours[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},  {148, 103, 189},
                                {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  return colours[k % (sizeof colours / sizeof colours[0])];
}

Tensor line_chart(const std::vector<Series>& series, const ChartText& text, int64_t height, int64_t width,
                  std::array<double, 2> y_range) {
  CUDASEG_CHECK(height >= 120 && width >= 200, "line_chart: size ", height, "x", width, " is below 120x200");
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  bool integral_x = true;
  for (const Series& s : series)
    for (const auto& [x, y] : s.points) {
      CUDASEG_CHECK(std::isfinite(x) && std::isfinite(y), "line_chart: '", s.name, "' has the point (", x, ", ", y,
                    ") that is not finite");
      x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x), y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
      integral_x = integral_x && x == std::floor(x);
    }
  CUDASEG_CHECK(std::isfinite(x_lo), "line_chart: '", text.title, "' has no points");
  if (y_range[0] < y_range[1]) y_lo = y_range[0], y_hi = y_range[1];
  Tensor img = blank(height, width);
  const Canvas c{height, width, img.data<uint8_t>()};
  Axis ya = make_axis(y_lo, y_hi, 6), xa = make_axis(x_lo, x_hi, 6, integral_x ? 1.0 : 0.0);
  int64_t label_w = 0;
  for (double v : ya.ticks) label_w = std::max(label_w, text_width(tick_label(v, ya.step)));
  const int64_t top = kPad + 2 * kCellH + 8, bottom = height - kPad - kCellH - 4 - kCellH - 8;
  const int64_t left = kPad + kCellH + 6 + label_w + 6, right = width - kPad - 3 * kCellW;
  ya.p0 = bottom, ya.p1 = top, xa.p0 = left, xa.p1 = right;

  c.text(text.title, kPad, width / 2, 1, 2);
  for (double v : ya.ticks) {
    const int64_t y = ya.pixel(v);
    c.line(y, left, y, right, kGrid);
    c.line(y, left - 4, y, left, kInk);
    c.text(tick_label(v, ya.step), y - kCellH / 2, left - 6, 2);
  }
  for (double v : xa.ticks) {
    const int64_t x = xa.pixel(v);
    c.line(top, x, bottom, x, kGrid);
    c.line(bottom, x, bottom + 4, x, kInk);
    c.text(tick_label(v, xa.step), bottom + 6, x, 1);
  }
  c.line(bottom, left, bottom, right, kInk);
  c.line(top, left, bottom, left, kInk);
  c.text(text.x_label, height - kPad - kCellH, (left + right) / 2, 1);
  const Tensor y_label = text_mask(text.y_label, 1, true);
  c.stamp(y_label, (top + bottom) / 2 - y_label.size(0) / 2, kPad, kInk);

  for (size_t k = 0; k < series.size(); ++k) {
    const auto& pts = series[k].points;
    for (size_t i = 0; i < pts.size(); ++i) {
      const int64_t y = ya.pixel(pts[i][1]), x = xa.pixel(pts[i][0]);
      if (pts.size() == 1) c.fill(y - 1, x - 1, y + 2, x + 2, series_colour(k));
      if (i > 0) c.line(ya.pixel(pts[i - 1][1]), xa.pixel(pts[i - 1][0]), y, x, series_colour(k), true);
    }
  }
  const bool named = std::any_of(series.begin(), series.end(), [](const Series& s) { return !s.name.empty(); });
  if (named) legend(c, series, top, bottom, right);
  return img;
}

Tensor bar_chart(const std::vector<std::pair<std::string, double>>& bars, const ChartText& text, int64_t width) {
  CUDASEG_CHECK(width >= 200, "bar_chart: width ", width, " is below 200");
  CUDASEG_CHECK(!bars.empty(), "bar_chart: '", text.title, "' has no bars");
  constexpr int64_t kRow = 14;
  int64_t name_w = 0;
  for (const auto& b : bars) name_w = std::max(name_w, text_width(fit(b.first, width / 3)));
  const int64_t top = kPad + 2 * kCellH + 8, bottom = top + kRow * static_cast<int64_t>(bars.size()) + 4;
  const int64_t height = bottom + 4 + kCellH + 4 + kCellH + kPad;
  const int64_t left = kPad + name_w + 6, right = width - kPad - 6 * kCellW;
  Tensor img = blank(height, width);
  const Canvas c{height, width, img.data<uint8_t>()};
  Axis xa = make_axis(0.0, 1.0, 6);
  xa.p0 = left, xa.p1 = right;
  c.text(text.title, kPad, width / 2, 1, 2);
  for (double v : xa.ticks) {
    const int64_t x = xa.pixel(v);
    c.line(top, x, bottom, x, kGrid);
    c.line(bottom, x, bottom + 4, x, kInk);
    c.text(tick_label(v, xa.step), bottom + 6, x, 1);
  }
  for (size_t k = 0; k < bars.size(); ++k) {
    const int64_t y = top + 2 + kRow * static_cast<int64_t>(k);
    const double v = bars[k].second;
    c.text(fit(bars[k].first, width / 3), y + 2, left - 6, 2);
    if (!std::isfinite(v)) {
      c.text("n/a", y + 2, left + 4);
      continue;
    }
    const int64_t end = xa.pixel(v);
    c.fill(y + 1, left + 1, y + kRow - 2, std::max(end, left + 2), series_colour(0));
    char value[16];
    std::snprintf(value, sizeof value, "%.3f", v);
    c.text(value, y + 2, end + 4);
  }
  c.line(bottom, left, bottom, right, kInk);
  c.line(top, left, bottom, left, kInk);
  c.text(text.x_label, height - kPad - kCellH, (left + right) / 2, 1);
  return img;
}

}  // namespace cudaseg::train
