// The C API (include/cudaseg_c.h) over infer::InferenceSession. Every entry
// point runs its body through guarded(), which turns each exception into a
// status and this thread's last-error message: no exception reaches C.
// Every caller buffer is checked against its stated length before the
// library runs.
#include "cudaseg_c.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/cpu_cache.h"
#include "runtime/error.h"
#include "runtime/gpu.h"
#include "runtime/image_io.h"
#include "runtime/log.h"
#include "runtime/thread_pool.h"
#include "runtime/version.h"
#include "infer/session.h"
#include "infer/visual.h"

namespace {

using cudaseg::DType;
using cudaseg::Tensor;
using cudaseg::infer::InferenceSession;
using cudaseg::infer::PredictOutput;

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
  cudaseg_status status = CUDASEG_ERROR_INVALID_ARGUMENT;
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
    return fail(e.status, function, e.message);
  } catch (const std::bad_alloc&) {
    return fail(CUDASEG_ERROR_OUT_OF_MEMORY, function, "out of host memory");
  } catch (const cudaseg::Error& e) {
    const bool oom = e.kind() == cudaseg::ErrorKind::out_of_memory;
    return fail(oom ? CUDASEG_ERROR_OUT_OF_MEMORY : CUDASEG_ERROR_FAILED, function, e.what());
  } catch (const std::exception& e) {
    return fail(CUDASEG_ERROR_INTERNAL, function, e.what());
  } catch (...) {
    return fail(CUDASEG_ERROR_INTERNAL, function, "unknown exception");
  }
}

void require(bool condition, const std::string& message) {
  if (!condition) throw InvalidArgument{message};
}

std::shared_ptr<InferenceSession> live(const cudaseg_session* session) {
  require(session != nullptr, "session is NULL");
  std::shared_ptr<InferenceSession> s = live_sessions().find(session);
  require(s != nullptr, kNotLive);
  return s;
}

// Both dimensions positive and the pixel count within int32, as labels are.
void require_size(int64_t width, int64_t height, const std::string& what) {
  require(width > 0 && height > 0, what + ": width and height must be positive, got " + std::to_string(width) +
                                       "x" + std::to_string(height));
  require(width * height <= std::numeric_limits<int32_t>::max(), what + ": " + std::to_string(width) + "x" +
                                                                     std::to_string(height) + " is too large");
}

// The bytes `rows` rows of row_bytes each, row_stride apart, span; refuses a
// stride shorter than a row and a buffer shorter than the span.
void require_span(const std::string& what, size_t size, size_t rows, size_t row_bytes, size_t row_stride) {
  const size_t stride = row_stride == 0 ? row_bytes : row_stride;
  require(stride >= row_bytes, what + ": row_stride " + std::to_string(row_stride) + " is shorter than a row (" +
                                   std::to_string(row_bytes) + " bytes)");
  size_t needed = 0;
  const bool overflow = __builtin_mul_overflow(rows - 1, stride, &needed) ||
                        __builtin_add_overflow(needed, row_bytes, &needed);
  if (overflow || size < needed)
    throw InvalidArgument{what + ": the buffer has " + std::to_string(size) + " bytes; " + std::to_string(rows) +
                              " rows of " + std::to_string(row_bytes) + " bytes, " + std::to_string(stride) +
                              " apart, need " + (overflow ? std::string("more than fit in size_t") :
                                                            std::to_string(needed)),
                          CUDASEG_ERROR_BUFFER_TOO_SMALL};
}

size_t pixel_bytes(int32_t format) {
  switch (format) {
    case CUDASEG_FORMAT_RGB:
    case CUDASEG_FORMAT_BGR: return 3;
    case CUDASEG_FORMAT_RGBA:
    case CUDASEG_FORMAT_BGRA: return 4;
    case CUDASEG_FORMAT_GRAY: return 1;
    case CUDASEG_FORMAT_NCHW_F32: return sizeof(float);
    default: break;
  }
  throw InvalidArgument{"unknown format " + std::to_string(format) + " (accepted: CUDASEG_FORMAT_RGB .. NCHW_F32)"};
}

