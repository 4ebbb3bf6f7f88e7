// runtime/strided.h: the row walk (for_each_strided_row) visits every element
// once with the offsets of the element walk (for_each_strided), on merged,
// broadcast, transposed, offset, empty and size-1 layouts, on several threads.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <vector>

#include "runtime/strided.h"
#include "runtime/thread_pool.h"

using namespace cudaseg;

namespace {

struct Layout {
  Shape shape, a, b;  // strides of two operands
  int64_t a0, b0;     // base offsets
  int64_t max_rows;   // rows the merged walk may take at most
};

void expect_rows_cover_the_elements(const Layout& l) {
  std::map<std::pair<int64_t, int64_t>, int> want;
  for_each_strided<2>(l.shape, {&l.a, &l.b}, {l.a0, l.b0},
                      [&](const std::array<int64_t, 2>& o) { ++want[{o[0], o[1]}]; });
  std::map<std::pair<int64_t, int64_t>, int> got;
  std::mutex mutex;
  std::atomic<int64_t> rows{0};
  for_each_strided_row<2>(l.shape, {&l.a, &l.b}, {l.a0, l.b0},
                          [&](const std::array<int64_t, 2>& o, int64_t len, const std::array<int64_t, 2>& s) {
                            ++rows;
                            std::lock_guard<std::mutex> lock(mutex);
                            for (int64_t i = 0; i < len; ++i) ++got[{o[0] + i * s[0], o[1] + i * s[1]}];
                          });
  EXPECT_EQ(got, want) << shape_str(l.shape);
  EXPECT_LE(rows.load(), l.max_rows) << shape_str(l.shape) << ": dimensions not merged";
}

}  // namespace

TEST(Strided, RowWalkVisitsEveryElementOnceWithItsOffsets) {
  set_num_threads(3);
  const Layout layouts[] = {
      {{2, 3, 4, 5}, {60, 20, 5, 1}, {60, 20, 5, 1}, 0, 0, 1},            // contiguous: one row
      {{2, 3, 4, 5}, {60, 20, 5, 1}, {3, 1, 0, 0}, 7, 2, 6},              // [N,C,1,1] broadcast: a row per plane
      {{2, 3, 4, 5}, {60, 20, 5, 1}, {20, 0, 5, 1}, 0, 0, 6},             // [N,1,H,W] broadcast
      {{2, 3, 4, 5}, {60, 20, 5, 1}, {60, 5, 15, 1}, 0, 0, 24},           // transposed middle dims
      {{4, 1, 6}, {6, 6, 1}, {1, 1, 4}, 0, 3, 4},                         // a size-1 dim, a transposed pair
      {{2, 6, 8}, {48, 8, 1}, {48, 1, 6}, 0, 0, 96},                      // channel shuffle's inner transpose
      {{3, 0, 5}, {5, 5, 1}, {5, 5, 1}, 0, 0, 0},                         // empty
      {{}, {}, {}, 4, 9, 1},                                              // a scalar
      {{1, 1, 1}, {1, 1, 1}, {0, 0, 0}, 2, 5, 1},                         // one element
      {{7, 1000}, {1000, 1}, {0, 1}, 0, 0, 7},                            // many rows, split over threads
  };
  for (const Layout& l : layouts) expect_rows_cover_the_elements(l);
}
