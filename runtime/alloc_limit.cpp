#include "runtime/alloc_limit.h"

#include <cstdio>

#include "runtime/error.h"

namespace cudaseg {
namespace {

thread_local AllocationLimit* innermost = nullptr;

std::string gib(size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g GiB", static_cast<double>(bytes) / (1ull << 30));
  return text;
}

}  // namespace

AllocationLimit::AllocationLimit(size_t bytes, std::string what)
    : limit_(bytes), what_(std::move(what)), outer_(innermost) {
  innermost = this;
}

AllocationLimit::~AllocationLimit() { innermost = outer_; }

void charge_allocation(size_t nbytes) {
  for (AllocationLimit* s = innermost; s; s = s->outer_) {
    CUDASEG_CHECK(nbytes <= s->limit_ - s->used_, s->what_, ": allocating ", gib(nbytes), " would pass the limit of ",
                  gib(s->limit_), " (", gib(s->used_), " allocated so far); are the sizes meant?");
  }
  for (AllocationLimit* s = innermost; s; s = s->outer_) s->used_ += nbytes;
}

}  // namespace cudaseg
