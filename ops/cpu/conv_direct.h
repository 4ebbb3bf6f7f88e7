// Direct convolution on the CPU, the float32 forward path for dense
// (non-depthwise) convolutions: no im2col matrix, no GEMM library.
//
// A band of output rows is served from a zero-padded copy of the input rows it
// reads, so the inner loop has no bounds tests. The copy splits each row into
// `stride` phases (columns k*stride + p for p = 0..stride-1), so that a tap's
// inputs for consecutive output pixels are contiguous whatever the stride and
// dilation: output column ow of tap (i, j) reads phase (j*dw) % sw at column
// ow + (j*dw) / sw. The SIMD kernel then keeps a block of output channels x a
// strip of output pixels in registers and, for each input channel and tap,
// loads the strip's inputs once and multiply-adds them into every output
// channel of the block with the broadcast weight: each load feeds as many
// FMAs as there are channels in the block, which GEMM-based convolution only
// reaches for large channel counts. The bias, and a fused PReLU / relu /
// relu6 / GELU (ops::ConvAct), are applied in registers before the one store.
// Depthwise convolutions have kernels of their own: strided ones on the same
// bands (one output channel, a strip of pixels, every tap in registers),
// stride-1 ones reading the input planes in place (DepthwisePlanes).
//
// The kernels are compiled once per instruction set (conv_direct_avx512.cpp,
// conv_direct_avx2.cpp, each with its own -m flags) and chosen at run time.
// Those files see only this header: nothing from the C++ library is
// instantiated there, so no inline function compiled for AVX-512 can end up
// shared with code that runs on a machine without it.
#pragma once

#include <cstdint>
#include <vector>

