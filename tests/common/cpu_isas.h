// The direct kernels' instruction sets this CPU runs (ops/cpu/conv_direct.h),
// for tests that check every one of them, not only best_isa().
#pragma once

#include <vector>

#include "ops/cpu/conv_direct.h"

namespace cudaseg::testing {

inline std::vector<ops::cpu::direct::Isa> isas_of_this_cpu() {
  using namespace ops::cpu::direct;
  std::vector<Isa> out;
#if defined(__x86_64__)
  __builtin_cpu_init();
  const bool fma = __builtin_cpu_supports("fma");
  if (fma && __builtin_cpu_supports("avx512f")) out.push_back({"avx512", kAvx512Block, kAvx512Lanes, run_avx512, run_depthwise_avx512, gelu_avx512, elu_avx512,
                     winograd_input_avx512, winograd_output_avx512, winograd_rows_input_avx512,
                     winograd_rows_output_avx512, winograd_cols_input_avx512, winograd_cols_output_avx512, gemm_nt_avx512, even_avx512, softmax_row_avx512,
                     norm_row_avx512, gemm_nn_avx512, softmax_block_avx512, transpose_avx512,
                     depthwise_tokens_row_avx512, sigmoid_avx512, depthwise_planes_avx512});
  if (fma && __builtin_cpu_supports("avx2")) out.push_back({"avx2", kAvx2Block, kAvx2Lanes, run_avx2, run_depthwise_avx2, gelu_avx2, elu_avx2,
                     winograd_input_avx2, winograd_output_avx2, winograd_rows_input_avx2,
                     winograd_rows_output_avx2, winograd_cols_input_avx2, winograd_cols_output_avx2, gemm_nt_avx2, even_avx2, softmax_row_avx2,
                     norm_row_avx2, gemm_nn_avx2, softmax_block_avx2, transpose_avx2,
                     depthwise_tokens_row_avx2, sigmoid_avx2, depthwise_planes_avx2});
#endif
  return out;
}

}  // namespace cudaseg::testing
