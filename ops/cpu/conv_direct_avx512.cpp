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
  // attention_kernel.inc's gemm_nn: accumulators a tile may hold.
  static constexpr int kNnAcc = 24;
  static constexpr int kDotRows = 4, kDotCols = 4;
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  // Lanes [0, n) of v to p[0, n), 0 <= n <= kLanes; nothing is touched past
  // them (a masked store does not fault on its masked lanes).
  static void store_first(float* p, V v, int64_t n) {
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), v);
  }
  // A store past the caches, for a 64-byte aligned p.
  static void stream(float* p, V v) { _mm512_stream_ps(p, v); }
  static void fence() { _mm_sfence(); }
  // The lanes k of a load at column c0 of a row of w floats with
  // 0 <= c0 + k < w, and a load of them with zeros in the others, which are
  // not read (a masked load does not fault on them).
  using M = __mmask16;
  static M window(int64_t c0, int64_t w) {
    const int64_t lo = c0 < 0 ? -c0 : 0, hi = w - c0 < kLanes ? w - c0 : kLanes;
    return hi <= lo ? M(0) : static_cast<M>(((1u << hi) - 1) & ~((1u << lo) - 1));
  }
  static V load_masked(const float* p, M m) { return _mm512_maskz_loadu_ps(m, p); }
  static V set1(float v) { return _mm512_set1_ps(v); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static float hsum(V v) { return _mm512_reduce_add_ps(v); }
  // r[0, 16) transposed in registers (transpose_kernel.inc): unpacks pair
  // rows, shuffles make each 128-bit lane a 4x4 block of the result, and
  // two rounds of lane shuffles put the blocks in place.
  static void transpose(V r[16]) {
    V t[16];
    for (int i = 0; i < 16; i += 2) {
      t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    V u[16];
    for (int g = 0; g < 16; g += 4) {
      u[g] = _mm512_shuffle_ps(t[g], t[g + 2], _MM_SHUFFLE(1, 0, 1, 0));
      u[g + 1] = _mm512_shuffle_ps(t[g], t[g + 2], _MM_SHUFFLE(3, 2, 3, 2));
      u[g + 2] = _mm512_shuffle_ps(t[g + 1], t[g + 3], _MM_SHUFFLE(1, 0, 1, 0));
      u[g + 3] = _mm512_shuffle_ps(t[g + 1], t[g + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int j = 0; j < 4; ++j) {
      const V x01 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x44), y01 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x44);
      const V x23 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xee), y23 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xee);
      r[j] = _mm512_shuffle_f32x4(x01, y01, 0x88);
      r[4 + j] = _mm512_shuffle_f32x4(x01, y01, 0xdd);
      r[8 + j] = _mm512_shuffle_f32x4(x23, y23, 0x88);
      r[12 + j] = _mm512_shuffle_f32x4(x23, y23, 0xdd);
    }
  }
  // Double lanes, for the norms' moments (norm_row_kernel.inc).
  using D = __m512d;
  static constexpr int kDLanes = 8;
  static D widen(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
  static void narrow_store(float* p, D v) { _mm256_storeu_ps(p, _mm512_cvtpd_ps(v)); }
  static D dset1(double v) { return _mm512_set1_pd(v); }
  static D dadd(D a, D b) { return _mm512_add_pd(a, b); }
  static D dsub(D a, D b) { return _mm512_sub_pd(a, b); }
  static D dmul(D a, D b) { return _mm512_mul_pd(a, b); }
  // (_mm512_reduce_add_pd draws a -Wuninitialized from GCC 12's header.)
  static double dhsum(D v) {
    double t[8];
    _mm512_storeu_pd(t, v);
    return ((t[0] + t[4]) + (t[1] + t[5])) + ((t[2] + t[6]) + (t[3] + t[7]));
  }
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V round(V a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // a * 2^n for integral n.
  static V scale2(V a, V n) { return _mm512_scalef_ps(a, n); }
  // a < b ? x : y, lane by lane (false for a NaN).
  static V select_lt(V a, V b, V x, V y) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), y, x); }
  // Even and odd floats of p[0, 32), and back.
  static void deinterleave(const float* p, V& even, V& odd) {
    const V lo = _mm512_loadu_ps(p), hi = _mm512_loadu_ps(p + 16);
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    even = _mm512_permutex2var_ps(lo, ie, hi);
    odd = _mm512_permutex2var_ps(lo, io, hi);
  }
  static void interleave_store(float* p, V even, V odd) {
    const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    _mm512_storeu_ps(p, _mm512_permutex2var_ps(even, il, odd));
    _mm512_storeu_ps(p + 16, _mm512_permutex2var_ps(even, ih, odd));
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

void run_avx512(const Band& b) { run_band<Avx512>(b); }
void run_depthwise_avx512(const Band& b) { run_depthwise_band<Avx512>(b); }
void gelu_avx512(const float* x, float* y, int64_t n) { gelu_array<Avx512>(x, y, n); }
void elu_avx512(const float* x, float* y, int64_t n, float alpha, float scale, float inv) {
  elu_array<Avx512>(x, y, n, alpha, scale, inv);
}
void winograd_input_avx512(const WinogradTiles& a, int64_t tile_row, int64_t t0, int64_t tiles, float* v, float* row) {
  winograd_input<Avx512>(a, tile_row, t0, tiles, v, row);
}
void winograd_output_avx512(const WinogradTiles& a, int64_t tile_row, int64_t t0, int64_t tiles, const float* m) {
  winograd_output<Avx512>(a, tile_row, t0, tiles, m);
}
void winograd_rows_input_avx512(const WinogradTiles& a, const int64_t* rows, int64_t count, int64_t row_width, float* v) {
  winograd_rows_input<Avx512>(a, rows, count, row_width, v);
}
void winograd_rows_output_avx512(const WinogradTiles& a, const int64_t* rows, int64_t count, int64_t row_width,
                                const float* m) {
  winograd_rows_output<Avx512>(a, rows, count, row_width, m);
}
void winograd_cols_input_avx512(const WinogradTiles& a, int64_t row, int64_t t0, int64_t tiles, float* v,
                              int64_t width, float* buf) {
  winograd_cols_input<Avx512>(a, row, t0, tiles, v, width, buf);
}
void winograd_cols_output_avx512(const WinogradTiles& a, int64_t row, int64_t t0, int64_t tiles, const float* m,
                               int64_t width) {
  winograd_cols_output<Avx512>(a, row, t0, tiles, m, width);
}
void gemm_nt_avx512(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                    float* c, int64_t ldc) {
  gemm_nt<Avx512>(m, n, k, a, lda, b, ldb, c, ldc);
}

void even_avx512(const float* src, int64_t n, float* dst) { even_floats<Avx512>(src, n, dst); }
void softmax_row_avx512(float* row, int64_t n, float scale) { softmax_row<Avx512>(row, n, scale); }
void norm_row_avx512(const float* x, int64_t n, const float* w, const float* b, double eps, float* y) {
  norm_row<Avx512>(x, n, w, b, eps, y);
}

double moment_sum_avx512(const float* x, int64_t n, const double* mean) { return moment_sum<Avx512>(x, n, mean); }

void affine_avx512(const float* x, int64_t n, double scale, double shift, float* y) {
  affine<Avx512>(x, n, scale, shift, y);
}
void gemm_nn_avx512(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                 int64_t ldc, bool accumulate) {
  gemm_nn<Avx512>(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}
void gemm_tn_avx512(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                 int64_t ldc, bool accumulate) {
  gemm_nn<Avx512, true>(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}
void depthwise_tokens_row_avx512(const float* x, int64_t h, int64_t w, int64_t c, int64_t ld, int64_t k, int64_t stride,
                                 const float* wt, const float* bias, bool gelu, int64_t row, float* y) {
  depthwise_tokens_row<Avx512>(x, h, w, c, ld, k, stride, wt, bias, gelu, row, y);
}
void depthwise_planes_avx512(const DepthwisePlanes& a, int64_t o0, int64_t o1) {
  Avx512::M masks[(kMaskedStrips + 1) * kMaxDepthwiseKw * Avx512::kMaxDepthwisePV];
  bool partial[(kMaskedStrips + 1) * kMaxDepthwiseKw * Avx512::kMaxDepthwisePV];
  depthwise_planes<Avx512>(a, o0, o1, masks, partial);
}
void sigmoid_avx512(const float* x, float* y, int64_t n, bool silu) { sigmoid_array<Avx512>(x, y, n, silu); }
void transpose_avx512(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst, int64_t ldd) {
  transpose_matrix<Avx512>(src, rows, cols, lds, dst, ldd);
}
float softmax_block_avx512(float* s, int64_t n, int64_t n_pad, float scale, float* m, float* l) {
  return softmax_block<Avx512>(s, n, n_pad, scale, m, l);
}

}  // namespace cudaseg::ops::cpu::direct

#endif  // __x86_64__
