// The C API (include/cudaseg_c.h) over infer::InferenceSession. Every entry
// point runs its body through guarded(), which turns each exception into a
// status and this thread's last-error message: no exception reaches C.
#include "cudaseg_c.h"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>

#include "runtime/error.h"
#include "runtime/image_io.h"
#include "runtime/version.h"
#include "infer/session.h"

namespace {

using cudaseg::Tensor;
using cudaseg::infer::InferenceSession;

// A handle is an id, never the session's address, and no id is handed out
// twice: a second destroy, a call after destroy or a made-up pointer finds no
// session and fails with a status instead of touching freed memory. Calls
// hold a reference, so a destroy during another thread's predict frees the
// session when that predict returns.
class LiveSessions {
 public:
  cudaseg_session* add(std::shared_ptr<InferenceSession> session) {
    const std::lock_guard<std::mutex> lock(mutex_);
    const uintptr_t id = next_id_++;
    live_.emplace(id, std::move(session));
    return reinterpret_cast<cudaseg_session*>(id);
  }
  std::shared_ptr<InferenceSession> find(const cudaseg_session* handle) {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = live_.find(reinterpret_cast<uintptr_t>(handle));
    return it == live_.end() ? nullptr : it->second;
  }
  std::shared_ptr<InferenceSession> remove(const cudaseg_session* handle) {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = live_.find(reinterpret_cast<uintptr_t>(handle));
    if (it == live_.end()) return nullptr;
    std::shared_ptr<InferenceSession> session = std::move(it->second);
    live_.erase(it);
    return session;
  }

 private:
  std::mutex mutex_;
  uintptr_t next_id_ = 1;
  std::unordered_map<uintptr_t, std::shared_ptr<InferenceSession>> live_;
};

// Never destroyed: sessions left open at exit must not be torn down after the
// library's other statics (the CPU allocator, the thread pool) are gone.
LiveSessions& live_sessions() {
  static auto* sessions = new LiveSessions;
  return *sessions;
}

constexpr const char* kNotLive = "session is not live (destroyed already, or not made by cudaseg_session_create)";

thread_local std::string t_last_error;

// A mistake of the caller, found at the boundary before the library runs.
struct InvalidArgument {
  std::string message;
};

cudaseg_status fail(cudaseg_status status, const char* function, const std::string& message) {
  try {
    t_last_error = std::string(function) + ": " + message;
  } catch (...) {
    // The message could not be stored; the status still tells what happened.
  }
  return status;
}

template <typename Body>
cudaseg_status guarded(const char* function, Body&& body) noexcept {
  try {
    body();
    return CUDASEG_OK;
  } catch (const InvalidArgument& e) {
    return fail(CUDASEG_ERROR_INVALID_ARGUMENT, function, e.message);
  } catch (const std::bad_alloc&) {
    return fail(CUDASEG_ERROR_OUT_OF_MEMORY, function, "out of memory");
  } catch (const cudaseg::Error& e) {
    const std::string what = e.what();
    const bool oom = what.find("out of memory") != std::string::npos;
    return fail(oom ? CUDASEG_ERROR_OUT_OF_MEMORY : CUDASEG_ERROR_FAILED, function, what);
  } catch (const std::exception& e) {
    return fail(CUDASEG_ERROR_INTERNAL, function, e.what());
  } catch (...) {
    return fail(CUDASEG_ERROR_INTERNAL, function, "unknown exception");
  }
}

void require(bool condition, const char* message) {
  if (!condition) throw InvalidArgument{message};
}

// Both dimensions positive and the pixel count within int32, as labels are.
void require_size(int width, int height) {
  require(width > 0 && height > 0, "width and height must be positive");
  require(static_cast<int64_t>(width) * height <= std::numeric_limits<int32_t>::max(), "image too large");
}

cudaseg::infer::SessionOptions session_options(const cudaseg_options& o) {
  using namespace cudaseg::infer;
  SessionOptions s;
  try {
    s.device = cudaseg::Device::parse(o.device ? o.device : "cpu");
    s.precision = parse_precision(o.precision ? o.precision : "fp32");
  } catch (const cudaseg::Error& e) {
    throw InvalidArgument{e.what()};
  }
  const bool fixed = o.input_height != 0 || o.input_width != 0;
  require(!fixed || (o.input_height > 0 && o.input_width > 0),
          "input_height and input_width must both be positive, or both 0");
  require(!(fixed && o.keep_size), "input_height/input_width and keep_size exclude each other");
  if (fixed) {
    s.size_policy = SizePolicy::fixed;
    s.input_size = {o.input_height, o.input_width};
  } else if (o.keep_size) {
    s.size_policy = SizePolicy::keep;
  }
  s.fuse = o.fuse != 0;
  s.cuda_graphs = o.cuda_graphs != 0;
  s.tf32 = o.tf32 != 0;
  return s;
}

}  // namespace

