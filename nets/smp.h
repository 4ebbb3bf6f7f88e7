// The segmentation-models-pytorch teachers of zh320/realtime-semantic-
// segmentation-pytorch (models/smp_wrapper.py, commit
// c77b1b697188445c26ef126ff112042c78f4e196; the knowledge-distillation
// teacher, `model = 'smp'`): zh320 builds
// decoder_hub[decoder](encoder_name=encoder, encoder_weights=..., in_channels=3,
// classes=num_class) with smp's defaults for everything else, so the nets are
// those of segmentation_models_pytorch 0.3.3 (Iakubovskii, github.com/qubvel/
// segmentation_models.pytorch): DeepLabV3 (Chen et al. 2017), DeepLabV3+
// (Chen et al., ECCV 2018), FPN (Kirillov et al., CVPR 2019, the panoptic
// FPN head), Linknet (Chaurasia and Culurciello 2017), MAnet (Fan et al.,
// IEEE Access 2020), PAN (Li et al., BMVC 2018), PSPNet (Zhao et al., CVPR
// 2017), Unet (Ronneberger et al., MICCAI 2015) and Unet++ (Zhou et al.
// 2018), on torchvision ResNet encoders (nets/resnet.h). Registered as "smp"
// with zh320's keys:
//   {"name": "smp", "decoder": "deeplabv3p", "encoder": "resnet101", "num_classes": 19}
// State names are smp's (encoder.*, decoder.*, segmentation_head.*), so an
// smp checkpoint converts and loads strictly. "dropout" is not an upstream
// argument: false sets the decoders' Dropout (DeepLabV3's and DeepLabV3+'s
// ASPP, 0.5) and Dropout2d (FPN, PSPNet, 0.2) to p = 0.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/segnet.h"
#include "nets/resnet.h"

namespace cudaseg::nets {

namespace smp {
class Decoder;
}

// zh320's decoder_hub keys and the smp ResNet encoders.
const std::vector<std::string>& smp_decoder_names();
const std::vector<std::string>& smp_encoder_names();

class Smp : public nn::SegNet {
 public:
  Smp(const std::string& decoder, const std::string& encoder, int64_t num_classes, bool dropout = true);

  // Logits [N, num_classes, H, W]. As smp's check_input_shape, H and W must be
  // multiples of the encoder's output stride: 8 for deeplabv3 and pspnet
  // (whose encoder stops at layer2), 16 for deeplabv3p and pan, 32 for the
  // others; pan needs H, W >= 128 too (its FPA max-pools the 1/16 map thrice).
  Tensor forward(const Tensor& x) override;

  // The multiple H and W must be.
  int64_t input_multiple() const { return input_multiple_; }

 private:
  std::string decoder_name_;
  int64_t depth_, input_multiple_;
  std::shared_ptr<ResNet> encoder_;
  std::shared_ptr<smp::Decoder> decoder_;
  nn::ModulePtr segmentation_head_;
};

}  // namespace cudaseg::nets
