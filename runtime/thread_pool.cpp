#include "runtime/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "runtime/error.h"

namespace cudaseg {
namespace {

thread_local bool in_parallel_region = false;
thread_local int t_thread_limit = 0;
std::atomic<int> threads_until_failure{-1};

std::thread start_thread(std::function<void()> body) {
  if (threads_until_failure.load() >= 0 && threads_until_failure.fetch_sub(1) <= 0)
    throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
  return std::thread(std::move(body));
}

class Pool {
 public:
  explicit Pool(int threads) {
    try {
      for (int i = 0; i < threads - 1; ++i) workers_.push_back(start_thread([this] { loop(); }));
    } catch (const std::system_error& e) {
      // The workers already running must be joined before the pool goes, or
      // their std::thread destructors terminate the process.
      const size_t started = workers_.size();
      stop();
      CUDASEG_FAIL("cannot start CPU thread ", started + 2, " of ", threads, ": ", e.what(),
                   " (a process or address-space limit); ask for fewer threads (--threads, CUDASEG_NUM_THREADS)");
    }
  }
  ~Pool() { stop(); }
  int size() const { return static_cast<int>(workers_.size()) + 1; }
  void submit(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

 private:
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }
  void loop() {
    in_parallel_region = true;
    while (true) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
        if (stop_ && jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }
  std::vector<std::thread> workers_;
  std::deque<std::function<void()>> jobs_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
};

int default_threads() {
  if (const char* env = std::getenv("CUDASEG_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return std::min(n, kMaxThreads);
  }
  return std::min<int>(kMaxThreads, std::max(1u, std::thread::hardware_concurrency()));
}

std::mutex pool_mutex;
std::shared_ptr<Pool>& pool_ref() {
  static std::shared_ptr<Pool> pool = std::make_shared<Pool>(default_threads());
  return pool;
}

std::shared_ptr<Pool> pool() {
  std::lock_guard<std::mutex> lock(pool_mutex);
  return pool_ref();
}

}  // namespace

void set_num_threads(int n) {
  CUDASEG_CHECK(n >= 1 && n <= kMaxThreads, "set_num_threads: need 1 to ", kMaxThreads, " threads, got ", n);
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (pool_ref()->size() != n) pool_ref() = std::make_shared<Pool>(n);
}

int num_threads() { return pool()->size(); }

ThreadLimit::ThreadLimit(int max_threads) : previous_(t_thread_limit) {
  CUDASEG_CHECK(max_threads >= 0 && max_threads <= kMaxThreads, "ThreadLimit: need 0 to ", kMaxThreads,
                " threads, got ", max_threads);
  t_thread_limit = max_threads;
}

ThreadLimit::~ThreadLimit() { t_thread_limit = previous_; }

int thread_limit() { return t_thread_limit; }

namespace test_hooks {
void fail_thread_creation_after(int n) { threads_until_failure.store(n); }
}  // namespace test_hooks

void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& f) {
  if (end <= begin) return;
  grain = std::max<int64_t>(grain, 1);
  auto p = pool();
  const int64_t n = end - begin;
  const int64_t threads = t_thread_limit > 0 ? std::min(t_thread_limit, p->size()) : p->size();
  const int64_t max_chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
  if (max_chunks <= 1 || in_parallel_region) {
    f(begin, end);
    return;
  }
  const int64_t per = (n + max_chunks - 1) / max_chunks;
  const int64_t chunks = (n + per - 1) / per;
  struct Shared {
    std::mutex mutex;
    std::condition_variable cv;
    int64_t pending;
    std::exception_ptr error;
  };
  auto shared = std::make_shared<Shared>();
  shared->pending = chunks - 1;
  auto run = [&f, shared](int64_t b, int64_t e) {
    try {
      f(b, e);
    } catch (...) {
      std::lock_guard<std::mutex> lock(shared->mutex);
      if (!shared->error) shared->error = std::current_exception();
    }
  };
  for (int64_t c = 1; c < chunks; ++c) {
    const int64_t b = begin + c * per, e = std::min(end, b + per);
    p->submit([run, shared, b, e] {
      run(b, e);
      std::lock_guard<std::mutex> lock(shared->mutex);
      if (--shared->pending == 0) shared->cv.notify_one();
    });
  }
  in_parallel_region = true;
  run(begin, std::min(end, begin + per));
  in_parallel_region = false;
  std::unique_lock<std::mutex> lock(shared->mutex);
  shared->cv.wait(lock, [&] { return shared->pending == 0; });
  if (shared->error) std::rethrow_exception(shared->error);
}

}  // namespace cudaseg
