// What the smp decoder files (nets/smp_deeplab.cpp, smp_unet.cpp,
// smp_pyramid.cpp) share with nets/smp.cpp: the decoder interface and the
// decoder builders, one per zh320 decoder_hub key.
#pragma once

#include <memory>
#include <vector>

#include "nn/layers.h"

namespace cudaseg::nets::smp {

// smp's decoders take the encoder's feature list: features[0] is the input,
// features[1] the stem (stride 2), features[2..] layer1.. (smp's
// encoder.out_channels gives their channels, the input's 3 first).
class Decoder : public nn::Module {
 public:
  Decoder(const char* type_name, int64_t out_channels) : nn::Module(type_name), out_channels_(out_channels) {}
  // One call of the decoder, seen by forward hooks with every feature as an input.
  Tensor decode(const std::vector<Tensor>& features) {
    return observed_call(features, [&] { return run(features); });
  }
  int64_t out_channels() const { return out_channels_; }

 protected:
  virtual Tensor run(const std::vector<Tensor>& features) = 0;

 private:
  int64_t out_channels_;
};
using DecoderPtr = std::shared_ptr<Decoder>;

// F.interpolate(x, scale_factor=2, mode="nearest").
Tensor upsample_nearest_x2(const Tensor& x);

// encoder_channels: smp's encoder.out_channels (input, stem, layer1..).
DecoderPtr deeplabv3_decoder(const std::vector<int64_t>& encoder_channels, bool dropout);
DecoderPtr deeplabv3plus_decoder(const std::vector<int64_t>& encoder_channels, bool dropout);
DecoderPtr unet_decoder(const std::vector<int64_t>& encoder_channels);
DecoderPtr unetplusplus_decoder(const std::vector<int64_t>& encoder_channels);
DecoderPtr manet_decoder(const std::vector<int64_t>& encoder_channels);
DecoderPtr linknet_decoder(const std::vector<int64_t>& encoder_channels);
DecoderPtr fpn_decoder(const std::vector<int64_t>& encoder_channels, bool dropout);
DecoderPtr psp_decoder(const std::vector<int64_t>& encoder_channels, bool dropout);
DecoderPtr pan_decoder(const std::vector<int64_t>& encoder_channels);

}  // namespace cudaseg::nets::smp
