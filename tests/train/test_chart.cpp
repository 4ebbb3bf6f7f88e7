// The charts of a run (train/chart.h): text in the built-in font found where
// a reader looks for it (title, axis labels, tick values, legend entries),
// round ticks, and bars as long as their values.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/error.h"
#include "train/chart.h"

using namespace cudaseg;
using namespace cudaseg::train;

namespace {

constexpr uint8_t kInk = 40;

bool is(const Tensor& img, int64_t y, int64_t x, Rgb c) {
  const uint8_t* p = img.data<uint8_t>() + (y * img.size(1) + x) * 3;
  return p[0] == c[0] && p[1] == c[1] && p[2] == c[2];
}

// Where `text` is printed in `img` in the ink colour: every set pixel of its
// mask is ink, every clear one and the 1-pixel frame around it not (so "0.0"
// is not found inside "0.000"). Returns the top-left corners.
std::vector<std::array<int64_t, 2>> find_text(const Tensor& img, const std::string& text, int scale = 1,
                                              bool vertical = false) {
  const Tensor mask = text_mask(text, scale, vertical);
  const int64_t mh = mask.size(0), mw = mask.size(1);
  const uint8_t* m = mask.data<uint8_t>();
  // Ink first: most places fail on the first set pixel.
  std::vector<std::array<int64_t, 2>> ink, paper;
  for (int64_t r = 0; r < mh; ++r)
    for (int64_t k = 0; k < mw; ++k) (m[r * mw + k] ? ink : paper).push_back({r, k});
  std::vector<std::array<int64_t, 2>> found;
  for (int64_t y = 0; y + mh <= img.size(0); ++y)
    for (int64_t x = 0; x + mw <= img.size(1); ++x) {
      bool match = true;
      for (size_t i = 0; i < ink.size() && match; ++i)
        match = is(img, y + ink[i][0], x + ink[i][1], {kInk, kInk, kInk});
      for (size_t i = 0; i < paper.size() && match; ++i)
        match = !is(img, y + paper[i][0], x + paper[i][1], {kInk, kInk, kInk});
      for (int64_t r = -1; r <= mh && match; ++r)
        for (int64_t k = -1; k <= mw && match; ++k) {
          const bool frame = r == -1 || r == mh || k == -1 || k == mw;
          const int64_t py = y + r, px = x + k;
          if (frame && py >= 0 && py < img.size(0) && px >= 0 && px < img.size(1))
            match = !is(img, py, px, {kInk, kInk, kInk});
        }
      if (match) found.push_back({y, x});
    }
  return found;
}

}  // namespace

TEST(Chart, TextMaskDrawsGlyphsAndTurnsThem) {
  const Tensor a = text_mask("A");
  ASSERT_EQ(a.shape(), Shape({10, 6}));
  const uint8_t* p = a.data<uint8_t>();
  // 'A': the apex in the middle of the first glyph row, both legs on the last.
  EXPECT_EQ(p[1 * 6 + 2], 1);
  EXPECT_EQ(p[1 * 6 + 0], 0);
  EXPECT_EQ(p[7 * 6 + 0], 1);
  EXPECT_EQ(p[7 * 6 + 4], 1);
  EXPECT_EQ(p[7 * 6 + 2], 0);
  int64_t ink = 0;
  for (int64_t i = 0; i < a.numel(); ++i) ink += p[i];
  EXPECT_EQ(text_mask("A", 2).shape(), Shape({20, 12}));
  const Tensor s2 = text_mask("A", 2);
  int64_t ink2 = 0;
  for (int64_t i = 0; i < s2.numel(); ++i) ink2 += s2.data<uint8_t>()[i];
  EXPECT_EQ(ink2, 4 * ink);
  // A quarter turn anticlockwise: column x of the text is row (width - 1 - x).
  const Tensor v = text_mask("AB", 1, true);
  ASSERT_EQ(v.shape(), Shape({12, 10}));
  const Tensor h = text_mask("AB");
  for (int64_t y = 0; y < 10; ++y)
    for (int64_t x = 0; x < 12; ++x)
      ASSERT_EQ(v.data<uint8_t>()[(11 - x) * 10 + y], h.data<uint8_t>()[y * 12 + x]);
  // Every printable character has ink but the space; other bytes print as '?'.
  for (char ch = 33; ch < 127; ++ch) {
    const Tensor g = text_mask(std::string(1, ch));
    int64_t n = 0;
    for (int64_t i = 0; i < g.numel(); ++i) n += g.data<uint8_t>()[i];
    EXPECT_GT(n, 0) << ch;
  }
  const Tensor q = text_mask("?"), odd = text_mask("\x01");
  EXPECT_TRUE(std::equal(q.data<uint8_t>(), q.data<uint8_t>() + q.numel(), odd.data<uint8_t>()));
  EXPECT_THROW(text_mask("A", 0), Error);
}