// Checks one caller image and copies it into what InferenceSession::predict
// takes: u8 [H, W, 3] RGB, or float32 [1, 3, H, W].
Tensor image_tensor(const cudaseg_image* image, const std::string& what) {
  require(image != nullptr, what + " is NULL");
  require(image->data != nullptr, what + ".data is NULL");
  require_size(image->width, image->height, what);
  const size_t w = static_cast<size_t>(image->width), h = static_cast<size_t>(image->height);
  const size_t bpp = pixel_bytes(image->format);
  const bool planar = image->format == CUDASEG_FORMAT_NCHW_F32;
  require_span(what, image->size, planar ? 3 * h : h, w * bpp, image->row_stride);
  const size_t stride = image->row_stride == 0 ? w * bpp : image->row_stride;
  const auto* src = static_cast<const uint8_t*>(image->data);
  if (planar) {
    Tensor t = Tensor::empty({1, 3, image->height, image->width}, DType::f32);
    auto* dst = static_cast<uint8_t*>(t.raw_data());
    for (size_t r = 0; r < 3 * h; ++r) std::memcpy(dst + r * w * sizeof(float), src + r * stride, w * sizeof(float));
    return t;
  }
  Tensor t = Tensor::empty({image->height, image->width, 3}, DType::u8);
  auto* dst = static_cast<uint8_t*>(t.raw_data());
  const bool bgr = image->format == CUDASEG_FORMAT_BGR || image->format == CUDASEG_FORMAT_BGRA;
  for (size_t y = 0; y < h; ++y) {
    const uint8_t* in = src + y * stride;
    uint8_t* out = dst + y * w * 3;
    if (bpp == 3 && !bgr) {
      std::memcpy(out, in, w * 3);
      continue;
    }
    for (size_t x = 0; x < w; ++x, in += bpp, out += 3) {
      if (bpp == 1) {
        out[0] = out[1] = out[2] = in[0];
      } else {
        out[0] = in[bgr ? 2 : 0];
        out[1] = in[1];
        out[2] = in[bgr ? 0 : 2];
      }
    }
  }
  return t;
}

PredictOutput output_of(int32_t kind) {
  switch (kind) {
    case CUDASEG_OUTPUT_LABELS_I32:
    case CUDASEG_OUTPUT_LABELS_U8: return PredictOutput::labels;
    case CUDASEG_OUTPUT_LOGITS_F32: return PredictOutput::logits;
    case CUDASEG_OUTPUT_PROBABILITIES_F32: return PredictOutput::probabilities;
    default: break;
  }
  throw InvalidArgument{"unknown output kind " + std::to_string(kind) +
                        " (accepted: CUDASEG_OUTPUT_LABELS_I32 .. PROBABILITIES_F32)"};
}

// Checks that `output` holds a result of `kind` for a width x height image.
void check_output(const cudaseg_output* output, const std::string& what, int64_t width, int64_t height,
                  int64_t classes) {
  require(output != nullptr, what + " is NULL");
  require(output->data != nullptr, what + ".data is NULL");
  const PredictOutput kind = output_of(output->kind);
  const bool u8 = output->kind == CUDASEG_OUTPUT_LABELS_U8;
  require(!u8 || classes <= 256, what + ": CUDASEG_OUTPUT_LABELS_U8 holds at most 256 classes; the net has " +
                                     std::to_string(classes));
  const size_t element = u8 ? 1 : 4;
  const size_t planes = kind == PredictOutput::labels ? 1 : static_cast<size_t>(classes);
  require_span(what, output->size, planes * static_cast<size_t>(height), static_cast<size_t>(width) * element,
               output->row_stride);
}

