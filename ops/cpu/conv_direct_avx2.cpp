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
  // attention_kernel.inc's gemm_nn: accumulators a tile may hold.
  static constexpr int kNnAcc = 12;
  static constexpr int kDotRows = 3, kDotCols = 3;
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  // Lanes [0, n) of v to p[0, n), 0 <= n <= kLanes; nothing is touched past
  // them (vmaskmovps does not fault on its masked lanes).
  static void store_first(float* p, V v, int64_t n) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_maskstore_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), lane), v);
  }
  // A store past the caches, for a 32-byte aligned p.
  static void stream(float* p, V v) { _mm256_stream_ps(p, v); }
  static void fence() { _mm_sfence(); }
  // The lanes k of a load at column c0 of a row of w floats with
  // 0 <= c0 + k < w, and a load of them with zeros in the others, which are
  // not read (vmaskmovps does not fault on them).
  using M = __m256i;
  static M window(int64_t c0, int64_t w) {
    const int64_t lo = c0 < 0 ? -c0 : 0, hi = w - c0 < kLanes ? w - c0 : kLanes;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_and_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(hi < lo ? lo : hi)), lane),
                            _mm256_cmpgt_epi32(lane, _mm256_set1_epi32(static_cast<int>(lo) - 1)));
  }
  static V load_masked(const float* p, M m) { return _mm256_maskload_ps(p, m); }
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
  // r[0, 8) transposed in registers (transpose_kernel.inc): unpacks pair
  // rows, shuffles make each 128-bit lane a 4x4 block of the result, and a
  // lane permute puts the blocks in place.
  static void transpose(V r[8]) {
    V t[8];
    for (int i = 0; i < 8; i += 2) {
      t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    V u[8];
    for (int g = 0; g < 8; g += 4) {
      u[g] = _mm256_shuffle_ps(t[g], t[g + 2], _MM_SHUFFLE(1, 0, 1, 0));
      u[g + 1] = _mm256_shuffle_ps(t[g], t[g + 2], _MM_SHUFFLE(3, 2, 3, 2));
      u[g + 2] = _mm256_shuffle_ps(t[g + 1], t[g + 3], _MM_SHUFFLE(1, 0, 1, 0));
      u[g + 3] = _mm256_shuffle_ps(t[g + 1], t[g + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int j = 0; j < 4; ++j) {
      r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
      r[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
    }
  }
  // Double lanes, for the norms' moments (norm_row_kernel.inc).
  using D = __m256d;
  static constexpr int kDLanes = 4;
  static D widen(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
  static void narrow_store(float* p, D v) { _mm_storeu_ps(p, _mm256_cvtpd_ps(v)); }
  static D dset1(double v) { return _mm256_set1_pd(v); }
  static D dadd(D a, D b) { return _mm256_add_pd(a, b); }
  static D dsub(D a, D b) { return _mm256_sub_pd(a, b); }
  static D dmul(D a, D b) { return _mm256_mul_pd(a, b); }
  static double dhsum(D v) {
    const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
  }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V round(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // a * 2^n for integral n in [-126, 127] (exp's range after the clamp at -88).
  static V scale2(V a, V n) {
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(a, _mm256_castsi256_ps(e));
  }
  // a < b ? x : y, lane by lane (false for a NaN).
  static V select_lt(V a, V b, V x, V y) { return _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_LT_OQ)); }
  // Even and odd floats of p[0, 16), and back.
  static void deinterleave(const float* p, V& even, V& odd) {
    const V lo = _mm256_loadu_ps(p), hi = _mm256_loadu_ps(p + 8);
    // shuffle_ps works within 128-bit lanes: [lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6], then the 64-bit pairs reordered.
    even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88)), 0xd8));
    odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0xdd)), 0xd8));
  }
  static void interleave_store(float* p, V even, V odd) {
    const V lo = _mm256_unpacklo_ps(even, odd), hi = _mm256_unpackhi_ps(even, odd);
    _mm256_storeu_ps(p, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_storeu_ps(p + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
  }
};

#include "ops/cpu/conv_direct_kernel.inc"
#include "ops/cpu/conv_winograd_kernel.inc"
#include "ops/cpu/gemm_nt_kernel.inc"
#include "ops/cpu/norm_row_kernel.inc"
#include "ops/cpu/attention_kernel.inc"
#include "ops/cpu/transpose_kernel.inc"
#include "ops/cpu/depthwise_tokens_kernel.inc"
#include "ops/cpu/depthwise_plane_kernel.inc"

}  // namespace

