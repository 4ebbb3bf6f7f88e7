// The naming layouts of checkpoints users already have, mapped onto the
// upstream names cudaseg's nets use (rtseg_convert --from):
//   torch   names as they are (the nets' own upstream state_dict names)
//   hf      Hugging Face transformers SegFormer (segformer.encoder.*,
//           decode_head.linear_c.N, key and value split) -> NVlabs SegFormer
//   mmseg   mmsegmentation: {'state_dict', 'meta'} checkpoints; NVlabs-era
//           SegFormer names pass as they are, mmseg 1.x MixVisionTransformer
//           names (backbone.layers.N.*) map onto NVlabs' backbone
//   paddle  PaddleSeg .pdparams: BatchNorm `_mean`/`_variance` become
//           `running_mean`/`running_var`. Paddle's Linear weights are stored
//           [in, out] (torch: [out, in]); no name marks a Linear, so 2-D
//           weights pass as they are (PP-LiteSeg holds convolutions only).
#pragma once

#include <string>
#include <vector>

#include "weights/tensor_dict.h"

namespace cudaseg::weights {

enum class SourceLayout { torch, hf, mmseg, paddle };
const char* layout_name(SourceLayout layout);
// "torch", "hf", "mmseg" or "paddle"; throws naming the accepted values.
SourceLayout parse_layout(const std::string& name);

// What the file looks like: its container (`numpy_pickle` for a .pdparams),
// the top-level keys of a wrapping dict and the tensor names. Throws naming
// what it found when the signs disagree (e.g. Hugging Face names inside an
// mmseg wrapper), so the user picks with --from.
SourceLayout detect_layout(bool numpy_pickle, const std::vector<std::string>& top_level_keys,
                           const TensorDict& tensors, const std::string& source);

// `tensors` renamed (and, for hf and mmseg 1.x attention, split or
// concatenated) into the upstream names; throws when the names do not fit
// `layout` at all (naming an example). `notes` receives what was done.
TensorDict map_layout(SourceLayout layout, const TensorDict& tensors, const std::string& source,
                      std::vector<std::string>* notes);

}  // namespace cudaseg::weights