TEST(Chart, NiceTicksAndLabels) {
  EXPECT_EQ(nice_ticks(0.37, 2.3, 6), (std::vector<double>{0, 0.5, 1.0, 1.5, 2.0, 2.5}));
  EXPECT_EQ(nice_ticks(0, 1, 6), (std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0}));
  const auto steps = nice_ticks(10, 500, 6);
  EXPECT_EQ(steps.front(), 0);
  EXPECT_EQ(steps.back(), 500);
  EXPECT_EQ(steps[1], 100);
  const auto flat = nice_ticks(0.5, 0.5, 6);  // one value: a range around it
  EXPECT_LT(flat.front(), 0.5);
  EXPECT_GT(flat.back(), 0.5);
  EXPECT_EQ(tick_label(0.6000000000000001, 0.2), "0.6");
  EXPECT_EQ(tick_label(2.0, 0.5), "2.0");
  EXPECT_EQ(tick_label(300, 100), "300");
  EXPECT_EQ(tick_label(0.05, 0.05), "0.05");
  EXPECT_EQ(tick_label(-1e-17, 0.2), "0.0");
  EXPECT_EQ(tick_label(2e-5, 1e-5), "2e-05");
  EXPECT_THROW(nice_ticks(0, std::nan(""), 6), Error);
}

TEST(Chart, LineChartHasTitleAxisLabelsTicksAndLegend) {
  const std::vector<Series> series = {{"total", {{10, 2.3}, {20, 1.1}, {30, 0.6}}},
                                      {"seg", {{10, 1.5}, {20, 0.8}, {30, 0.4}}},
                                      {"aux", {{10, 0.8}, {20, 0.3}, {30, 0.2}}}};
  const Tensor img = line_chart(series, {"Training loss", "step", "loss"}, 360, 640);
  ASSERT_EQ(img.shape(), Shape({360, 640, 3}));
  const auto title = find_text(img, "Training loss", 2);
  ASSERT_EQ(title.size(), 1u);
  EXPECT_LT(title[0][0], 20);  // at the top, centred
  EXPECT_NEAR(static_cast<double>(title[0][1] + text_mask("Training loss", 2).size(1) / 2), 320, 2);
  const auto x_label = find_text(img, "step");
  ASSERT_EQ(x_label.size(), 1u);
  EXPECT_GT(x_label[0][0], 330);  // under the axis
  const auto y_label = find_text(img, "loss", 1, true);
  ASSERT_EQ(y_label.size(), 1u);
  EXPECT_LT(y_label[0][1], 20);  // left of the axis, turned
  // y ticks 0.0 .. 2.5 by 0.5 left of the axis; x ticks 10 .. 30 under it.
  for (const char* t : {"0.0", "0.5", "1.0", "1.5", "2.0", "2.5"}) {
    const auto at = find_text(img, t);
    ASSERT_EQ(at.size(), 1u) << t;
    EXPECT_LT(at[0][1], 60) << t;
  }
  for (const char* t : {"10", "15", "20", "25", "30"}) EXPECT_FALSE(find_text(img, t).empty()) << t;
  EXPECT_LT(find_text(img, "2.5")[0][0], find_text(img, "0.0")[0][0]);
  // One legend entry per series, each beside a swatch in the series' colour.
  for (size_t k = 0; k < series.size(); ++k) {
    const auto at = find_text(img, series[k].name);
    ASSERT_EQ(at.size(), 1u) << series[k].name;
    EXPECT_TRUE(is(img, at[0][0] + 4, at[0][1] - 10, series_colour(k))) << series[k].name;
  }
  // Without names there is no legend box.
  const Tensor plain = line_chart({{"", series[0].points}}, {"t", "x", "y"}, 360, 640);
  int64_t legend_colour = 0;
  for (int64_t y = 0; y < 360; ++y)
    for (int64_t x = 0; x < 640; ++x) legend_colour += is(plain, y, x, series_colour(1));
  EXPECT_EQ(legend_colour, 0);
  // A single point (one logged step) is a dot on integer step ticks around it.
  const Tensor dot = line_chart({{"a", {{2, 0.5}}}}, {"t", "step", "y"}, 360, 640);
  for (const char* t : {"1", "2", "3"}) EXPECT_EQ(find_text(dot, t).size(), 1u) << t;
  int64_t dot_pixels = 0;
  for (int64_t y = 0; y < 360; ++y)
    for (int64_t x = 0; x < 640; ++x) dot_pixels += is(dot, y, x, series_colour(0));
  EXPECT_GE(dot_pixels, 9 + 16);  // the dot and the legend's swatch
  EXPECT_THROW(line_chart({{"a", {}}}, {"t", "x", "y"}, 360, 640), Error);
  EXPECT_THROW(line_chart(series, {"t", "x", "y"}, 100, 640), Error);
}

