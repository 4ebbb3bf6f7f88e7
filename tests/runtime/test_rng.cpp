#include <gtest/gtest.h>

#include <cmath>

#include "runtime/philox.h"
#include "runtime/rng.h"

using namespace cudaseg;

// Known-answer vectors of Random123 (kat_vectors, philox4x32_10).
TEST(Philox, MatchesRandom123KnownAnswers) {
  philox::Block zero = philox::philox4x32_10(philox::Block{{0, 0, 0, 0}}, 0, 0);
  EXPECT_EQ(zero.v[0], 0x6627e8d5u);
  EXPECT_EQ(zero.v[1], 0xe169c58du);
  EXPECT_EQ(zero.v[2], 0xbc57ac4cu);
  EXPECT_EQ(zero.v[3], 0x9b00dbd8u);
  philox::Block ones = philox::philox4x32_10(
      philox::Block{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu);
  EXPECT_EQ(ones.v[0], 0x408f276du);
  EXPECT_EQ(ones.v[1], 0x41c83b0eu);
  EXPECT_EQ(ones.v[2], 0xa20bc7c6u);
  EXPECT_EQ(ones.v[3], 0x6d5451fdu);
  philox::Block pi = philox::philox4x32_10(
      philox::Block{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u);
  EXPECT_EQ(pi.v[0], 0xd16cfe09u);
  EXPECT_EQ(pi.v[1], 0x94fdccebu);
  EXPECT_EQ(pi.v[2], 0x5001e420u);
  EXPECT_EQ(pi.v[3], 0x24126ea1u);
}

TEST(Generator, SameSeedSameNumbersAndOffsetsAdvance) {
  Generator a(42), b(42);
  const std::vector<double> ua = a.uniform({1000}).to_vector();
  EXPECT_EQ(ua, b.uniform({1000}).to_vector());
  EXPECT_EQ(a.offset(), 1000u);
  // The next draw continues the stream rather than repeating it.
  const std::vector<double> next = a.uniform({1000}).to_vector();
  EXPECT_NE(ua, next);
  // Resuming from a saved state reproduces the draw exactly.
  Generator c(42, 1000);
  EXPECT_EQ(c.uniform({1000}).to_vector(), next);
  Generator d(43);
  EXPECT_NE(d.uniform({1000}).to_vector(), ua);
}

TEST(Generator, UniformAndNormalHaveTheRightMoments) {
  Generator gen(3);
  const std::vector<double> u = gen.uniform({200000}, -2.0, 6.0).to_vector();
  double mean = 0, lo = 1e9, hi = -1e9;
  for (double x : u) {
    mean += x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  mean /= u.size();
  EXPECT_NEAR(mean, 2.0, 0.03);
  EXPECT_GE(lo, -2.0);
  EXPECT_LT(hi, 6.0);
  const std::vector<double> n = gen.normal({200000}, 1.5, 2.0, DType::f64).to_vector();
  double m = 0, v = 0;
  for (double x : n) m += x;
  m /= n.size();
  for (double x : n) v += (x - m) * (x - m);
  v /= n.size() - 1;
  EXPECT_NEAR(m, 1.5, 0.02);
  EXPECT_NEAR(std::sqrt(v), 2.0, 0.02);
}

TEST(Generator, RejectsIntegerDtypes) { EXPECT_THROW(Generator(1).uniform({3}, 0, 1, DType::i32), Error); }