namespace cudaseg::ops::cpu::direct {

// One band of one image and group, laid out for the kernel. A depthwise
// band (one input channel per group) has cg = 1 and its og output channels'
// weights [og][taps], bias [og] and slopes [og] unpacked.
struct Band {
  const float* x;  // padded input of the band: [cg][rows_in][phases][row_len]
  int64_t c_stride, row_stride;
  const int64_t* tap_offset;  // [taps]: where tap (i, j) reads, relative to the output pixel's own column
  int64_t taps, cg, sh;        // sh: buffer rows per output row
  int64_t chunk;               // input channels per partial sum (see the kernel)
  const float* w;              // [blocks][cg][taps][block] packed weights, zero past og
  const float* bias;           // [blocks * block], zero past og (never null)
  const float* slope;          // [blocks * block] PReLU slopes, or null for none
  float lo, hi;                // then clamped to [lo, hi] (+-inf: no bound)
  bool gelu;                   // then GELU (gelu_f32 below)
  bool stream = false;         // full, aligned strips stored past the caches
  bool prefetch = false;       // the next strip's input prefetched (an input read in place)
  // Input channels per panel (a multiple of chunk; 0: all at once): each
  // strip runs every channel block over one panel before the next, its
  // partial sums in totals (blocks * block * 3 vectors of floats).
  int64_t panel = 0;
  float* totals = nullptr;
  // Depthwise only: each tap's product rounded before its sum, in the loops'
  // tap order (conv_depthwise.cpp), whose results a strided depthwise
  // convolution keeps bit for bit: a ReLU6 mask one rounding away from its
  // edge flipped under the fused sums and moved a training step's gradients
  // by 5e-4 (ADSCNet's golden).
  bool unfused = false;
  float* y;                    // output [og][ho][wo] of this image and group, at the band's first row
  int64_t y_channel_stride;    // ho * wo
  int64_t rows, wo, og;
};

// One image of a 3x3, stride-1 convolution for the Winograd F(2x2, 3x3)
// transforms (ops/cpu/conv_winograd.cpp): input x [c][h][w] padded by ph, pw;
// output y [o][ho][wo], in tiles of 2x2 outputs, (ho + 1) / 2 tile rows of
// (wo + 1) / 2 tiles; bias [o] (never null), then the activation as in Band.
struct WinogradTiles {
  const float* x;
  int64_t c, h, w, ph, pw;
  int64_t dilation;  // of the 3x1 kernel (winograd_rows_*)
  float* y;
  int64_t o, ho, wo;
  const float* bias;
  const float* slope;
  float lo, hi;
  bool gelu;
};

// One image of a stride-1 depthwise convolution whose input planes are read
// in place (depthwise_plane_kernel.inc): input x [c][h][w], output channel o
// from input channel o / og, weights [o][kh * kw] with kw at most
// kMaxDepthwiseKw, bias [o] (never null), each sum divided by divisor
// [ho][wo] where that is not null (average pooling as a convolution of
// ones; the map readable for a vector past its end), then the activation as
// in Band; output y [o][ho][wo].
struct DepthwisePlanes {
  const float* x;
  int64_t h, w, kh, kw, ph, pw, dh, dw, og;
  const float* weight;
  const float* bias;
  const float* slope;
  float lo, hi;
  bool gelu;
  float* y;
  int64_t ho, wo;
  const float* divisor = nullptr;
};

// depthwise_plane_kernel.inc: the widest kernel a DepthwisePlanes may have,
// and the strip positions whose masks are kept for a whole call.
constexpr int64_t kMaxDepthwiseKw = 16, kMaskedStrips = 2;

// The instruction sets with a kernel, best first; `block` is the kernel's
// output-channel block and `lanes` its vector width in floats.
struct Isa {
  const char* name;
  int64_t block, lanes;
  void (*run)(const Band&);
  void (*run_depthwise)(const Band&);
  // y[i] = GELU(x[i]) = x/2 (1 + erf(x / sqrt 2)) for i < n, x == y allowed:
  // the float32 GELU of the op set (ops::gelu), lane for lane the one the
  // kernels above apply before their store, so that a fused GELU gives the
  // unfused one's bits. erf is a rational function of z = x / sqrt 2 on
  // [-4, 4] (beyond, erf is +-1 in float32); relative L2 to the float64 GELU
  // 3.2e-9 over N(0, 2) and [-12, 12] inputs, float32 rounding alone 1.4e-9.
  void (*gelu)(const float* x, float* y, int64_t n);
  // y[i] = scale * (x > 0 ? x : alpha * expm1(x * inv)): ELU, CELU and SELU in
  // float32, within 2 ulp of the double-computed value (x == y allowed).
  void (*elu)(const float* x, float* y, int64_t n, float alpha, float scale, float inv);
  // Tiles [t0, t0 + tiles) of tile row `tile_row` (t0 a multiple of lanes
  // unless it is the row's last range): the input transform into v
  // [16][c][tiles rounded up to lanes], with `row` scratch of 8 * (tiles +
  // lanes) + 8 floats; the output transform from m [16][o][same].
  void (*winograd_input)(const WinogradTiles& a, int64_t tile_row, int64_t t0, int64_t tiles, float* v, float* row);
  void (*winograd_output)(const WinogradTiles& a, int64_t tile_row, int64_t t0, int64_t tiles, const float* m);
  // F(4, 3) of a 3x1 kernel (any vertical dilation): tiles of output rows
  // r + i * dilation (i < 4) for the `count` r of `rows`, each row's columns
  // at slot * row_width (wo rounded up to lanes) of v [6][c][count *
  // row_width] and m [6][o][same].
  void (*winograd_rows_input)(const WinogradTiles& a, const int64_t* rows, int64_t count, int64_t row_width, float* v);
  void (*winograd_rows_output)(const WinogradTiles& a, const int64_t* rows, int64_t count, int64_t row_width,
                               const float* m);
  // F(4, 3) of a 1x3 kernel (dilation 1): output row `row`, tiles [t0, t0 +
  // tiles) of four columns, at v [6][c][width] (and m [6][o][width]) from
  // the pointer given; `buf` scratch of 12 * (tiles rounded up to lanes,
  // plus lanes) floats.
  void (*winograd_cols_input)(const WinogradTiles& a, int64_t row, int64_t t0, int64_t tiles, float* v,
                              int64_t width, float* buf);
  void (*winograd_cols_output)(const WinogradTiles& a, int64_t row, int64_t t0, int64_t tiles, const float* m,
                               int64_t width);
  // C[m x n] += A[m x k] B[n x k]^T, row-major with row strides lda, ldb,
  // ldc: the convolution weight gradient's product (gemm_nt_kernel.inc).
  void (*gemm_nt)(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                  float* c, int64_t ldc);
  // dst[k] = src[2 k] for k < n, reading src[0, 2 n - 1) only: a stride-2
  // convolution's phase of an input row, for its padded band.
  void (*even)(const float* src, int64_t n, float* dst);
  // Softmax of row[0, n) * scale in place, scale > 0: the attention
  // softmax's float32 rules (attention.cpp) with a vector exp within 2 ulp.
  void (*softmax_row)(float* row, int64_t n, float scale);
  // Layer norm of the row x[0, n) into y (x == y allowed): group_norm's
  // float32 rows of one group and one pixel (ops/cpu/norm.cpp), w and b
  // per element or null for 1 and 0 (norm_row_kernel.inc).
  void (*norm_row)(const float* x, int64_t n, const float* w, const float* b, double eps, float* y);
  // The sum of x[0, n), or of (x[i] - *mean)^2 where mean is not null, in
  // double: a pass of group_norm's float32 moments (norm_row_kernel.inc).
  double (*moment_sum)(const float* x, int64_t n, const double* mean);
  // y[i] = float(x[i] * scale + shift) in double (x == y allowed):
  // group_norm's float32 affine step of a channel's plane.
  void (*affine)(const float* x, int64_t n, double scale, double shift, float* y);
  // C[m x n] = (accumulate ? C : 0) + A[m x k] B[k x n], row-major with row
  // strides lda, ldb, ldc; n a multiple of lanes (attention_kernel.inc).
  void (*gemm_nn)(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                  float* c, int64_t ldc, bool accumulate);
  // The same with A stored k-major: element (i, p) of A at a[p * lda + i].
  void (*gemm_tn)(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                  float* c, int64_t ldc, bool accumulate);
  // One key block of the fused attention's online softmax over the scores
  // s[0, n) of a row (s padded to n_pad, a multiple of lanes): s becomes the
  // block's exponentials, *m and *l the row's running maximum and sum;
  // returns the factor for what was accumulated before (attention_kernel.inc).
  float (*softmax_block)(float* s, int64_t n, int64_t n_pad, float scale, float* m, float* l);
  // dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols (no overlap):
  // blocks of lanes x lanes transposed in registers (transpose_kernel.inc).
  void (*transpose)(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst, int64_t ldd);
  // Output row `row` of a depthwise k x k convolution (k odd, padding k /
  // 2, stride >= 1) of one image's channels-last tokens x [h][w][c] into y
  // (same layout, (h - 1) / stride + 1 rows of (w - 1) / stride + 1 pixels),
  // each pixel's c channels ld >= c floats after the last's,
  // weights wt [k * k][c], bias [c] (never null), then GELU where `gelu`
  // (depthwise_tokens_kernel.inc).
  void (*depthwise_tokens_row)(const float* x, int64_t h, int64_t w, int64_t c, int64_t ld, int64_t k, int64_t stride,
                               const float* wt, const float* bias, bool gelu, int64_t row, float* y);
  // y[i] = sigmoid(x[i]), or x[i] sigmoid(x[i]) (SiLU) where `silu`, in
  // float32 (x == y allowed): within 3 ulp of the double-computed value,
  // sigmoids below float32's smallest normal number 0.
  void (*sigmoid)(const float* x, float* y, int64_t n, bool silu);
  // Output channels [o0, o1) of a DepthwisePlanes convolution.
  void (*depthwise_planes)(const DepthwisePlanes& a, int64_t o0, int64_t o1);
};

// The kernels this CPU runs, best first (none without AVX2/FMA); the best,
// or null.
const std::vector<const Isa*>& cpu_isas();
const Isa* best_isa();

// The kernels of cpu_isas()' tables (x86-64 only).
void run_avx512(const Band& b);
void run_avx2(const Band& b);
void run_depthwise_avx512(const Band& b);
void run_depthwise_avx2(const Band& b);
void gelu_avx512(const float* x, float* y, int64_t n);
void gelu_avx2(const float* x, float* y, int64_t n);
void elu_avx512(const float* x, float* y, int64_t n, float alpha, float scale, float inv);
void elu_avx2(const float* x, float* y, int64_t n, float alpha, float scale, float inv);
void winograd_input_avx512(const WinogradTiles& a, int64_t tile_row, int64_t t0, int64_t tiles, float* v, float* row);
void winograd_input_avx2(const WinogradTiles& a, int64_t tile_row, int64_t t0, int64_t tiles, float* v, float* row);
void winograd_output_avx512(const WinogradTiles& a, int64_t tile_row, int64_t t0, int64_t tiles, const float* m);
void winograd_output_avx2(const WinogradTiles& a, int64_t tile_row, int64_t t0, int64_t tiles, const float* m);
void winograd_rows_input_avx512(const WinogradTiles& a, const int64_t* rows, int64_t count, int64_t row_width, float* v);
void winograd_rows_output_avx512(const WinogradTiles& a, const int64_t* rows, int64_t count, int64_t row_width,
                                const float* m);
void winograd_cols_input_avx512(const WinogradTiles& a, int64_t row, int64_t t0, int64_t tiles, float* v,
                              int64_t width, float* buf);
void winograd_cols_output_avx512(const WinogradTiles& a, int64_t row, int64_t t0, int64_t tiles, const float* m,
                               int64_t width);
void winograd_rows_input_avx2(const WinogradTiles& a, const int64_t* rows, int64_t count, int64_t row_width, float* v);
void winograd_rows_output_avx2(const WinogradTiles& a, const int64_t* rows, int64_t count, int64_t row_width,
                                const float* m);
void winograd_cols_input_avx2(const WinogradTiles& a, int64_t row, int64_t t0, int64_t tiles, float* v,
                              int64_t width, float* buf);
void winograd_cols_output_avx2(const WinogradTiles& a, int64_t row, int64_t t0, int64_t tiles, const float* m,
                               int64_t width);
void even_avx512(const float* src, int64_t n, float* dst);
void softmax_row_avx512(float* row, int64_t n, float scale);
void softmax_row_avx2(float* row, int64_t n, float scale);
void norm_row_avx512(const float* x, int64_t n, const float* w, const float* b, double eps, float* y);
void norm_row_avx2(const float* x, int64_t n, const float* w, const float* b, double eps, float* y);
double moment_sum_avx512(const float* x, int64_t n, const double* mean);
double moment_sum_avx2(const float* x, int64_t n, const double* mean);
void affine_avx512(const float* x, int64_t n, double scale, double shift, float* y);
void affine_avx2(const float* x, int64_t n, double scale, double shift, float* y);
void gemm_nn_avx512(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                    int64_t ldc, bool accumulate);
void gemm_tn_avx512(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                    int64_t ldc, bool accumulate);
void gemm_nn_avx2(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                  int64_t ldc, bool accumulate);
void gemm_tn_avx2(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                  int64_t ldc, bool accumulate);
void depthwise_tokens_row_avx512(const float* x, int64_t h, int64_t w, int64_t c, int64_t ld, int64_t k, int64_t stride,
                                 const float* wt, const float* bias, bool gelu, int64_t row, float* y);
void depthwise_tokens_row_avx2(const float* x, int64_t h, int64_t w, int64_t c, int64_t ld, int64_t k, int64_t stride,
                               const float* wt, const float* bias, bool gelu, int64_t row, float* y);
void sigmoid_avx512(const float* x, float* y, int64_t n, bool silu);
void depthwise_planes_avx512(const DepthwisePlanes& a, int64_t o0, int64_t o1);
void depthwise_planes_avx2(const DepthwisePlanes& a, int64_t o0, int64_t o1);
void sigmoid_avx2(const float* x, float* y, int64_t n, bool silu);
void transpose_avx512(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst, int64_t ldd);
void transpose_avx2(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst, int64_t ldd);
float softmax_block_avx512(float* s, int64_t n, int64_t n_pad, float scale, float* m, float* l);
float softmax_block_avx2(float* s, int64_t n, int64_t n_pad, float scale, float* m, float* l);
void even_avx2(const float* src, int64_t n, float* dst);
void gemm_nt_avx512(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                    float* c, int64_t ldc);
void gemm_nt_avx2(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                  float* c, int64_t ldc);
constexpr int64_t kAvx512Block = 8, kAvx512Lanes = 16;
constexpr int64_t kAvx2Block = 6, kAvx2Lanes = 8;

}  // namespace cudaseg::ops::cpu::direct
