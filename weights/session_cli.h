// The rtseg_infer and rtseg_bench command lines (apps/ holds only their
// mains) and the pieces they are made of: input expansion, label colouring,
// overlays, the ffmpeg video pipe and layer dumps. Each *_main returns the
// exit status (0 ok, 1 runtime error, 2 usage error) and writes to `out` and
// `err` instead of the process streams.
#pragma once

#include <array>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "nets/infer_hooks.h"
#include "runtime/tensor.h"
#include "weights/session.h"

namespace cudaseg::weights {

int infer_main(int argc, const char* const* argv, std::ostream& out, std::ostream& err);
int bench_main(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

using Palette = std::vector<std::array<uint8_t, 3>>;

// Cityscapes' colours for 19 classes; otherwise distinct generated colours
// (golden-ratio hues), class 0 black.
Palette default_palette(int64_t num_classes);
// labels int64 [H, W] -> u8 [H, W, 3]; a label outside the palette is an error.
Tensor colorize(const Tensor& labels, const Palette& palette);
// image * (1 - alpha) + color * alpha, rounded; both u8 [H, W, 3].
Tensor overlay(const Tensor& image, const Tensor& color, double alpha);
// labels int64 [H, W] -> u8 [H, W] class ids (at most 256 classes).
Tensor label_png(const Tensor& labels);

// Files as given, folders as their JPEG/PNG/BMP files (sorted, not
// recursive), and globs ('*', '?', '[...]'). A missing file, an empty folder
// or a glob matching nothing is an error naming it.
std::vector<std::string> expand_inputs(const std::vector<std::string>& args);

// Segments every frame of `input` and writes the overlay video to `output`
// through ffmpeg/ffprobe pipes (popen). Decoding, inference and encoding run
// on three threads joined by bounded queues. Throws when ffmpeg or ffprobe is
// not on PATH. Returns the number of frames written.
struct VideoOptions {
  double alpha = 0.5;
  int batch = 1;
  bool quiet = false;  // no progress lines
};
int64_t segment_video(InferenceSession& session, const std::string& input, const std::string& output,
                      const Palette& palette, const VideoOptions& options, std::ostream& progress);

// The layer dump of tools/goldens/dump_layers.py ("cudaseg-layers" v1,
// source "cudaseg") for `records` and the final logits.
std::string layers_json(const std::string& model_json, const Shape& input_shape,
                        const std::vector<nets::LayerRecord>& records, const Tensor& logits);

}  // namespace cudaseg::weights
