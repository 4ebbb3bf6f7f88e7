// The direct convolution kernel for AVX-512 (compiled with -mavx512f -mfma,
// see CMakeLists.txt): 8 output channels x 48 pixels in 24 of the 32 zmm
// registers.
#include "ops/cpu/conv_direct.h"

#if defined(__x86_64__)
#include <immintrin.h>

namespace cudaseg::ops::cpu::direct {
namespace {

struct Avx512 {
  using V = __m512;
  static constexpr int kBlock = kAvx512Block, kLanes = kAvx512Lanes, kMaxPV = 3, kMaxDepthwisePV = 4;
  // gemm_nt_kernel.inc's block: 16 accumulators and 8 operand vectors.
  static constexpr int kDotRows = 4, kDotCols = 4;
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V set1(float v) { return _mm512_set1_ps(v); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static float hsum(V v) { return _mm512_reduce_add_ps(v); }
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
};

#include "ops/cpu/conv_direct_kernel.inc"
#include "ops/cpu/gemm_nt_kernel.inc"

}  // namespace

void run_avx512(const Band& b) { run_band<Avx512>(b); }
void run_depthwise_avx512(const Band& b) { run_depthwise_band<Avx512>(b); }
void gelu_avx512(const float* x, float* y, int64_t n) { gelu_array<Avx512>(x, y, n); }
void gemm_nt_avx512(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                    float* c, int64_t ldc) {
  gemm_nt<Avx512>(m, n, k, a, lda, b, ldb, c, ldc);
}

}  // namespace cudaseg::ops::cpu::direct

#endif  // __x86_64__
