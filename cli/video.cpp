// rtseg_infer --video: ffprobe for the frame size and rate, ffmpeg decoding
// raw RGB frames into a pipe, the session segmenting them, and ffmpeg
// encoding the overlays from another pipe. Three threads (decode, infer on
// the caller's thread, encode) joined by bounded queues keep the device busy
// while frames are decoded and encoded.
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <ostream>
#include <sstream>
#include <thread>

#include "cli/cli.h"

namespace cudaseg::cli {
namespace {

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  return false;
}

// A popen'ed command; close() reports its exit status.
class Pipe {
 public:
  Pipe(const std::string& command, const char* mode) : command_(command), f_(::popen(command.c_str(), mode)) {
    CUDASEG_CHECK(f_, "cannot start: ", command);
  }
  ~Pipe() {
    if (f_) ::pclose(f_);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  FILE* get() const { return f_; }
  void close() {
    const int status = ::pclose(f_);
    f_ = nullptr;
    CUDASEG_CHECK(status == 0, "ffmpeg failed (status ", status, "): ", command_);
  }

 private:
  std::string command_;
  FILE* f_;
};

struct Probe {
  int64_t width = 0, height = 0;
  std::string rate;
};

Probe probe(const std::string& input) {
  Pipe p("ffprobe -v error -select_streams v:0 -show_entries stream=width,height,r_frame_rate -of csv=p=0 " +
             quote(input) + " 2>&1",
         "r");
  std::string text;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p.get())) text.append(buf, n);
  Probe r;
  std::stringstream ss(text);
  std::string w, h;
  if (std::getline(ss, w, ',') && std::getline(ss, h, ',') && std::getline(ss, r.rate)) {
    r.width = std::atoll(w.c_str());
    r.height = std::atoll(h.c_str());
    while (!r.rate.empty() && (r.rate.back() == '\n' || r.rate.back() == '\r')) r.rate.pop_back();
  }
  CUDASEG_CHECK(r.width > 0 && r.height > 0 && !r.rate.empty(), input, ": ffprobe found no video stream: ", text);
  return r;
}

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity) {}
  // False once the queue is closed (the value is dropped).
  bool push(T value) {
    std::unique_lock<std::mutex> lock(m_);
    cv_.wait(lock, [&] { return q_.size() < capacity_ || closed_; });
    if (closed_) return false;
    q_.push_back(std::move(value));
    cv_.notify_all();
    return true;
  }
  std::optional<T> pop() {
    std::unique_lock<std::mutex> lock(m_);
    cv_.wait(lock, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) return std::nullopt;
    T v = std::move(q_.front());
    q_.pop_front();
    cv_.notify_all();
    return v;
  }
  // Wakes everyone; push() refuses values from now on and pop() drains what is left.
  void close() {
    std::lock_guard<std::mutex> lock(m_);
    closed_ = true;
    cv_.notify_all();
  }

 private:
  size_t capacity_;
  std::deque<T> q_;
  bool closed_ = false;
  std::mutex m_;
  std::condition_variable cv_;
};

// The first exception of any thread, rethrown by the caller.
class FirstError {
 public:
  void set(std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(m_);
    if (!e_) e_ = e;
  }
  void rethrow() {
    if (e_) std::rethrow_exception(e_);
  }

 private:
  std::mutex m_;
  std::exception_ptr e_;
};

}  // namespace

int64_t segment_video(infer::InferenceSession& session, const std::string& input, const std::string& output,
                      const infer::Palette& palette, const VideoOptions& options, std::ostream& progress) {
  for (const char* tool : {"ffmpeg", "ffprobe"})
    CUDASEG_CHECK(on_path(tool), "--video needs ", tool, ", which is not on PATH (install ffmpeg)");
  const Probe info = probe(input);
  const size_t frame_bytes = static_cast<size_t>(info.width * info.height * 3);
  Pipe decoder("ffmpeg -v error -nostdin -i " + quote(input) + " -f rawvideo -pix_fmt rgb24 -", "r");
  // 4:2:0, which players take best, halves the chroma planes: odd sizes need 4:4:4.
  const char* pix_fmt = info.width % 2 == 0 && info.height % 2 == 0 ? "yuv420p" : "yuv444p";
  Pipe encoder("ffmpeg -v error -y -f rawvideo -pix_fmt rgb24 -s " + std::to_string(info.width) + "x" +
                   std::to_string(info.height) + " -r " + info.rate + " -i - -c:v libx264 -pix_fmt " + pix_fmt +
                   " " + quote(output),
               "w");
  BoundedQueue<Tensor> decoded(8), encoded(8);
  FirstError error;

  std::thread decode([&] {
    try {
      while (true) {
        Tensor frame = Tensor::empty({info.height, info.width, 3}, DType::u8);
        const size_t got = std::fread(frame.raw_data(), 1, frame_bytes, decoder.get());
        if (got == 0) break;
        CUDASEG_CHECK(got == frame_bytes, input, ": the decoder stopped inside a frame (", got, " of ", frame_bytes,
                      " bytes)");
        if (!decoded.push(std::move(frame))) break;
      }
    } catch (...) {
      error.set(std::current_exception());
    }
    decoded.close();
  });
  std::thread encode([&] {
    try {
      while (auto frame = encoded.pop())
        CUDASEG_CHECK(std::fwrite(frame->raw_data(), 1, frame_bytes, encoder.get()) == frame_bytes,
                      output, ": the encoder stopped accepting frames");
    } catch (...) {
      error.set(std::current_exception());
      decoded.close();
    }
  });

  int64_t frames = 0;
  const auto start = std::chrono::steady_clock::now();
  auto last = start;
  try {
    std::vector<Tensor> batch;
    auto flush = [&] {
      const std::vector<Tensor> labels = session.predict_batch(batch);
      for (size_t k = 0; k < batch.size(); ++k)
        encoded.push(infer::overlay(batch[k], infer::colorize(labels[k], palette), options.alpha));
      frames += static_cast<int64_t>(batch.size());
      batch.clear();
      const auto now = std::chrono::steady_clock::now();
      if (!options.quiet && now - last > std::chrono::seconds(1)) {
        progress << frames << " frames, "
                 << static_cast<int64_t>(frames / std::chrono::duration<double>(now - start).count() * 10) / 10.0
                 << " frames/s\n";
        last = now;
      }
    };
    while (auto frame = decoded.pop()) {
      batch.push_back(std::move(*frame));
      if (static_cast<int>(batch.size()) == options.batch) flush();
    }
    if (!batch.empty()) flush();
  } catch (...) {
    error.set(std::current_exception());
    decoded.close();
  }
  encoded.close();
  decode.join();
  encode.join();
  error.rethrow();
  decoder.close();
  encoder.close();
  return frames;
}

}  // namespace cudaseg::cli
