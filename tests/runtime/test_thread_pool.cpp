#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
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

// Under an address-space or process limit std::thread throws: the pool joins
// the workers it started and reports it (it used to terminate or hang), and
// the previous pool keeps working.
TEST(ThreadPool, ThreadCreationFailureIsAnErrorAndKeepsThePool) {
  set_num_threads(2);
  test_hooks::fail_thread_creation_after(3);
  try {
    set_num_threads(8);
    ADD_FAILURE() << "set_num_threads(8) succeeded with thread creation failing";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot start CPU thread 5 of 8"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("fewer threads"), std::string::npos) << e.what();
  }
  test_hooks::fail_thread_creation_after(-1);
  EXPECT_EQ(num_threads(), 2);
  std::atomic<int64_t> total{0};
  parallel_for(0, 100, 1, [&](int64_t b, int64_t e) { total += e - b; });
  EXPECT_EQ(total.load(), 100);
  EXPECT_THROW(set_num_threads(kMaxThreads + 1), Error);
}

// A ThreadLimit caps the chunks of the calling thread's parallel_for (a
// session's own thread count) and is restored when the guard goes.
TEST(ThreadPool, ThreadLimitCapsTheCallingThreadOnly) {
  set_num_threads(4);
  auto chunks = [] {
    std::atomic<int> n{0};
    parallel_for(0, 1000, 1, [&](int64_t, int64_t) { ++n; });
    return n.load();
  };
  EXPECT_EQ(chunks(), 4);
  {
    const ThreadLimit two(2);
    EXPECT_EQ(thread_limit(), 2);
    EXPECT_EQ(chunks(), 2);
    {
      const ThreadLimit one(1);
      EXPECT_EQ(chunks(), 1);
    }
    EXPECT_EQ(chunks(), 2);
    int other = -1;
    std::thread([&] { other = thread_limit(); }).join();
    EXPECT_EQ(other, 0);
  }
  EXPECT_EQ(thread_limit(), 0);
  EXPECT_EQ(chunks(), 4);
  EXPECT_THROW(ThreadLimit(-1), Error);
}

// Chunks are claimed, not assigned: while the pool's only worker is held by
// another thread's parallel_for, a caller runs every chunk of its own call
// itself and returns (a worker starting late no longer holds the caller up).
TEST(ThreadPool, ACallerDoesNotWaitForABusyWorker) {
  set_num_threads(2);
  std::atomic<int> entered{0};
  std::atomic<bool> release{false};
  std::thread holder([&] {
    parallel_for(0, 2, 1, [&](int64_t, int64_t) {
      ++entered;
      while (!release.load()) std::this_thread::yield();
    });
  });
  // Both chunks running: one on `holder`, one on the worker.
  while (entered.load() < 2) std::this_thread::yield();
  std::atomic<int64_t> total{0};
  auto mine = std::async(std::launch::async, [&] {
    parallel_for(0, 100, 1, [&](int64_t b, int64_t e) { total += e - b; });
  });
  const bool finished = mine.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  release = true;
  holder.join();
  mine.get();
  EXPECT_TRUE(finished) << "parallel_for waited for the busy worker";
  EXPECT_EQ(total.load(), 100);
}
