#include "weights/layouts.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <regex>

namespace cudaseg::weights {

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
std::string plus_one(const std::string& index) { return std::to_string(std::stoll(index) + 1); }

Tensor cat_rows(const Tensor& a, const Tensor& b, const std::string& what) {
  Shape tail_a(a.shape().begin() + (a.dim() > 0), a.shape().end());
  Shape tail_b(b.shape().begin() + (b.dim() > 0), b.shape().end());
  CUDASEG_CHECK(a.dim() > 0 && a.dtype() == b.dtype() && tail_a == tail_b, what, ": cannot concatenate ",
                dtype_name(a.dtype()), " ", shape_str(a.shape()), " and ", dtype_name(b.dtype()), " ",
                shape_str(b.shape()));
  Shape shape = a.shape();
  shape[0] += b.shape()[0];
  Tensor out = Tensor::empty(shape, a.dtype());
  const std::vector<uint8_t> x = contiguous_bytes(a), y = contiguous_bytes(b);
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  std::memcpy(dst, x.data(), x.size());
  std::memcpy(dst + x.size(), y.data(), y.size());
  return out;
}

// Hugging Face's key and value become NVlabs' kv: [key; value] by rows, as
// NVlabs' forward splits kv's output into k first, then v.
struct KeyValue {
  const Tensor* key = nullptr;
  const Tensor* value = nullptr;
};

std::string hf_block_inner(const std::string& rest, const std::string& source, const std::string& name) {
  static const std::pair<const char*, const char*> kInner[] = {
      {"layer_norm_1.", "norm1."},
      {"layer_norm_2.", "norm2."},
      {"attention.self.query.", "attn.q."},
      {"attention.self.sr.", "attn.sr."},
      {"attention.self.layer_norm.", "attn.norm."},
      {"attention.output.dense.", "attn.proj."},
      {"mlp.dense1.", "mlp.fc1."},
      {"mlp.dwconv.dwconv.", "mlp.dwconv.dwconv."},
      {"mlp.dense2.", "mlp.fc2."},
  };
  for (const auto& [from, to] : kInner) {
    if (starts_with(rest, from)) return to + rest.substr(std::strlen(from));
  }
  CUDASEG_FAIL(source, ": '", name, "' is no Hugging Face SegFormer block parameter this converter knows");
}

TensorDict map_hf(const TensorDict& tensors, const std::string& source, std::vector<std::string>* notes) {
  static const std::regex kEmbed(R"(segformer\.encoder\.patch_embeddings\.(\d+)\.(proj|layer_norm)\.(.+))");
  static const std::regex kBlock(R"(segformer\.encoder\.block\.(\d+)\.(\d+)\.(.+))");
  static const std::regex kKeyValue(R"(segformer\.encoder\.block\.(\d+)\.(\d+)\.attention\.self\.(key|value)\.(.+))");
  static const std::regex kNorm(R"(segformer\.encoder\.layer_norm\.(\d+)\.(.+))");
  static const std::regex kLinearC(R"(decode_head\.linear_c\.(\d+)\.proj\.(.+))");
  static const std::regex kHead(R"(decode_head\.(linear_fuse|batch_norm|classifier)\.(.+))");
  std::map<std::string, KeyValue> kv;
  std::vector<std::pair<std::string, const Tensor*>> renamed;  // a null tensor: kv, filled below
  int64_t concatenated = 0;
  for (const auto& [name, t] : tensors) {
    std::smatch m;
    if (std::regex_match(name, m, kKeyValue)) {
      const std::string target = "backbone.block" + plus_one(m[1]) + "." + m[2].str() + ".attn.kv." + m[4].str();
      KeyValue& pair = kv[target];
      (m[3] == "key" ? pair.key : pair.value) = &t;
      if (m[3] == "key") renamed.emplace_back(target, nullptr);
      continue;
    }
    std::string to;
    if (std::regex_match(name, m, kEmbed)) {
      to = "backbone.patch_embed" + plus_one(m[1]) + (m[2] == "proj" ? ".proj." : ".norm.") + m[3].str();
    } else if (std::regex_match(name, m, kBlock)) {
      to = "backbone.block" + plus_one(m[1]) + "." + m[2].str() + "." + hf_block_inner(m[3], source, name);
    } else if (std::regex_match(name, m, kNorm)) {
      to = "backbone.norm" + plus_one(m[1]) + "." + m[2].str();
    } else if (std::regex_match(name, m, kLinearC)) {
      to = "decode_head.linear_c" + plus_one(m[1]) + ".proj." + m[2].str();
    } else if (std::regex_match(name, m, kHead)) {
      to = m[1] == "linear_fuse" ? "decode_head.linear_fuse.conv." + m[2].str()
           : m[1] == "batch_norm" ? "decode_head.linear_fuse.bn." + m[2].str()
                                  : "decode_head.linear_pred." + m[2].str();
    } else {
      CUDASEG_FAIL(source, ": '", name, "' is no Hugging Face SegformerForSemanticSegmentation parameter "
                   "(expected segformer.encoder.* and decode_head.*)");
    }
    renamed.emplace_back(to, &t);
  }
  TensorDict out;
  for (const auto& [name, t] : renamed) {
    if (t != nullptr) {
      out.insert(name, *t);
      continue;
    }
    const KeyValue& pair = kv.at(name);
    CUDASEG_CHECK(pair.value != nullptr, source, ": '", name, "' has a key but no value tensor");
    out.insert(name, cat_rows(*pair.key, *pair.value, source + ": " + name));
    ++concatenated;
  }
  for (const auto& [name, pair] : kv) {
    CUDASEG_CHECK(pair.key != nullptr, source, ": '", name, "' has a value but no key tensor");
  }
  notes->push_back("Hugging Face SegFormer names mapped to NVlabs', " + std::to_string(concatenated) +
                   " key/value pairs concatenated into kv");
  return out;
}

// mmseg 1.x MixVisionTransformer: layers.N = [PatchEmbed, blocks, norm];
// attention is nn.MultiheadAttention (in_proj = [q; k; v] by rows) and the
// Mix-FFN is 1x1 convolutions ffn.layers.{0,1,4}.
TensorDict map_mmseg_mit(const TensorDict& tensors, const std::string& source, std::vector<std::string>* notes) {
  static const std::regex kEmbed(R"(backbone\.layers\.(\d+)\.0\.(projection|norm)\.(.+))");
  static const std::regex kStageNorm(R"(backbone\.layers\.(\d+)\.2\.(.+))");
  static const std::regex kBlock(R"(backbone\.layers\.(\d+)\.1\.(\d+)\.(.+))");
  static const std::pair<const char*, const char*> kInner[] = {
      {"norm1.", "norm1."},          {"norm2.", "norm2."},         {"attn.attn.out_proj.", "attn.proj."},
      {"attn.sr.", "attn.sr."},      {"attn.norm.", "attn.norm."}, {"ffn.layers.0.", "mlp.fc1."},
      {"ffn.layers.1.", "mlp.dwconv.dwconv."}, {"ffn.layers.4.", "mlp.fc2."}};
  TensorDict out;
  int64_t split = 0;
  bool other_head = false;
  for (const auto& [name, t] : tensors) {
    std::smatch m;
    if (std::regex_match(name, m, kEmbed)) {
      out.insert("backbone.patch_embed" + plus_one(m[1]) + (m[2] == "projection" ? ".proj." : ".norm.") + m[3].str(),
                 t);
    } else if (std::regex_match(name, m, kStageNorm)) {
      out.insert("backbone.norm" + plus_one(m[1]) + "." + m[2].str(), t);
    } else if (std::regex_match(name, m, kBlock)) {
      const std::string block = "backbone.block" + plus_one(m[1]) + "." + m[2].str() + ".";
      const std::string rest = m[3];
      if (starts_with(rest, "attn.attn.in_proj_")) {
        const std::string param = rest.substr(std::strlen("attn.attn.in_proj_"));
        CUDASEG_CHECK(t.dim() >= 1 && t.shape()[0] % 3 == 0, source, ": '", name, "' ", shape_str(t.shape()),
                      " is not [3 * C, ...]");
        const int64_t c = t.shape()[0] / 3;
        out.insert(block + "attn.q." + param, t.narrow(0, 0, c).contiguous());
        out.insert(block + "attn.kv." + param, t.narrow(0, c, 2 * c).contiguous());
        ++split;
        continue;
      }
      std::string to;
      for (const auto& [from, target] : kInner) {
        if (starts_with(rest, from)) to = block + target + rest.substr(std::strlen(from));
      }
      CUDASEG_CHECK(!to.empty(), source, ": '", name, "' is no mmseg MixVisionTransformer block parameter");
      const bool pointwise = starts_with(rest, "ffn.layers.0.") || starts_with(rest, "ffn.layers.4.");
      // A 1x1 convolution's [out, in, 1, 1] weight is a Linear's [out, in].
      out.insert(to, pointwise && t.dim() == 4 ? t.reshape({t.shape()[0], t.shape()[1]}) : t);
    } else {
      other_head = other_head || starts_with(name, "decode_head.convs.") || starts_with(name, "decode_head.fusion_conv.");
      out.insert(name, t);
    }
  }
  notes->push_back("mmseg MixVisionTransformer names mapped to NVlabs', " + std::to_string(split) +
                   " in_proj tensors split into q and kv");
  if (other_head) {
    notes->push_back("decode_head.convs/fusion_conv are mmseg's SegformerHead (a ConvModule with BatchNorm and ReLU "
                     "per level), not NVlabs' all-MLP head that cudaseg's segformer builds: kept as they are");
  }
  return out;
}

TensorDict map_paddle(const TensorDict& tensors, std::vector<std::string>* notes) {
  TensorDict out;
  int64_t renamed = 0;
  for (const auto& [name, t] : tensors) {
    std::string to = name;
    if (ends_with(name, "._mean")) to = name.substr(0, name.size() - 5) + "running_mean";
    if (ends_with(name, "._variance")) to = name.substr(0, name.size() - 9) + "running_var";
    renamed += to != name;
    out.insert(to, t);
  }
  notes->push_back("Paddle BatchNorm names mapped (" + std::to_string(renamed) +
                   " _mean/_variance); 2-D weights kept as stored (Paddle Linear is [in, out])");
  return out;
}

std::string first_name(const TensorDict& tensors) {
  return tensors.empty() ? std::string("(no tensors)") : "'" + tensors.entries()[0].first + "'";
}

}  // namespace