void run_avx2(const Band& b) { run_band<Avx2>(b); }
void run_depthwise_avx2(const Band& b) { run_depthwise_band<Avx2>(b); }
void gelu_avx2(const float* x, float* y, int64_t n) { gelu_array<Avx2>(x, y, n); }
void elu_avx2(const float* x, float* y, int64_t n, float alpha, float scale, float inv) {
  elu_array<Avx2>(x, y, n, alpha, scale, inv);
}
void winograd_input_avx2(const WinogradTiles& a, int64_t tile_row, int64_t t0, int64_t tiles, float* v, float* row) {
  winograd_input<Avx2>(a, tile_row, t0, tiles, v, row);
}
void winograd_output_avx2(const WinogradTiles& a, int64_t tile_row, int64_t t0, int64_t tiles, const float* m) {
  winograd_output<Avx2>(a, tile_row, t0, tiles, m);
}
void winograd_rows_input_avx2(const WinogradTiles& a, const int64_t* rows, int64_t count, int64_t row_width, float* v) {
  winograd_rows_input<Avx2>(a, rows, count, row_width, v);
}
void winograd_rows_output_avx2(const WinogradTiles& a, const int64_t* rows, int64_t count, int64_t row_width,
                                const float* m) {
  winograd_rows_output<Avx2>(a, rows, count, row_width, m);
}
void winograd_cols_input_avx2(const WinogradTiles& a, int64_t row, int64_t t0, int64_t tiles, float* v,
                              int64_t width, float* buf) {
  winograd_cols_input<Avx2>(a, row, t0, tiles, v, width, buf);
}
void winograd_cols_output_avx2(const WinogradTiles& a, int64_t row, int64_t t0, int64_t tiles, const float* m,
                               int64_t width) {
  winograd_cols_output<Avx2>(a, row, t0, tiles, m, width);
}
void gemm_nt_avx2(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                  float* c, int64_t ldc) {
  gemm_nt<Avx2>(m, n, k, a, lda, b, ldb, c, ldc);
}

void even_avx2(const float* src, int64_t n, float* dst) { even_floats<Avx2>(src, n, dst); }
void softmax_row_avx2(float* row, int64_t n, float scale) { softmax_row<Avx2>(row, n, scale); }
void norm_row_avx2(const float* x, int64_t n, const float* w, const float* b, double eps, float* y) {
  norm_row<Avx2>(x, n, w, b, eps, y);
}

double moment_sum_avx2(const float* x, int64_t n, const double* mean) { return moment_sum<Avx2>(x, n, mean); }

void affine_avx2(const float* x, int64_t n, double scale, double shift, float* y) {
  affine<Avx2>(x, n, scale, shift, y);
}
void gemm_nn_avx2(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                 int64_t ldc, bool accumulate) {
  gemm_nn<Avx2>(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}
void gemm_tn_avx2(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                 int64_t ldc, bool accumulate) {
  gemm_nn<Avx2, true>(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}
void depthwise_tokens_row_avx2(const float* x, int64_t h, int64_t w, int64_t c, int64_t ld, int64_t k, int64_t stride,
                               const float* wt, const float* bias, bool gelu, int64_t row, float* y) {
  depthwise_tokens_row<Avx2>(x, h, w, c, ld, k, stride, wt, bias, gelu, row, y);
}
void depthwise_planes_avx2(const DepthwisePlanes& a, int64_t o0, int64_t o1) {
  Avx2::M masks[(kMaskedStrips + 1) * kMaxDepthwiseKw * Avx2::kMaxDepthwisePV];
  bool partial[(kMaskedStrips + 1) * kMaxDepthwiseKw * Avx2::kMaxDepthwisePV];
  depthwise_planes<Avx2>(a, o0, o1, masks, partial);
}
void sigmoid_avx2(const float* x, float* y, int64_t n, bool silu) { sigmoid_array<Avx2>(x, y, n, silu); }
void transpose_avx2(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst, int64_t ldd) {
  transpose_matrix<Avx2>(src, rows, cols, lds, dst, ldd);
}
float softmax_block_avx2(float* s, int64_t n, int64_t n_pad, float scale, float* m, float* l) {
  return softmax_block<Avx2>(s, n, n_pad, scale, m, l);
}

}  // namespace cudaseg::ops::cpu::direct

#endif  // __x86_64__
