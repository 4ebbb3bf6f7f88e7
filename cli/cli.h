// The rtseg_infer, rtseg_bench and rtseg_convert command lines (apps/ holds only their
// mains) and the pieces they are made of: input expansion, the ffmpeg video
// pipe and layer dumps. Each *_main returns the
// exit status (0 ok, 1 runtime error, 2 usage error) and writes to `out` and
// `err` instead of the process streams.
#pragma once

#include <array>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "nn/hooks.h"
#include "runtime/tensor.h"
#include "infer/session.h"
#include "infer/visual.h"

namespace cudaseg::cli {

int infer_main(int argc, const char* const* argv, std::ostream& out, std::ostream& err);
int bench_main(int argc, const char* const* argv, std::ostream& out, std::ostream& err);
int convert_main(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

// Files as given, folders as their JPEG/PNG/BMP files (sorted, not
// recursive), and globs ('*', '?', '[...]'). A missing file, an empty folder
// or a glob matching nothing is an error naming it.
std::vector<std::string> expand_inputs(const std::vector<std::string>& args);

// Segments every frame of `input` and writes the infer::overlay video to `output`
// through ffmpeg/ffprobe pipes (popen). Decoding, inference and encoding run
// on three threads joined by bounded queues. Throws when ffmpeg or ffprobe is
// not on PATH. Returns the number of frames written.
struct VideoOptions {
  double alpha = 0.5;
  int batch = 1;
  bool quiet = false;  // no progress lines
};
int64_t segment_video(infer::InferenceSession& session, const std::string& input, const std::string& output,
                      const infer::Palette& palette, const VideoOptions& options, std::ostream& progress);

// The layer dump of tools/goldens/dump_layers.py ("cudaseg-layers" v1,
// source "cudaseg") for `records` and the final logits.
std::string layers_json(const std::string& model_json, const Shape& input_shape,
                        const std::vector<nn::LayerRecord>& records, const Tensor& logits);

}  // namespace cudaseg::cli
