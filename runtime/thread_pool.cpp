#include "runtime/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "runtime/error.h"

namespace cudaseg {
namespace {

thread_local bool in_parallel_region = false;
thread_local int t_thread_limit = 0;
std::atomic<int> threads_until_failure{-1};

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// How long a worker polls for the next task, and a caller for its helpers,
// before sleeping on a condition variable (CUDASEG_SPIN_US, default 200). A
// net's convolutions follow each other a few to a few hundred microseconds
// apart; a worker woken from sleep starts 20-60 us late (futex wake and
// reschedule), which on a 2-thread split of a 100 us layer lost more than the
// second thread gained.
std::chrono::microseconds spin_time() {
  static const std::chrono::microseconds us = [] {
    if (const char* env = std::getenv("CUDASEG_SPIN_US")) {
      char* end = nullptr;
      const long long v = std::strtoll(env, &end, 10);
      if (end != env && *end == '\0' && v >= 0) return std::chrono::microseconds(std::min<long long>(v, 1000000));
    }
    return std::chrono::microseconds(200);
  }();
  return us;
}

// Polls `ready` with a pause between reads until it holds or the spin time
// has passed; the clock is read every 64 polls.
template <typename Ready>
bool spin_until(Ready ready) {
  const auto limit = spin_time();
  if (limit.count() == 0) return ready();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (int i = 1;; ++i) {
    if (ready()) return true;
    cpu_relax();
    if (i % 64 == 0 && std::chrono::steady_clock::now() >= deadline) return ready();
  }
}

// One parallel_for call: its chunks are claimed one at a time, by the caller
// and by the workers that picked the task from the queue, so a worker that
// starts late takes fewer chunks instead of holding the caller up. Lives on
// the caller's stack: the caller withdraws the task's queue entries and waits
// for `helpers` to drop to zero before it returns.
struct Task {
  const std::function<void(int64_t, int64_t)>* f = nullptr;
  int64_t begin = 0, end = 0, per = 1, chunks = 0;
  std::atomic<int64_t> next{0};
  std::atomic<int> helpers{0};
  std::mutex error_mutex;
  std::exception_ptr error;

  void run_chunks() {
    for (int64_t c = next.fetch_add(1); c < chunks; c = next.fetch_add(1)) {
      const int64_t b = begin + c * per;
      try {
        (*f)(b, std::min(end, b + per));
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  }
};

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

  // Runs the task's chunks with up to `helpers` workers beside the caller.
  void run(Task& task, int helpers) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (int i = 0; i < helpers; ++i) jobs_.push_back(&task);
      queued_.fetch_add(helpers);
      if (sleepers_ > 0) cv_.notify_all();
    }
    in_parallel_region = true;
    task.run_chunks();
    in_parallel_region = false;
    withdraw(task);
    const auto idle = [&] { return task.helpers.load() == 0; };
    if (!spin_until(idle)) {
      std::unique_lock<std::mutex> lock(done_mutex_);
      ++done_waiters_;
      done_cv_.wait(lock, idle);
      --done_waiters_;
    }
  }

 private:
  // Removes the task's entries no worker has taken: every chunk is claimed,
  // and after this no worker can reach the task except those already in it.
  void withdraw(Task& task) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = std::remove(jobs_.begin(), jobs_.end(), &task);
    queued_.fetch_sub(static_cast<int>(jobs_.end() - it));
    jobs_.erase(it, jobs_.end());
  }
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
      spin_until([this] { return queued_.load(std::memory_order_relaxed) > 0; });
      Task* task = nullptr;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        if (jobs_.empty() && !stop_) {
          ++sleepers_;
          cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
          --sleepers_;
        }
        if (stop_ && jobs_.empty()) return;
        task = jobs_.front();
        jobs_.pop_front();
        queued_.fetch_sub(1);
        // Under the queue's lock, so the caller's withdraw sees this helper.
        task->helpers.fetch_add(1);
      }
      task->run_chunks();
      // The task may be gone once helpers reaches zero: only the pool is
      // touched after it. Sequentially consistent with the caller's
      // increment of done_waiters_ and its read of helpers, so either the
      // caller sees zero or this thread sees the waiter.
      task->helpers.fetch_sub(1);
      if (done_waiters_.load() > 0) {
        std::lock_guard<std::mutex> lock(done_mutex_);
        done_cv_.notify_all();
      }
    }
  }
  std::vector<std::thread> workers_;
  std::deque<Task*> jobs_;
  std::atomic<int> queued_{0};
  int sleepers_ = 0;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::mutex done_mutex_;
  std::condition_variable done_cv_;
  std::atomic<int> done_waiters_{0};
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
  const int64_t n = end - begin;
  if (in_parallel_region || n <= grain) {
    f(begin, end);
    return;
  }
  auto p = pool();
  const int64_t threads = t_thread_limit > 0 ? std::min(t_thread_limit, p->size()) : p->size();
  const int64_t max_chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
  if (max_chunks <= 1) {
    f(begin, end);
    return;
  }
  Task task;
  task.f = &f;
  task.begin = begin;
  task.end = end;
  task.per = (n + max_chunks - 1) / max_chunks;
  task.chunks = (n + task.per - 1) / task.per;
  p->run(task, static_cast<int>(task.chunks - 1));
  if (task.error) std::rethrow_exception(task.error);
}

}  // namespace cudaseg
