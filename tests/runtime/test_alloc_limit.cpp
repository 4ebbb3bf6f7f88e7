#include <gtest/gtest.h>

#include "common/testing.h"
#include "runtime/alloc_limit.h"
#include "runtime/tensor.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;

TEST(AllocationLimit, RefusesBeforeAllocatingAndNamesTheWork) {
  const AllocationLimit limit(size_t{1} << 20, "building a toy");
  Tensor a = Tensor::empty({1 << 17});  // 512 KiB
  EXPECT_EQ(limit.used(), size_t{1} << 19);
  // 2^60 floats cannot be allocated at all: refused by the check, not by malloc.
  EXPECT_TRUE(ct::throws_mentioning([] { Tensor::empty({int64_t{1} << 60}); },
                                    {"building a toy: allocating 4.29e+09 GiB would pass the limit of 0.000977 GiB",
                                     "0.000488 GiB allocated so far"}));
  EXPECT_TRUE(ct::throws_mentioning([] { Tensor::empty({(1 << 17) + 1}); }, {"building a toy"}));
  Tensor b = Tensor::empty({1 << 17});  // exactly up to the limit
  EXPECT_EQ(limit.used(), size_t{1} << 20);
}

TEST(AllocationLimit, ScopesNestAndEnd) {
  {
    const AllocationLimit outer(size_t{1} << 20, "outer");
    {
      const AllocationLimit inner(size_t{1} << 30, "inner");
      EXPECT_TRUE(ct::throws_mentioning([] { Tensor::empty({1 << 19}); }, {"outer: allocating"}));
      Tensor a = Tensor::empty({1 << 10});
      EXPECT_EQ(inner.used(), size_t{4} << 10);
      EXPECT_EQ(outer.used(), size_t{4} << 10);
    }
    Tensor b = Tensor::empty({1 << 10});
    EXPECT_EQ(outer.used(), size_t{8} << 10);
  }
  // No scope open: nothing is charged or refused.
  EXPECT_EQ(Tensor::empty({1 << 19}).numel(), 1 << 19);
}