const char* layout_name(SourceLayout layout) {
  switch (layout) {
    case SourceLayout::torch: return "torch";
    case SourceLayout::hf: return "hf";
    case SourceLayout::mmseg: return "mmseg";
    case SourceLayout::paddle: return "paddle";
  }
  return "unknown";
}

SourceLayout parse_layout(const std::string& name) {
  for (SourceLayout l : {SourceLayout::torch, SourceLayout::hf, SourceLayout::mmseg, SourceLayout::paddle}) {
    if (name == layout_name(l)) return l;
  }
  CUDASEG_FAIL("unknown checkpoint layout '", name, "' (hf, mmseg, paddle, torch or auto)");
}

SourceLayout detect_layout(bool numpy_pickle, const std::vector<std::string>& top_level_keys,
                           const TensorDict& tensors, const std::string& source) {
  std::vector<std::pair<SourceLayout, std::string>> signs;
  if (numpy_pickle) signs.emplace_back(SourceLayout::paddle, "a pickle of NumPy arrays (PaddleSeg .pdparams)");
  auto has_key = [&](const char* key) {
    return std::find(top_level_keys.begin(), top_level_keys.end(), key) != top_level_keys.end();
  };
  if (has_key("state_dict") && has_key("meta")) {
    signs.emplace_back(SourceLayout::mmseg, "an mmseg/mmcv {'state_dict', 'meta'} wrapper");
  }
  std::string hf, mit, paddle_bn, torch_bn;
  for (const auto& [name, t] : tensors) {
    if (hf.empty() && (starts_with(name, "segformer.encoder.") || starts_with(name, "decode_head.linear_c.0."))) {
      hf = name;
    }
    if (mit.empty() && starts_with(name, "backbone.layers.") && ends_with(name, ".attn.attn.in_proj_weight")) mit = name;
    if (paddle_bn.empty() && (ends_with(name, "._mean") || ends_with(name, "._variance"))) paddle_bn = name;
    if (torch_bn.empty() && ends_with(name, ".running_mean")) torch_bn = name;
  }
  if (!hf.empty()) signs.emplace_back(SourceLayout::hf, "Hugging Face SegFormer names ('" + hf + "')");
  if (!mit.empty()) signs.emplace_back(SourceLayout::mmseg, "mmseg MixVisionTransformer names ('" + mit + "')");
  if (!paddle_bn.empty() && !numpy_pickle) {
    signs.emplace_back(SourceLayout::paddle, "Paddle BatchNorm names ('" + paddle_bn + "')");
  }
  if (!torch_bn.empty() && !paddle_bn.empty()) {
    CUDASEG_FAIL(source, ": cannot tell the checkpoint's layout: it has both torch BatchNorm names ('", torch_bn,
                 "') and Paddle's ('", paddle_bn, "'); pass --from paddle or --from torch");
  }
  if (signs.empty()) return SourceLayout::torch;
  for (const auto& [layout, what] : signs) {
    if (layout == signs[0].first) continue;
    CUDASEG_FAIL(source, ": cannot tell the checkpoint's layout: it is ", signs[0].second, " (", layout_name(signs[0].first),
                 ") but also has ", what, " (", layout_name(layout), "); pass --from hf|mmseg|paddle|torch");
  }
  return signs[0].first;
}

TensorDict map_layout(SourceLayout layout, const TensorDict& tensors, const std::string& source,
                      std::vector<std::string>* notes) {
  switch (layout) {
    case SourceLayout::torch: return tensors;
    case SourceLayout::hf: {
      const bool any = std::any_of(tensors.begin(), tensors.end(),
                                   [](const auto& e) { return starts_with(e.first, "segformer.encoder."); });
      CUDASEG_CHECK(any, source, ": --from hf expects Hugging Face SegFormer names (segformer.encoder.*), "
                    "the first tensor is ", first_name(tensors));
      return map_hf(tensors, source, notes);
    }
    case SourceLayout::mmseg: {
      const bool mit = std::any_of(tensors.begin(), tensors.end(), [](const auto& e) {
        return starts_with(e.first, "backbone.layers.") && ends_with(e.first, ".attn.attn.in_proj_weight");
      });
      return mit ? map_mmseg_mit(tensors, source, notes) : tensors;
    }
    case SourceLayout::paddle: return map_paddle(tensors, notes);
  }
  return tensors;
}

}  // namespace cudaseg::weights
