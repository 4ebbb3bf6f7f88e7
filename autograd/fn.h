// cudaseg::fn, the differentiable functional API (torch.nn.functional's
// counterpart), in one include: every op records onto the autograd tape when
// grad mode is on and an input requires grad.
#pragma once

#include "autograd/activation.h"
#include "autograd/arith.h"
#include "autograd/attention.h"
#include "autograd/conv.h"
#include "autograd/dropout.h"
#include "autograd/engine.h"
#include "autograd/gradcheck.h"
#include "autograd/linalg.h"
#include "autograd/loss.h"
#include "autograd/norm.h"
#include "autograd/pool.h"
#include "autograd/reduce.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "autograd/softmax.h"
#include "autograd/unary.h"
