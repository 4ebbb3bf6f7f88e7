#include "ops/cpu/gemm.h"

#include <cblas.h>

#include <algorithm>
#include <limits>
#include <mutex>

#include "ops/cpu/conv.h"
#include "runtime/error.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

// Multiply-adds per block: below this a second thread costs more to wake
// than it saves. (Two 64x256x576 halves of a band product, 9M MACs each, ran
// 1.7x faster on two cores than one after the other.)
constexpr int64_t kMacsPerBlock = int64_t{1} << 21;
// Blocks are whole multiples of the widest AVX-512 micro-tile OpenBLAS uses.
constexpr int64_t kBlockAlign = 16;

// BLAS takes int dimensions; a product that does not fit must fail loudly, not wrap.
blasint as_blas(int64_t v, const char* what) {
  CUDASEG_CHECK(v >= 0 && v <= std::numeric_limits<blasint>::max(), "gemm: ", what, " = ", v,
                " does not fit the BLAS integer type");
  return static_cast<blasint>(v);
}

// BLAS insists on leading dimensions >= max(1, columns stored) even when a
// dimension is 0 or 1; the caller's stride can be anything in those cases.
int64_t fix_ld(int64_t ld, int64_t cols) { return std::max<int64_t>({ld, cols, 1}); }

CBLAS_TRANSPOSE op(bool trans) { return trans ? CblasTrans : CblasNoTrans; }

void blas(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, op(ta), op(tb), as_blas(m, "m"), as_blas(n, "n"), as_blas(k, "k"), alpha, a,
              as_blas(lda, "lda"), b, as_blas(ldb, "ldb"), beta, c, as_blas(ldc, "ldc"));
}

void blas(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, op(ta), op(tb), as_blas(m, "m"), as_blas(n, "n"), as_blas(k, "k"), alpha, a,
              as_blas(lda, "lda"), b, as_blas(ldb, "ldb"), beta, c, as_blas(ldc, "ldc"));
}

template <typename T>
void split_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  static std::once_flag single;
  std::call_once(single, [] { openblas_set_num_threads(1); });
  lda = fix_ld(lda, ta ? m : k);
  ldb = fix_ld(ldb, tb ? k : n);
  ldc = fix_ld(ldc, n);
  const int64_t macs = m * n * std::max<int64_t>(k, 1);
  const int64_t blocks = std::min<int64_t>(num_threads(), std::max<int64_t>(macs / kMacsPerBlock, 1));
  if (blocks <= 1) {
    blas(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  // Split the longer side of C; each block reads all of the other operand.
  if (n >= m) {
    const int64_t per = (n + blocks - 1) / blocks, step = (per + kBlockAlign - 1) / kBlockAlign * kBlockAlign;
    parallel_for(0, (n + step - 1) / step, 1, [&](int64_t b0, int64_t b1) {
      const int64_t j0 = b0 * step, j1 = std::min(n, b1 * step);
      blas(ta, tb, m, j1 - j0, k, alpha, a, lda, tb ? b + j0 * ldb : b + j0, ldb, beta, c + j0, ldc);
    });
  } else {
    const int64_t per = (m + blocks - 1) / blocks, step = (per + kBlockAlign - 1) / kBlockAlign * kBlockAlign;
    parallel_for(0, (m + step - 1) / step, 1, [&](int64_t b0, int64_t b1) {
      const int64_t i0 = b0 * step, i1 = std::min(m, b1 * step);
      blas(ta, tb, i1 - i0, n, k, alpha, ta ? a + i0 : a + i0 * lda, lda, b, ldb, beta, c + i0 * ldc, ldc);
    });
  }
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  split_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
          int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  split_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void linear_isa(const float* x, int64_t ld, const Tensor& weight, const float* bias, bool gelu, float* y,
                int64_t ldy, int64_t rows, int64_t in, int64_t outf, const direct::Isa& isa, bool k_major) {
  // The transpose [in][width], zero past outf; keyed by its width and by
  // whether the weight is stored transposed (a view of the same storage).
  const int64_t width = (outf + isa.lanes - 1) / isa.lanes * isa.lanes;
  constexpr int64_t kLinearLayout = -3;
  const std::shared_ptr<const std::vector<float>> packed =
      cached_weights(weight, kLinearLayout, width * 2 + (weight.stride(1) == 1 ? 0 : 1), [&] {
        std::vector<float> wt(static_cast<size_t>(in * width), 0.0f);
        const float* w = weight.data<float>();
        const int64_t ws = weight.stride(0), wc = weight.stride(1);
        for (int64_t j = 0; j < outf; ++j)
          for (int64_t p = 0; p < in; ++p) wt[p * width + j] = w[j * ws + p * wc];
        return wt;
      });
  const float* wt = packed->data();
  constexpr int64_t kKBlock = 256;
  const int64_t kc = std::min(in, kKBlock), lanes = isa.lanes, vecs = width / lanes;
  // parallel_for gives each thread one run of consecutive tasks, so the
  // rows are dealt evenly in multiples of 6 (the tiles' rows: 196 rows in
  // blocks of 96, 96 and 4 ran at 1.4x on two threads), and where their
  // blocks do not divide among the threads each block's columns are dealt
  // to as many tasks as there are threads, in whole vectors as evenly as
  // they go (384 columns in 64-column panels dealt to 3 tasks kept one
  // thread twice as long as the other; splitting the rows instead made every
  // task read all of W, 1.4x the work on 7x7 maps).
  const int64_t max_rows = std::clamp<int64_t>((int64_t{24} << 10) / kc / 24 * 24, 24, 480);
  const int64_t threads = num_threads();
  const int64_t row_tasks = (rows + max_rows - 1) / max_rows;
  const int64_t row_block = ((rows + row_tasks - 1) / row_tasks + 5) / 6 * 6;
  // (Ten row blocks a thread or more leave at most a tenth idle.)
  const int64_t col_tasks = row_tasks % threads == 0 || row_tasks >= 10 * threads ? 1 : std::min(vecs, threads);
  parallel_for(0, row_tasks * col_tasks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r0 = t / col_tasks * row_block, m = std::min(row_block, rows - r0);
      if (m <= 0) continue;
      const int64_t part = t % col_tasks;
      const int64_t j0 = vecs * part / col_tasks * lanes, n = vecs * (part + 1) / col_tasks * lanes - j0;
      float* c = y + r0 * ldy + j0;
      if (bias) {
        const int64_t real = std::clamp<int64_t>(outf - j0, 0, n);  // columns with a bias; 0 past outf
        for (int64_t r = 0; r < m; ++r) {
          std::copy(bias + j0, bias + j0 + real, c + r * ldy);
          std::fill(c + r * ldy + real, c + r * ldy + n, 0.0f);
        }
      }
      for (int64_t p = 0; p < in; p += kc)
        (k_major ? isa.gemm_tn : isa.gemm_nn)(m, n, std::min(kc, in - p), k_major ? x + p * ld + r0 : x + r0 * ld + p,
                                              ld, wt + p * width + j0, width, c, ldy, bias || p > 0);
      if (gelu)
        for (int64_t r = 0; r < m; ++r) isa.gelu(c + r * ldy, c + r * ldy, n);
    }
  });
}

}  // namespace cudaseg::ops::cpu
