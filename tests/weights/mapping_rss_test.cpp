// Loading a ~100 MB checkpoint maps the blob instead of copying it: in a
// child process, peak RSS grows by about one blob (the touched pages), far
// from the two blobs a copy would need.
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/weights/helpers.h"
#include "weights/checkpoint.h"
#include "weights/pth.h"

namespace cudaseg::weights {
namespace {

constexpr int64_t kElements = 25 * 1024 * 1024;  // 100 MiB of float32

int64_t vm_hwm_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

// Sums every element as integers so that every page is read.
uint64_t checksum(const Tensor& t) {
  const auto* p = static_cast<const uint32_t*>(t.raw_data());
  uint64_t sum = 0;
  for (int64_t i = 0; i < t.numel(); ++i) sum += p[i] ^ static_cast<uint64_t>(i);
  return sum;
}

Tensor big_tensor() {
  Tensor t = Tensor::empty({kElements}, DType::f32);
  auto* p = t.data<float>();
  uint32_t x = 2463534242u;
  for (int64_t i = 0; i < kElements; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = static_cast<float>(x) * 1e-9f;
  }
  return t;
}

// Runs `load` in a child; returns {RSS growth in bytes, checksum}.
std::pair<int64_t, uint64_t> measure_in_child(const std::function<Tensor()>& load) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    int64_t result[2] = {-1, 0};
    try {
      const int64_t before = vm_hwm_kb();
      const Tensor t = load();
      const uint64_t sum = checksum(t);
      result[0] = (vm_hwm_kb() - before) * 1024;
      std::memcpy(&result[1], &sum, sizeof(sum));
    } catch (...) {
      result[0] = -2;
    }
    const ssize_t n = ::write(fds[1], result, sizeof(result));
    ::_exit(n == sizeof(result) ? 0 : 1);
  }
  ::close(fds[1]);
  int64_t result[2] = {-1, 0};
  EXPECT_EQ(::read(fds[0], result, sizeof(result)), static_cast<ssize_t>(sizeof(result)));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  uint64_t sum = 0;
  std::memcpy(&sum, &result[1], sizeof(sum));
  return {result[0], sum};
}

TEST(MappingRss, HundredMegabyteCheckpointIsMappedNotCopied) {
  testing::TempDir dir;
  uint64_t expected_sum = 0;
  {
    Checkpoint ck;
    const Tensor t = big_tensor();
    expected_sum = checksum(t);
    ck.tensors.insert("backbone.big", t);
    ck.tensors.insert("head.small", testing::random_tensor({7, 3}, DType::f32, 3));
    save_checkpoint(dir.file("big"), ck);
  }
  const int64_t blob = kElements * 4;
  const auto [growth, sum] = measure_in_child([&] { return load_checkpoint(dir.file("big")).tensors.at("backbone.big"); });
  ASSERT_GE(growth, 0) << "the child failed";
  EXPECT_EQ(sum, expected_sum);
  EXPECT_LT(growth, blob * 13 / 10) << "peak RSS grew by " << growth / (1 << 20) << " MiB for a "
                                    << blob / (1 << 20) << " MiB blob: the data was copied";
}

TEST(MappingRss, HundredMegabytePthIsMappedNotCopied) {
  testing::TempDir dir;
  uint64_t expected_sum = 0;
  {
    TensorDict d;
    const Tensor t = big_tensor();
    expected_sum = checksum(t);
    d.insert("big", t);
    save_pth(dir.file("big.pth"), d);
  }
  const int64_t blob = kElements * 4;
  const auto [growth, sum] = measure_in_child([&] { return load_pth(dir.file("big.pth")).tensors.at("big"); });
  ASSERT_GE(growth, 0) << "the child failed";
  EXPECT_EQ(sum, expected_sum);
  EXPECT_LT(growth, blob * 13 / 10) << "peak RSS grew by " << growth / (1 << 20) << " MiB";
}

}  // namespace
}  // namespace cudaseg::weights
