// A fixed pool of worker threads for the CPU kernels. Its size starts from
// CUDASEG_NUM_THREADS, else the machine's hardware threads, and can be set.
#pragma once

#include <cstdint>
#include <functional>

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg {

// More threads than this is a typo, not a machine. Not inline: an inline
// variable of the public API would be an exported STB_GNU_UNIQUE symbol,
// which keeps libcudaseg.so loaded after dlclose.
constexpr int kMaxThreads = 1024;

// 1 <= n <= kMaxThreads; rebuilds the pool. When the system refuses a thread
// (an address-space or process limit), throws cudaseg::Error saying so and
// keeps the pool it had.
void set_num_threads(int n);
int num_threads();

// Caps the threads that parallel_for uses on the calling thread, for the
// guard's lifetime (an inference session's own thread count, while the pool
// stays shared by the process); 0 lifts the cap. Guards nest.
class ThreadLimit {
 public:
  explicit ThreadLimit(int max_threads);
  ~ThreadLimit();
  ThreadLimit(const ThreadLimit&) = delete;
  ThreadLimit& operator=(const ThreadLimit&) = delete;

 private:
  int previous_;
};
// The calling thread's cap (0: none).
int thread_limit();

namespace test_hooks {
// Makes thread creation fail after `n` more threads have started (negative:
// never), as the system does under a limit, so the failure path can be tested.
void fail_thread_creation_after(int n);
}  // namespace test_hooks

// Splits [begin, end) into at most num_threads() chunks of at least `grain`
// items and runs f(chunk_begin, chunk_end) on them, the caller taking one.
// Nested calls from inside a worker run serially. The first exception thrown
// by any chunk is rethrown in the caller after all chunks finish.
void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& f);

}  // namespace cudaseg
CUDASEG_API_END
