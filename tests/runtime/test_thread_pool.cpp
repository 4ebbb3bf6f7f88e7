#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "runtime/error.h"
#include "runtime/thread_pool.h"

using namespace cudaseg;

TEST(ThreadPool, CoversEveryIndexOnce) {
  for (int threads : {1, 3, 4}) {
    set_num_threads(threads);
    EXPECT_EQ(num_threads(), threads);
    for (int64_t n : {1, 5, 7, 1000, 12345}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      parallel_for(0, n, 3, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) ++hits[static_cast<size_t>(i)];
      });
      for (auto& h : hits) ASSERT_EQ(h.load(), 1);
    }
  }
}

TEST(ThreadPool, PropagatesExceptionsAndNests) {
  set_num_threads(4);
  EXPECT_THROW(parallel_for(0, 100, 1, [](int64_t b, int64_t) {
                 if (b > 0) CUDASEG_FAIL("chunk failed");
               }),
               Error);
  std::atomic<int64_t> total{0};
  parallel_for(0, 8, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      parallel_for(0, 10, 1, [&](int64_t bb, int64_t ee) { total += ee - bb; });
  });
  EXPECT_EQ(total.load(), 80);
  EXPECT_THROW(set_num_threads(0), Error);
}