// The legend goes to the right-hand corner the curves leave free.
TEST(Chart, LegendAvoidsTheCurves) {
  const ChartText text{"t", "x", "y"};
  const Tensor falling = line_chart({{"down", {{0, 1.0}, {10, 0.0}}}}, text, 360, 640);
  const Tensor rising = line_chart({{"up", {{0, 0.0}, {10, 1.0}}}}, text, 360, 640);
  ASSERT_EQ(find_text(falling, "down").size(), 1u);
  ASSERT_EQ(find_text(rising, "up").size(), 1u);
  EXPECT_LT(find_text(falling, "down")[0][0], 180);
  EXPECT_GT(find_text(rising, "up")[0][0], 180);
}

TEST(Chart, BarChartNamesEachBarAndSizesIt) {
  const std::vector<std::pair<std::string, double>> bars = {
      {"road", 0.9}, {"sidewalk", 0.45}, {"traffic light", std::nan("")}, {"sky", 0.0}};
  const Tensor img = bar_chart(bars, {"IoU per class at step 6", "IoU", ""}, 640);
  EXPECT_EQ(find_text(img, "IoU per class at step 6", 2).size(), 1u);
  EXPECT_EQ(find_text(img, "IoU").size(), 1u);
  for (const char* t : {"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}) EXPECT_EQ(find_text(img, t).size(), 1u) << t;
  std::vector<int64_t> rows;
  for (const auto& [name, v] : bars) {
    const auto at = find_text(img, name);
    ASSERT_EQ(at.size(), 1u) << name;
    rows.push_back(at[0][0] + 4);
  }
  EXPECT_EQ(find_text(img, "0.900").size(), 1u);
  EXPECT_EQ(find_text(img, "0.450").size(), 1u);
  EXPECT_EQ(find_text(img, "n/a").size(), 1u);
  auto bar_length = [&](int64_t y) {
    int64_t n = 0;
    for (int64_t x = 0; x < img.size(1); ++x) n += is(img, y, x, series_colour(0));
    return n;
  };
  EXPECT_NEAR(static_cast<double>(bar_length(rows[1])) / static_cast<double>(bar_length(rows[0])), 0.5, 0.02);
  EXPECT_EQ(bar_length(rows[2]), 0);
  EXPECT_THROW(bar_chart({}, {"t", "x", ""}, 640), Error);
}
