// TensorBoard event files, written without TensorFlow or a protobuf library.
// An event file is a sequence of TFRecords:
//   uint64 length (little-endian) | masked CRC-32C of those 8 bytes |
//   data (length bytes)           | masked CRC-32C of the data
// each holding one Event protobuf, encoded here field by field:
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5;
//             SessionLog session_log = 7; }
//   SessionLog { SessionStatus status = 1; }  (START = 1)
//   Summary { repeated Value value = 1; }
//   Value   { string tag = 1; float simple_value = 2; Image image = 4; }
//   Image   { int32 height = 1; int32 width = 2; int32 colorspace = 3; bytes encoded_image_string = 4; }
// The first record is the version event ("brain.Event:2"), which readers
// need to accept the file. Each record is flushed as it is written, so a
// TensorBoard watching the folder shows a run live.
#pragma once

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "runtime/tensor.h"

namespace cudaseg::train {

// TFRecord's checksum: CRC-32C rotated right by 15 bits plus 0xa282ead8, so
// a record's CRC stored inside data it covers does not make a fixed point.
uint32_t masked_crc32c(const void* data, size_t size);

// One framed record around `data`.
std::string tfrecord(const std::string& data);

// The Event protobufs, serialized (wall_time in seconds since the epoch).
std::string version_event(double wall_time);
std::string session_start_event(double wall_time, int64_t step);
std::string scalar_event(double wall_time, int64_t step, const std::string& tag, float value);
// `png`: the encoded image of `height` x `width` pixels with `channels` (1..4) channels.
std::string image_event(double wall_time, int64_t step, const std::string& tag, const std::string& png,
                        int64_t height, int64_t width, int64_t channels);

class TbWriter {
 public:
  // Creates `dir` and a new events.out.tfevents.<seconds>.<host>.<pid>.<n>
  // in it (a fresh file per writer: a resumed run adds one, and TensorBoard
  // reads them in name order, dropping what a step going back makes stale).
  explicit TbWriter(const std::string& dir);

  // Marks a restart at `step`: TensorBoard drops the events of earlier files at steps >= `step`.
  void session_start(int64_t step);
  void scalar(const std::string& tag, int64_t step, double value);
  // A u8 [H, W, 3] image, stored as PNG.
  void image(const std::string& tag, int64_t step, const Tensor& rgb);
  const std::string& path() const { return path_; }

 private:
  void write(const std::string& event);

  std::string path_;
  std::ofstream out_;
};

}  // namespace cudaseg::train