// Writes a predict() result (int64 [H, W] or float32 [C, H, W]) into a checked output.
void write_output(const Tensor& result, const cudaseg_output& output) {
  const Tensor r = result.contiguous();
  const int64_t w = r.size(r.dim() - 1);
  const int64_t rows = r.numel() / w;
  const size_t element = output.kind == CUDASEG_OUTPUT_LABELS_U8 ? 1 : 4;
  const size_t stride = output.row_stride == 0 ? static_cast<size_t>(w) * element : output.row_stride;
  auto* dst = static_cast<uint8_t*>(output.data);
  if (r.dtype() == DType::f32) {
    const float* src = r.data<float>();
    for (int64_t y = 0; y < rows; ++y) std::memcpy(dst + y * stride, src + y * w, static_cast<size_t>(w) * element);
    return;
  }
  const int64_t* src = r.data<int64_t>();
  for (int64_t y = 0; y < rows; ++y) {
    uint8_t* row = dst + y * stride;
    if (element == 1) {
      for (int64_t x = 0; x < w; ++x) row[x] = static_cast<uint8_t>(src[y * w + x]);
    } else {
      for (int64_t x = 0; x < w; ++x) {
        const int32_t id = static_cast<int32_t>(src[y * w + x]);
        std::memcpy(row + x * 4, &id, 4);
      }
    }
  }
}

// Checks every image and output, then runs the images in one predict_batch
// per kind of output (labels, logits, probabilities) and writes the results.
void predict_into(const cudaseg_session* session, const cudaseg_image* images, const cudaseg_output* outputs,
                  size_t count, bool batch) {
  const std::shared_ptr<InferenceSession> s = live(session);
  require(count == 0 || (images != nullptr && outputs != nullptr), "images and outputs must not be NULL");
  std::vector<Tensor> tensors(count);
  for (size_t i = 0; i < count; ++i) {
    const std::string index = batch ? "[" + std::to_string(i) + "]" : "";
    tensors[i] = image_tensor(&images[i], "image" + index);
    check_output(&outputs[i], "output" + index, images[i].width, images[i].height, s->num_classes());
  }
  for (const PredictOutput kind : {PredictOutput::labels, PredictOutput::logits, PredictOutput::probabilities}) {
    std::vector<size_t> members;
    std::vector<Tensor> inputs;
    for (size_t i = 0; i < count; ++i)
      if (output_of(outputs[i].kind) == kind) members.push_back(i), inputs.push_back(tensors[i]);
    if (members.empty()) continue;
    const std::vector<Tensor> results = s->predict_batch(inputs, kind);
    for (size_t k = 0; k < members.size(); ++k) write_output(results[k], outputs[members[k]]);
  }
}

// Whether field `f` lies wholly within the caller's `size` bytes.
#define CUDASEG_OPTION_GIVEN(f, size) (offsetof(cudaseg_options, f) + sizeof(cudaseg_options::f) <= (size))

// Room for the fields later v1 headers may add.
constexpr size_t kMaxOptionsSize = 1024;

