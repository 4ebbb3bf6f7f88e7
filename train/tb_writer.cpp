#include "train/tb_writer.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "runtime/crc32c.h"
#include "runtime/error.h"
#include "runtime/image_io.h"

namespace cudaseg::train {
namespace {

namespace fs = std::filesystem;

// Protobuf wire types.
constexpr int kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5;

void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void key(std::string& out, int field, int wire_type) { varint(out, static_cast<uint64_t>(field) << 3 | wire_type); }

void little_endian(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(v >> (8 * i) & 0xff));
}

void int_field(std::string& out, int field, int64_t v) {
  key(out, field, kVarint);
  varint(out, static_cast<uint64_t>(v));
}

void bytes_field(std::string& out, int field, const std::string& v) {
  key(out, field, kBytes);
  varint(out, v.size());
  out += v;
}

void double_field(std::string& out, int field, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  key(out, field, kFixed64);
  little_endian(out, bits, 8);
}

void float_field(std::string& out, int field, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  key(out, field, kFixed32);
  little_endian(out, bits, 4);
}

std::string event(double wall_time, int64_t step, const std::string& summary_value) {
  std::string summary, out;
  bytes_field(summary, 1, summary_value);
  double_field(out, 1, wall_time);
  int_field(out, 2, step);
  bytes_field(out, 5, summary);
  return out;
}

double now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

}  // namespace

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string tfrecord(const std::string& data) {
  std::string length, out;
  little_endian(length, data.size(), 8);
  out = length;
  little_endian(out, masked_crc32c(length.data(), length.size()), 4);
  out += data;
  little_endian(out, masked_crc32c(data.data(), data.size()), 4);
  return out;
}

std::string version_event(double wall_time) {
  std::string out;
  double_field(out, 1, wall_time);
  bytes_field(out, 3, "brain.Event:2");
  return out;
}

std::string session_start_event(double wall_time, int64_t step) {
  std::string session_log, out;
  int_field(session_log, 1, 1);
  double_field(out, 1, wall_time);
  int_field(out, 2, step);
  bytes_field(out, 7, session_log);
  return out;
}

std::string scalar_event(double wall_time, int64_t step, const std::string& tag, float value) {
  std::string v;
  bytes_field(v, 1, tag);
  float_field(v, 2, value);
  return event(wall_time, step, v);
}

std::string image_event(double wall_time, int64_t step, const std::string& tag, const std::string& png,
                        int64_t height, int64_t width, int64_t channels) {
  std::string image, v;
  int_field(image, 1, height);
  int_field(image, 2, width);
  int_field(image, 3, channels);
  bytes_field(image, 4, png);
  bytes_field(v, 1, tag);
  bytes_field(v, 4, image);
  return event(wall_time, step, v);
}

TbWriter::TbWriter(const std::string& dir) {
  static std::atomic<int> serial{0};
  std::error_code ec;
  fs::create_directories(dir, ec);
  CUDASEG_CHECK(!ec, "TensorBoard log: cannot create '", dir, "': ", ec.message());
  const double t = now();
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%010lld", static_cast<long long>(t));
  const std::string stem = (fs::path(dir) / "events.out.tfevents.").string() + stamp + "." + host_name() + "." +
                           std::to_string(getpid()) + ".";
  // The serial keeps two writers of one process in one second apart.
  do path_ = stem + std::to_string(serial++);
  while (fs::exists(path_));
  out_.open(path_, std::ios::binary);
  CUDASEG_CHECK(out_.good(), "TensorBoard log: cannot create '", path_, "': ", std::strerror(errno));
  write(version_event(t));
}

void TbWriter::write(const std::string& event) {
  out_ << tfrecord(event);
  out_.flush();
  CUDASEG_CHECK(out_.good(), "TensorBoard log: cannot write to '", path_, "'");
}

void TbWriter::session_start(int64_t step) { write(session_start_event(now(), step)); }

void TbWriter::scalar(const std::string& tag, int64_t step, double value) {
  write(scalar_event(now(), step, tag, static_cast<float>(value)));
}

void TbWriter::image(const std::string& tag, int64_t step, const Tensor& rgb) {
  CUDASEG_CHECK(rgb.dim() == 3 && rgb.size(2) == 3, "TensorBoard log: image '", tag, "' must be [H, W, 3], got ",
                shape_str(rgb.shape()));
  write(image_event(now(), step, tag, encode_png(rgb), rgb.size(0), rgb.size(1), 3));
}

}  // namespace cudaseg::train
