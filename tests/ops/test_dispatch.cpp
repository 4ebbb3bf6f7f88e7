// The dispatch table of ops/dispatch.h: a registered kernel receives the
// call's arguments, a missing one is an error naming the op and the device,
// and registering a device twice is refused. The op families' own CPU tests
// then prove that their static-initialiser registrations survived the link.
#include <gtest/gtest.h>

#include "common/testing.h"
#include "ops/dispatch.h"
#include "ops/softmax.h"

namespace cudaseg {
using testing::throws_mentioning;

namespace {

int scaled_sum(int a, int b, const int& scale) { return (a + b) * scale; }
int other(int, int, const int&) { return -1; }

TEST(Dispatch, CallsTheRegisteredKernelWithTheArguments) {
  ops::Kernel<int(int, int, const int&)> table("test_op");
  table.set(DeviceType::cpu, scaled_sum);
  EXPECT_EQ(table(Device::cpu(), 2, 3, 4), 20);
}

TEST(Dispatch, MissingKernelNamesTheOpAndTheDevice) {
  ops::Kernel<int(int, int, const int&)> table("test_op");
  table.set(DeviceType::cpu, scaled_sum);
  EXPECT_TRUE(throws_mentioning([&] { table(Device::cuda(1), 1, 2, 3); }, {"test_op", "no kernel for cuda:1"}));
}

TEST(Dispatch, EachDeviceHasItsOwnEntry) {
  ops::Kernel<int(int, int, const int&)> table("test_op");
  table.set(DeviceType::cuda, other);
  EXPECT_TRUE(table.has(DeviceType::cuda));
  EXPECT_FALSE(table.has(DeviceType::cpu));
  EXPECT_EQ(table(Device::cuda(), 2, 3, 4), -1);
  EXPECT_TRUE(throws_mentioning([&] { table(Device::cpu(), 1, 2, 3); }, {"test_op", "no kernel for cpu"}));
}

TEST(Dispatch, RegisteringADeviceTwiceThrows) {
  ops::Kernel<int(int, int, const int&)> table("test_op");
  table.set(DeviceType::cpu, scaled_sum);
  EXPECT_TRUE(throws_mentioning([&] { table.set(DeviceType::cpu, other); }, {"test_op", "already registered"}));
  EXPECT_EQ(table(Device::cpu(), 1, 1, 1), 2);
}

TEST(Dispatch, LibraryKernelsRegisteredFromStaticInitialisers) {
  const Tensor x = Tensor::from_vector({0.0, 0.0}, {2}, DType::f64);
  EXPECT_EQ(ops::softmax(x, 0).to_vector(), (std::vector<double>{0.5, 0.5}));
}

}  // namespace
}  // namespace cudaseg