// The caller's options with the fields its struct lacks at their defaults.
cudaseg_options read_options(const cudaseg_options* given) {
  cudaseg_options o;
  cudaseg_options_init(&o, sizeof o);
  if (given == nullptr) return o;
  const size_t size = given->struct_size;
  require(size >= sizeof(size_t), "options->struct_size is " + std::to_string(size) +
                                      "; set it with cudaseg_options_init(&options, sizeof options)");
  // A size far beyond any layout is an uninitialised field, whose bytes must not be scanned.
  require(size <= kMaxOptionsSize, "options->struct_size is " + std::to_string(size) +
                                       ", no cudaseg_options is that large; set it with cudaseg_options_init");
  if (size > sizeof o) {
    // A newer header's struct: fine while its newer fields are left at zero.
    const auto* bytes = reinterpret_cast<const unsigned char*>(given);
    require(std::all_of(bytes + sizeof o, bytes + size, [](unsigned char b) { return b == 0; }),
            "options->struct_size is " + std::to_string(size) + " (this library knows " + std::to_string(sizeof o) +
                " bytes) and the fields beyond are set: options of a newer cudaseg");
  }
#define CUDASEG_COPY_OPTION(f) \
  if (CUDASEG_OPTION_GIVEN(f, size)) o.f = given->f
  CUDASEG_COPY_OPTION(device);
  CUDASEG_COPY_OPTION(precision);
  CUDASEG_COPY_OPTION(input_height);
  CUDASEG_COPY_OPTION(input_width);
  CUDASEG_COPY_OPTION(keep_size);
  CUDASEG_COPY_OPTION(fuse);
  CUDASEG_COPY_OPTION(cuda_graphs);
  CUDASEG_COPY_OPTION(tf32);
  CUDASEG_COPY_OPTION(num_threads);
  CUDASEG_COPY_OPTION(pad);
#undef CUDASEG_COPY_OPTION
  return o;
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
  require(int{fixed} + int{o.keep_size != 0} + int{o.pad != 0} <= 1,
          "input_height/input_width, keep_size and pad exclude each other");
  require(o.num_threads >= 0 && o.num_threads <= cudaseg::kMaxThreads,
          "num_threads must be 0 (the process's pool) to " + std::to_string(cudaseg::kMaxThreads) + ", got " +
              std::to_string(o.num_threads));
  if (fixed) {
    s.size_policy = SizePolicy::fixed;
    s.input_size = {o.input_height, o.input_width};
  } else if (o.keep_size) {
    s.size_policy = SizePolicy::keep;
  } else if (o.pad) {
    s.size_policy = SizePolicy::pad;
  }
  s.fuse = o.fuse != 0;
  s.cuda_graphs = o.cuda_graphs != 0;
  s.tf32 = o.tf32 != 0;
  s.num_threads = o.num_threads;
  return s;
}

// The C logging callback behind runtime/log.h's sink.
struct LogCallback {
  cudaseg_log_callback callback;
  void* user_data;
};

void forward_log(cudaseg::LogLevel level, const char* message, void* user_data) {
  const auto* c = static_cast<const LogCallback*>(user_data);
  c->callback(static_cast<int32_t>(level), message, c->user_data);
}

std::mutex& log_callback_mutex() {
  static auto* mutex = new std::mutex;
  return *mutex;
}

