// The direct convolution kernel for AVX2 + FMA (compiled with -mavx2 -mfma,
// see CMakeLists.txt): 6 output channels x 16 pixels in 12 of the 16 ymm
// registers.
#include "ops/cpu/conv_direct.h"

#if defined(__x86_64__)
#include <immintrin.h>

namespace cudaseg::ops::cpu::direct {
namespace {

struct Avx2 {
  using V = __m256;
  static constexpr int kBlock = kAvx2Block, kLanes = kAvx2Lanes, kMaxPV = 2, kMaxDepthwisePV = 4;
  // gemm_nt_kernel.inc's block: 9 accumulators and 6 operand vectors.
  static constexpr int kDotRows = 3, kDotCols = 3;
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(float v) { return _mm256_set1_ps(v); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static float hsum(V v) {
    const __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(q, _mm_movehdup_ps(q)));
  }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
};

#include "ops/cpu/conv_direct_kernel.inc"
#include "ops/cpu/gemm_nt_kernel.inc"

}  // namespace

void run_avx2(const Band& b) { run_band<Avx2>(b); }
void run_depthwise_avx2(const Band& b) { run_depthwise_band<Avx2>(b); }
void gelu_avx2(const float* x, float* y, int64_t n) { gelu_array<Avx2>(x, y, n); }
void gemm_nt_avx2(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                  float* c, int64_t ldc) {
  gemm_nt<Avx2>(m, n, k, a, lda, b, ldb, c, ldc);
}

}  // namespace cudaseg::ops::cpu::direct

#endif  // __x86_64__
