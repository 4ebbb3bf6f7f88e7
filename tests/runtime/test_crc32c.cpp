#include <gtest/gtest.h>

#include <string>

#include "runtime/crc32c.h"

using namespace cudaseg;

// The check value of the CRC-32C catalogue and RFC 3720's iSCSI vectors, over
// lengths that exercise the 8-byte steps and the tail.
TEST(Crc32c, KnownValuesAndChaining) {
  const std::string digits = "123456789";
  EXPECT_EQ(crc32c(digits.data(), digits.size()), 0xe3069283u);
  const std::string zeros(32, '\0'), ones(32, '\xff');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8a9136aau);
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62a8ab43u);
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
  EXPECT_EQ(crc32c(digits.data() + 4, 5, crc32c(digits.data(), 4)), 0xe3069283u);
}
