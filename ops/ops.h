// cudaseg::ops, the op set without autograd, in one include: each op checks
// its arguments and dispatches by device (CPU reference kernels, CUDA kernels
// where the backend is built).
#pragma once

#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/binary.h"
#include "ops/compare.h"
#include "ops/conv.h"
#include "ops/dropout.h"
#include "ops/linalg.h"
#include "ops/loss.h"
#include "ops/norm.h"
#include "ops/pool.h"
#include "ops/reduce.h"
#include "ops/resize.h"
#include "ops/shape.h"
#include "ops/softmax.h"
#include "ops/unary.h"
