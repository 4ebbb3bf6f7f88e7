// runtime/memory_plan.h: recording, packing by lifetime, replay from the
// arena, results kept out of it, and every divergence falling back to the
// allocator without aliasing live memory.
#include <gtest/gtest.h>

#include <functional>

#include "runtime/error.h"
#include "runtime/memory_plan.h"
#include "runtime/storage.h"
#include "runtime/tensor.h"

using namespace cudaseg;

namespace {

Tensor bytes(int64_t n) { return Tensor::empty({n}, DType::u8); }

// One call of a small computation: two temporaries alive together, a third
// after the first dies, and a result filled from them.
Tensor computation(float seed) {
  Tensor a = Tensor::full({100}, seed);
  Tensor b = Tensor::full({200}, seed * 2);
  const float a0 = a.data<float>()[0];
  a = Tensor();
  Tensor c = Tensor::full({50}, b.data<float>()[199] + a0);
  Tensor out = Tensor::empty({4});
  for (int i = 0; i < 4; ++i) out.data<float>()[i] = c.data<float>()[i] + static_cast<float>(i);
  return out;
}

Tensor planned(MemoryPlan& plan, const std::function<Tensor()>& fn) {
  PlanScope scope(plan);
  return fn();
}

TEST(MemoryPlan, RecordsThenServesEveryTemporaryFromTheArena) {
  MemoryPlan plan(Device::cpu());
  EXPECT_FALSE(plan.ready());
  const Tensor first = planned(plan, [] { return computation(1.0f); });
  EXPECT_TRUE(plan.last_call().recorded);
  EXPECT_EQ(plan.last_call().heap_allocations, 3);
  EXPECT_EQ(plan.last_call().result_allocations, 1);
  ASSERT_TRUE(plan.ready());
  // a (400 B) and b (800 B) live together; c (200 B) takes a's place.
  EXPECT_EQ(plan.arena_bytes(), 832u + 448u);

  const Tensor second = planned(plan, [] { return computation(3.0f); });
  const PlanCallStats s = plan.last_call();
  EXPECT_FALSE(s.recorded);
  EXPECT_FALSE(s.diverged);
  EXPECT_EQ(s.heap_allocations, 0);
  EXPECT_EQ(s.arena_allocations, 3);
  EXPECT_EQ(s.result_allocations, 1);
  EXPECT_EQ(plan.recordings(), 1);
  EXPECT_EQ(second.to_vector(), computation(3.0f).to_vector());
  // The result of call 1 lives outside the arena: call 2 left it alone.
  EXPECT_EQ(first.to_vector(), (std::vector<double>{3, 4, 5, 6}));
  const char* arena = static_cast<const char*>(plan.arena()->data());
  const char* kept = static_cast<const char*>(second.raw_data());
  EXPECT_TRUE(kept < arena || kept >= arena + plan.arena_bytes());
}

TEST(MemoryPlan, DisjointLifetimesShareOneOffset) {
  MemoryPlan plan(Device::cpu());
  auto fn = [] {
    for (int i = 0; i < 5; ++i) bytes(256);
    return Tensor();
  };
  planned(plan, fn);
  EXPECT_EQ(plan.arena_bytes(), 256u);
  planned(plan, fn);
  EXPECT_EQ(plan.last_call().arena_allocations, 5);
}

TEST(MemoryPlan, OtherSizeFallsBackAndRecordsAgain) {
  MemoryPlan plan(Device::cpu());
  int64_t n = 100;
  auto fn = [&] {
    Tensor t = Tensor::full({n}, 2.0f);
    return Tensor::full({1}, t.data<float>()[n - 1] * static_cast<float>(n));
  };
  planned(plan, fn);
  n = 120;
  EXPECT_EQ(planned(plan, fn).to_vector(), std::vector<double>{240});
  EXPECT_TRUE(plan.last_call().diverged);
  EXPECT_EQ(plan.last_call().heap_allocations, 2);  // the result's slot no longer matches either
  EXPECT_FALSE(plan.ready());
  planned(plan, fn);
  EXPECT_TRUE(plan.last_call().recorded);
  EXPECT_EQ(plan.recordings(), 2);
  EXPECT_EQ(planned(plan, fn).to_vector(), std::vector<double>{240});
  EXPECT_EQ(plan.last_call().heap_allocations, 0);
}

TEST(MemoryPlan, LongerLifetimeInReplayNeverAliases) {
  MemoryPlan plan(Device::cpu());
  bool keep = false;
  auto fn = [&] {
    Tensor a = Tensor::full({64}, 1.0f);
    if (!keep) a = Tensor();
    Tensor b = Tensor::full({64}, 2.0f);  // recorded at a's offset
    return Tensor::full({1}, (a.defined() ? a.data<float>()[0] : 0.0f) + b.data<float>()[0]);
  };
  planned(plan, fn);
  EXPECT_EQ(plan.arena_bytes(), 256u);
  keep = true;
  EXPECT_EQ(planned(plan, fn).to_vector(), std::vector<double>{3});
  EXPECT_TRUE(plan.last_call().diverged);
  EXPECT_EQ(plan.last_call().arena_allocations, 1);
  EXPECT_EQ(plan.last_call().heap_allocations, 2);
}

TEST(MemoryPlan, ArenaBlockOutlivingTheCallKeepsItsMemory) {
  MemoryPlan plan(Device::cpu());
  Tensor leaked;
  bool leak = false;
  auto fn = [&] {
    Tensor t = Tensor::full({32}, 7.0f);
    if (leak) leaked = t;
    return Tensor();
  };
  planned(plan, fn);
  leak = true;
  planned(plan, fn);
  EXPECT_TRUE(plan.last_call().diverged);
  EXPECT_FALSE(plan.ready());
  leak = false;
  planned(plan, [] {
    Tensor::full({32}, -1.0f);
    return Tensor();
  });
  planned(plan, [] {
    Tensor::full({32}, -2.0f);
    return Tensor();
  });
  EXPECT_EQ(plan.last_call().arena_allocations, 1);
  EXPECT_EQ(leaked.to_vector(), std::vector<double>(32, 7.0));
}

TEST(MemoryPlan, ExceptionDiscardsThePartialRecording) {
  MemoryPlan plan(Device::cpu());
  EXPECT_THROW(planned(plan,
                       [] {
                         bytes(64);
                         CUDASEG_FAIL("stop");
                         return Tensor();
                       }),
               Error);
  EXPECT_FALSE(plan.ready());
  planned(plan, [] { return bytes(8); });
  EXPECT_TRUE(plan.ready());
}

TEST(MemoryPlan, ScopesDoNotNest) {
  MemoryPlan plan(Device::cpu());
  MemoryPlan other(Device::cpu());
  PlanScope scope(plan);
  EXPECT_THROW(PlanScope inner(other), Error);
}

TEST(MemoryPlan, CudaPlanLeavesHostAllocationsAlone) {
  MemoryPlan plan(Device::cuda(0));
  planned(plan, [] { return bytes(64); });
  EXPECT_EQ(plan.last_call().result_allocations, 0);
  EXPECT_EQ(plan.arena_bytes(), 0u);
}

}  // namespace
