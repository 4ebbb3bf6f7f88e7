// Charts a person can read, drawn here without a plotting library as u8
// [H, W, 3] images: a title, labelled axes with tick values at round
// numbers, grid lines, and a legend naming each series. Text uses a built-in
// 5x7 pixel font of printable ASCII (6x10 pixel cells, any other byte drawn
// as '?'), scaled by whole numbers for titles.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/tensor.h"

namespace cudaseg::train {

using Rgb = std::array<uint8_t, 3>;

struct Series {
  std::string name;
  std::vector<std::array<double, 2>> points;  // (x, y), finite
};

struct ChartText {
  std::string title, x_label, y_label;
};

// The ink of `text` as u8 [rows, cols] (1 where a pixel is set): 10 * scale
// rows and 6 * scale columns per character; `vertical` turns it a quarter
// turn anticlockwise (read bottom to top, as a y axis label).
Tensor text_mask(const std::string& text, int scale = 1, bool vertical = false);

// Round tick values (1, 2 or 5 times a power of ten apart) covering
// [lo, hi], about `count` of them; the first <= lo and the last >= hi.
std::vector<double> nice_ticks(double lo, double hi, int count);

// A tick value printed with the decimals its spacing `step` needs.
std::string tick_label(double value, double step);

// The colour of the k-th series (the first is (31, 119, 180)).
Rgb series_colour(size_t k);

// Line chart of one or more series (at least one point in all, height >= 120,
// width >= 200), one colour each and a legend with their names when there
// are several. `y_range`, when min < max, fixes the y axis; otherwise it
// spans the points, widened to round ticks.
Tensor line_chart(const std::vector<Series>& series, const ChartText& text, int64_t height, int64_t width,
                  std::array<double, 2> y_range = {0, 0});

// Horizontal bars (name, value in [0, 1]; a non-finite value is drawn as
// "n/a" with no bar), names left of the axis and each value at its bar's
// end; the height grows with the number of bars (width >= 200).
Tensor bar_chart(const std::vector<std::pair<std::string, double>>& bars, const ChartText& text, int64_t width);

}  // namespace cudaseg::train