std::unique_ptr<LogCallback>& log_callback() {
  // Leaked: a thread may log while static destructors run.
  static auto* current = new std::unique_ptr<LogCallback>;
  return *current;
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

uint32_t cudaseg_api_version(void) { return CUDASEG_API_VERSION; }

const char* cudaseg_last_error(void) { return t_last_error.c_str(); }

const char* cudaseg_status_string(cudaseg_status status) {
  switch (status) {
    case CUDASEG_OK: return "ok";
    case CUDASEG_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case CUDASEG_ERROR_FAILED: return "failed";
    case CUDASEG_ERROR_OUT_OF_MEMORY: return "out of memory";
    case CUDASEG_ERROR_INTERNAL: return "internal error";
    case CUDASEG_ERROR_BUFFER_TOO_SMALL: return "buffer too small";
  }
  return "unknown status";
}

void cudaseg_options_init(cudaseg_options* options, size_t struct_size) {
  if (!options || struct_size < sizeof(size_t)) return;
  cudaseg_options d;
  d.struct_size = struct_size;
  d.device = "cpu";
  d.precision = "fp32";
  d.input_height = 0;
  d.input_width = 0;
  d.keep_size = 0;
  d.fuse = 1;
  d.cuda_graphs = 1;
  d.tf32 = 0;
  d.num_threads = 0;
  d.pad = 0;
  // Whole fields only, and nothing past the caller's struct.
#define CUDASEG_INIT_OPTION(f) \
  if (CUDASEG_OPTION_GIVEN(f, struct_size)) options->f = d.f
  options->struct_size = struct_size;
  CUDASEG_INIT_OPTION(device);
  CUDASEG_INIT_OPTION(precision);
  CUDASEG_INIT_OPTION(input_height);
  CUDASEG_INIT_OPTION(input_width);
  CUDASEG_INIT_OPTION(keep_size);
  CUDASEG_INIT_OPTION(fuse);
  CUDASEG_INIT_OPTION(cuda_graphs);
  CUDASEG_INIT_OPTION(tf32);
  CUDASEG_INIT_OPTION(num_threads);
  CUDASEG_INIT_OPTION(pad);
#undef CUDASEG_INIT_OPTION
  if (struct_size > sizeof d)
    std::memset(reinterpret_cast<unsigned char*>(options) + sizeof d, 0, struct_size - sizeof d);
}

cudaseg_status cudaseg_session_create(const char* weights_path, const cudaseg_options* options,
                                      cudaseg_session** out) {
  if (out) *out = nullptr;
  return guarded(__func__, [&] {
    require(out != nullptr, "out is NULL");
    require(weights_path != nullptr, "weights_path is NULL");
    const cudaseg::infer::SessionOptions o = session_options(read_options(options));
    *out = live_sessions().add(std::make_shared<InferenceSession>(InferenceSession::load(weights_path, o)));
  });
}

cudaseg_status cudaseg_session_destroy(cudaseg_session* session) {
  if (!session) return CUDASEG_OK;
  return guarded(__func__, [&] { require(live_sessions().remove(session) != nullptr, kNotLive); });
}

cudaseg_status cudaseg_predict(cudaseg_session* session, const cudaseg_image* image, const cudaseg_output* output) {
  return guarded(__func__, [&] {
    require(image != nullptr, "image is NULL");
    require(output != nullptr, "output is NULL");
    predict_into(session, image, output, 1, false);
  });
}

cudaseg_status cudaseg_predict_batch(cudaseg_session* session, const cudaseg_image* images,
                                     const cudaseg_output* outputs, size_t count) {
  return guarded(__func__, [&] { predict_into(session, images, outputs, count, true); });
}

int cudaseg_num_classes(const cudaseg_session* session) {
  int classes = -1;
  guarded(__func__, [&] { classes = static_cast<int>(live(session)->num_classes()); });
  return classes;
}

cudaseg_status cudaseg_input_size(const cudaseg_session* session, int32_t* height, int32_t* width) {
  return guarded(__func__, [&] {
    const std::shared_ptr<InferenceSession> s = live(session);
    require(height != nullptr && width != nullptr, "height and width must not be NULL");
    // A resizing session gives every image the same size; the others follow the image.
    const auto size = s->fit() == "resize" ? s->input_size_for(1, 1) : std::array<int64_t, 2>{0, 0};
    *height = static_cast<int32_t>(size[0]);
    *width = static_cast<int32_t>(size[1]);
  });
}

cudaseg_status cudaseg_size_divisor(const cudaseg_session* session, int32_t* divisor) {
  return guarded(__func__, [&] {
    const std::shared_ptr<InferenceSession> s = live(session);
    require(divisor != nullptr, "divisor is NULL");
    *divisor = static_cast<int32_t>(s->size_divisor());
  });
}

cudaseg_status cudaseg_class_name(const cudaseg_session* session, int32_t index, char* out, size_t out_size,
                                  size_t* length) {
  return guarded(__func__, [&] {
    const std::shared_ptr<InferenceSession> s = live(session);
    require(index >= 0 && index < s->num_classes(), "class index " + std::to_string(index) + " is not in 0.." +
                                                        std::to_string(s->num_classes() - 1));
    require(out != nullptr || out_size == 0, "out is NULL with out_size " + std::to_string(out_size));
    const std::vector<std::string>& names = s->info().class_names;
    const std::string name = static_cast<size_t>(index) < names.size() ? names[static_cast<size_t>(index)] : "";
    if (length) *length = name.size();
    if (out == nullptr) return;
    if (out_size <= name.size())
      throw InvalidArgument{"class " + std::to_string(index) + "'s name '" + name + "' needs " +
                                std::to_string(name.size() + 1) + " bytes, out_size is " + std::to_string(out_size),
                            CUDASEG_ERROR_BUFFER_TOO_SMALL};
    std::memcpy(out, name.c_str(), name.size() + 1);
  });
}

cudaseg_status cudaseg_palette(const cudaseg_session* session, uint8_t* rgb_out, size_t size) {
  return guarded(__func__, [&] {
    const std::shared_ptr<InferenceSession> s = live(session);
    require(rgb_out != nullptr, "rgb_out is NULL");
    const size_t needed = 3 * static_cast<size_t>(s->num_classes());
    if (size < needed)
      throw InvalidArgument{"the palette of " + std::to_string(s->num_classes()) + " classes needs " +
                                std::to_string(needed) + " bytes, size is " + std::to_string(size),
                            CUDASEG_ERROR_BUFFER_TOO_SMALL};
    const auto& own = s->info().palette;
    const cudaseg::infer::Palette palette = static_cast<int64_t>(own.size()) == s->num_classes()
                                                ? own
                                                : cudaseg::infer::default_palette(s->num_classes());
    for (size_t c = 0; c < palette.size(); ++c) std::memcpy(rgb_out + 3 * c, palette[c].data(), 3);
  });
}

cudaseg_status cudaseg_set_log_callback(cudaseg_log_callback callback, void* user_data) {
  return guarded(__func__, [&] {
    const std::lock_guard<std::mutex> lock(log_callback_mutex());
    std::unique_ptr<LogCallback> next = callback ? std::make_unique<LogCallback>(LogCallback{callback, user_data})
                                                 : nullptr;
    cudaseg::set_log_sink(next ? forward_log : nullptr, next.get());
    // The sink no longer runs the previous callback: its record can go.
    log_callback() = std::move(next);
  });
}

cudaseg_status cudaseg_set_log_level(int32_t level) {
  return guarded(__func__, [&] {
    require(level >= CUDASEG_LOG_DEBUG && level <= CUDASEG_LOG_OFF,
            "log level " + std::to_string(level) + " is not CUDASEG_LOG_DEBUG (0) .. CUDASEG_LOG_OFF (4)");
    cudaseg::set_log_level(static_cast<cudaseg::LogLevel>(level));
  });
}

cudaseg_status cudaseg_release_cached_memory(void) {
  return guarded(__func__, [&] {
    cudaseg::cpu_cache_empty();
    cudaseg::gpu::empty_cache();
#if defined(__GLIBC__)
    // Freed blocks below glibc's (adaptive) mmap threshold stay in its heap
    // and its per-thread arenas until trimmed.
    malloc_trim(0);
#endif
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

cudaseg_status cudaseg_write_png(const char* path, const uint8_t* pixels, size_t size, int width, int height,
                                 size_t row_stride, int channels) {
  return guarded(__func__, [&] {
    require(path != nullptr, "path is NULL");
    require(pixels != nullptr, "pixels is NULL");
    require_size(width, height, "pixels");
    require(channels >= 1 && channels <= 4, "channels must be 1, 2, 3 or 4, got " + std::to_string(channels));
    const size_t row_bytes = static_cast<size_t>(width) * static_cast<size_t>(channels);
    require_span("pixels", size, static_cast<size_t>(height), row_bytes, row_stride);
    const size_t stride = row_stride == 0 ? row_bytes : row_stride;
    Tensor image = Tensor::empty({height, width, channels}, DType::u8);
    auto* dst = static_cast<uint8_t*>(image.raw_data());
    for (size_t y = 0; y < static_cast<size_t>(height); ++y)
      std::memcpy(dst + y * row_bytes, pixels + y * stride, row_bytes);
    cudaseg::write_png(path, channels == 1 ? image.view({height, width}) : image);
  });
}

void cudaseg_free(void* ptr) { std::free(ptr); }

}  // extern "C"
