// The STDC encoder ("Rethinking BiSeNet For Real-time Semantic Segmentation",
// Fan et al., CVPR 2021) as zh320/realtime-semantic-segmentation-pytorch
// builds it (commit c77b1b697188445c26ef126ff112042c78f4e196), shared by the
// STDC net (models/stdc.py, stages registered on the net itself) and
// PP-LiteSeg (models/pp_liteseg.py, stages inside `encoder.encoder`). Both
// upstream files define the same STDCModule; this is its one C++ version.
//
// zh320's STDC module differs from the paper's: the stride-2 module strides
// its 3x3 block2 directly (no separate depthwise AVD conv) and pools block1's
// output with AvgPool2d(3, 2, 1) before the concatenation. Every conv of the
// encoder is ReLU whatever the net's act_type (upstream passes act_type to
// STDCModule but never uses it).
#pragma once

#include <array>
#include <memory>
#include <string>

#include "nn/module.h"

namespace cudaseg::nets {

// STDCModule(in, out, stride): block1 1x1 (in -> out/2), block2 3x3 stride s
// (-> out/4), block3 3x3 (-> out/8), block4 3x3 (-> out/8), each ConvBNAct
// with ReLU; the output is cat[block1 (pooled when s == 2), block2, block3,
// block4] = out channels. out must be a multiple of 8, stride 1 or 2.
class STDCModule : public nn::Module {
 public:
  STDCModule(int64_t in_channels, int64_t out_channels, int64_t stride);
  Tensor forward(const Tensor& x) override;

 private:
  int64_t stride_;
  nn::ModulePtr block1_, block2_, pool_, block3_, block4_;
};

// Extra stride-1 modules after each stage's stride-2 one: stdc1 {1, 1, 1},
// stdc2 {3, 4, 2}; any other name is an error.
std::array<int64_t, 3> stdc_repeat_times(const std::string& encoder_type);

// The five encoder stages of STDC and PP-LiteSeg's STDCBackbone, registered
// on `owner` as stage1..stage5: stage1 ConvBNAct 3x3 s2 (in -> c[0]), stage2
// ConvBNAct 3x3 s2 (-> c[1]), stage3..5 a stride-2 STDCModule then
// repeat_times[i] stride-1 ones (-> c[2], c[3], c[4]).
struct STDCStages {
  std::array<nn::ModulePtr, 5> stage;

  static STDCStages register_on(nn::Module& owner, int64_t in_channels, const std::array<int64_t, 5>& channels,
                                const std::string& encoder_type);
  // Stage 3, 4 and 5 outputs (strides 8, 16, 32).
  std::array<Tensor, 3> forward(const Tensor& x) const;
};

// PP-LiteSeg's STDCBackbone module (its stages under this module's name).
class STDCBackbone : public nn::Module {
 public:
  STDCBackbone(int64_t in_channels, const std::array<int64_t, 5>& encoder_channels, const std::string& encoder_type);
  std::array<Tensor, 3> forward_features(const Tensor& x) const {
    return observed_call({x}, [&] { return stages_.forward(x); });
  }

 private:
  STDCStages stages_;
};

}  // namespace cudaseg::nets