extern "C" {

const char* cudaseg_version(void) {
  static const std::string version = [] {
    try {
      return cudaseg::version();
    } catch (...) {
      return std::string("unknown");
    }
  }();
  return version.c_str();
}

const char* cudaseg_last_error(void) { return t_last_error.c_str(); }

const char* cudaseg_status_string(cudaseg_status status) {
  switch (status) {
    case CUDASEG_OK: return "ok";
    case CUDASEG_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case CUDASEG_ERROR_FAILED: return "failed";
    case CUDASEG_ERROR_OUT_OF_MEMORY: return "out of memory";
    case CUDASEG_ERROR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

void cudaseg_options_init(cudaseg_options* options) {
  if (!options) return;
  options->device = "cpu";
  options->precision = "fp32";
  options->input_height = 0;
  options->input_width = 0;
  options->keep_size = 0;
  options->fuse = 1;
  options->cuda_graphs = 1;
  options->tf32 = 0;
}

cudaseg_status cudaseg_session_create(const char* weights_path, const cudaseg_options* options,
                                      cudaseg_session** out) {
  if (out) *out = nullptr;
  return guarded(__func__, [&] {
    require(out != nullptr, "out is NULL");
    require(weights_path != nullptr, "weights_path is NULL");
    cudaseg_options defaults;
    cudaseg_options_init(&defaults);
    const cudaseg::infer::SessionOptions o = session_options(options ? *options : defaults);
    *out = live_sessions().add(std::make_shared<InferenceSession>(InferenceSession::load(weights_path, o)));
  });
}

cudaseg_status cudaseg_session_destroy(cudaseg_session* session) {
  if (!session) return CUDASEG_OK;
  return guarded(__func__, [&] { require(live_sessions().remove(session) != nullptr, kNotLive); });
}

int cudaseg_num_classes(const cudaseg_session* session) {
  int classes = -1;
  guarded(__func__, [&] {
    require(session != nullptr, "session is NULL");
    const std::shared_ptr<InferenceSession> s = live_sessions().find(session);
    require(s != nullptr, kNotLive);
    classes = static_cast<int>(s->num_classes());
  });
  return classes;
}

cudaseg_status cudaseg_predict(cudaseg_session* session, const uint8_t* rgb, int width, int height,
                               int32_t* labels_out) {
  return guarded(__func__, [&] {
    require(session != nullptr, "session is NULL");
    const std::shared_ptr<InferenceSession> live = live_sessions().find(session);
    require(live != nullptr, kNotLive);
    require(rgb != nullptr, "rgb is NULL");
    require(labels_out != nullptr, "labels_out is NULL");
    require_size(width, height);
    const size_t pixels = static_cast<size_t>(width) * static_cast<size_t>(height);
    Tensor image = Tensor::empty({height, width, 3}, cudaseg::DType::u8);
    std::memcpy(image.raw_data(), rgb, pixels * 3);
    const Tensor labels = live->predict(image).contiguous();
    CUDASEG_CHECK(labels.numel() == static_cast<int64_t>(pixels), "predict returned ", labels.str(), " for a ",
                  height, "x", width, " image");
    const int64_t* src = labels.data<int64_t>();
    for (size_t i = 0; i < pixels; ++i) labels_out[i] = static_cast<int32_t>(src[i]);
  });
}

cudaseg_status cudaseg_read_image(const char* path, uint8_t** rgb_out, int* width, int* height) {
  if (rgb_out) *rgb_out = nullptr;
  return guarded(__func__, [&] {
    require(path != nullptr, "path is NULL");
    require(rgb_out != nullptr && width != nullptr && height != nullptr, "rgb_out, width and height must not be NULL");
    const Tensor image = cudaseg::read_image(path, 3).contiguous();
    const size_t bytes = static_cast<size_t>(image.numel());
    auto* buffer = static_cast<uint8_t*>(std::malloc(bytes));
    if (!buffer) throw std::bad_alloc();
    std::memcpy(buffer, image.raw_data(), bytes);
    *rgb_out = buffer;
    *height = static_cast<int>(image.size(0));
    *width = static_cast<int>(image.size(1));
  });
}

cudaseg_status cudaseg_write_png(const char* path, const uint8_t* pixels, int width, int height, int channels) {
  return guarded(__func__, [&] {
    require(path != nullptr, "path is NULL");
    require(pixels != nullptr, "pixels is NULL");
    require_size(width, height);
    require(channels >= 1 && channels <= 4, "channels must be 1, 2, 3 or 4");
    Tensor image = Tensor::empty({height, width, channels}, cudaseg::DType::u8);
    std::memcpy(image.raw_data(), pixels, static_cast<size_t>(width) * height * channels);
    cudaseg::write_png(path, channels == 1 ? image.view({height, width}) : image);
  });
}

void cudaseg_free(void* ptr) { std::free(ptr); }

}  // extern "C"
