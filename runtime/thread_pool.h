// A fixed pool of worker threads for the CPU kernels. Its size starts from
// CUDASEG_NUM_THREADS, else the machine's hardware threads, and can be set.
#pragma once

#include <cstdint>
#include <functional>

namespace cudaseg {

void set_num_threads(int n);  // n >= 1; rebuilds the pool
int num_threads();

// Splits [begin, end) into at most num_threads() chunks of at least `grain`
// items and runs f(chunk_begin, chunk_end) on them, the caller taking one.
// Nested calls from inside a worker run serially. The first exception thrown
// by any chunk is rethrown in the caller after all chunks finish.
void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& f);

}  // namespace cudaseg
