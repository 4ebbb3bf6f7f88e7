// The error kind (out of memory told apart by type, not by message text) and
// the process-wide log sink.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "runtime/cpu_cache.h"
#include "runtime/error.h"
#include "runtime/log.h"
#include "runtime/tensor.h"

using namespace cudaseg;

TEST(ErrorKind, OutOfMemoryKindSurvivesContext) {
  const Error plain("out of memory, says the text");
  EXPECT_EQ(plain.kind(), ErrorKind::general);
  const Error oom = Error("no memory", ErrorKind::out_of_memory).with_context("layer").with_context("net");
  EXPECT_EQ(oom.kind(), ErrorKind::out_of_memory);
  EXPECT_STREQ(oom.what(), "net: layer: no memory");
}

TEST(ErrorKind, RefusedHostAllocationIsOutOfMemory) {
  try {
    cpu_cache_alloc(std::numeric_limits<size_t>::max() / 4, 64);
    FAIL() << "a quarter of the address space was allocated";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::out_of_memory) << e.what();
  }
  try {
    Tensor::empty({int64_t{1} << 22, int64_t{1} << 22}, DType::f32);
    FAIL() << "64 TiB were allocated";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::out_of_memory) << e.what();
  }
}

namespace {
std::vector<std::pair<LogLevel, std::string>>& received() {
  static std::vector<std::pair<LogLevel, std::string>> r;
  return r;
}
void collect(LogLevel level, const char* message, void* user_data) {
  received().emplace_back(level, message);
  ++*static_cast<int*>(user_data);
}
}  // namespace

TEST(LogSink, ReceivesMessagesAtTheLevelUntilReset) {
  const LogLevel before = log_level();
  int calls = 0;
  received().clear();
  set_log_sink(collect, &calls);
  set_log_level(LogLevel::warn);
  CUDASEG_LOG_INFO("dropped");
  CUDASEG_LOG_WARN("kept ", 42);
  set_log_sink(nullptr, nullptr);
  CUDASEG_LOG_ERROR("to stderr");
  set_log_level(before);
  ASSERT_EQ(received().size(), 1u);
  EXPECT_EQ(received()[0].first, LogLevel::warn);
  EXPECT_EQ(received()[0].second, "kept 42");
  EXPECT_EQ(calls, 1);
}
