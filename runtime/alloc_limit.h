// A bound on the memory one thread allocates while a scope is open, so that a
// request for absurd sizes (a net built with 2^40 classes or channels) is an
// error naming what was being done, before the allocation, instead of an
// out-of-memory kill or a std::bad_alloc. Scopes nest: an allocation is
// charged to every open scope of its thread and refused if it would take any
// of them past its limit. Freed memory is not credited back: a scope bounds
// what the work it wraps asks for in total.
#pragma once

#include <cstddef>
#include <string>

namespace cudaseg {

class AllocationLimit {
 public:
  // `what` names the work in the error, e.g. "building the net's parameters".
  AllocationLimit(size_t bytes, std::string what);
  ~AllocationLimit();
  AllocationLimit(const AllocationLimit&) = delete;
  AllocationLimit& operator=(const AllocationLimit&) = delete;

  size_t used() const { return used_; }

 private:
  friend void charge_allocation(size_t nbytes);
  size_t limit_;
  size_t used_ = 0;
  std::string what_;
  AllocationLimit* outer_;
};

// Called by Storage before it allocates: throws when `nbytes` would take an
// open scope of this thread past its limit.
void charge_allocation(size_t nbytes);

}  // namespace cudaseg
