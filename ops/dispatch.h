// One dispatch table per op-family kernel, in the manner of ATen's
// DispatchStub: ops/kernels/<family>.h declares the kernel's signature once,
// and the CPU (ops/cpu/) and CUDA (cuda/) implementations register into it
// from their own translation units. The op layer calls the table with the
// tensors' device and never needs to know which backends were built: a
// kernel missing on a device is an error naming the op and the device.
#pragma once

#include <utility>

#include "runtime/device.h"
#include "runtime/error.h"

namespace cudaseg::ops {

template <typename Signature>
class Kernel;

template <typename R, typename... Args>
class Kernel<R(Args...)> {
 public:
  using Fn = R (*)(Args...);

  // constexpr so that a namespace-scope table is constant-initialised: the
  // registrations run from other translation units' static initialisers, in
  // an order nobody controls, and must find the table already built.
  constexpr explicit Kernel(const char* op) : op_(op) {}
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;

  // Registering one device twice is a build mistake (two kernels linked in
  // for one op), so it throws rather than letting link order pick.
  void set(DeviceType device, Fn fn) {
    Fn& slot = fns_[static_cast<int>(device)];
    CUDASEG_CHECK(!slot, op_, ": a ", device == DeviceType::cpu ? "cpu" : "cuda",
                  " kernel is already registered");
    slot = fn;
  }

  // For fast paths that only some devices offer (the fused attention).
  bool has(DeviceType device) const { return fns_[static_cast<int>(device)] != nullptr; }

  R operator()(const Device& device, Args... args) const {
    const Fn fn = fns_[static_cast<int>(device.type)];
    if (!fn) CUDASEG_FAIL(op_, ": no kernel for ", device.str());
    return fn(std::forward<Args>(args)...);
  }

 private:
  const char* op_;
  Fn fns_[2] = {nullptr, nullptr};
};

}  // namespace cudaseg::ops

#define CUDASEG_KERNEL_CONCAT_(a, b) a##b
#define CUDASEG_KERNEL_CONCAT(a, b) CUDASEG_KERNEL_CONCAT_(a, b)

// Registers `fn` as the `device` (cpu or cuda) kernel of `table` when the
// library is loaded. Use at namespace scope of the kernel's own file.
#define CUDASEG_REGISTER_KERNEL(table, device, fn)                                             \
  namespace {                                                                                 \
  [[maybe_unused]] const bool CUDASEG_KERNEL_CONCAT(kernel_registered_, __LINE__) =           \
      ((table).set(::cudaseg::DeviceType::device, (fn)), true);                               \
  }
