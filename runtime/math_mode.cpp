#include "runtime/math_mode.h"

namespace cudaseg {
namespace {
thread_local bool t_allow_tf32 = false;
}  // namespace

void set_allow_tf32(bool allow) { t_allow_tf32 = allow; }
bool allow_tf32() { return t_allow_tf32; }

}  // namespace cudaseg
