/* cudaseg_c.h: the C API of cudaseg (v1), for embedding from C and through FFI.
 *
 *   cudaseg_options o;
 *   cudaseg_options_init(&o, sizeof o);
 *   cudaseg_session* s;
 *   if (cudaseg_session_create("stdc1.json", &o, &s) != CUDASEG_OK)
 *     fprintf(stderr, "%s\n", cudaseg_last_error());
 *   cudaseg_image in = {rgb, rgb_bytes, width, height, 0, CUDASEG_FORMAT_RGB};
 *   cudaseg_output out = {labels, labels_bytes, 0, CUDASEG_OUTPUT_LABELS_I32};
 *   cudaseg_predict(s, &in, &out);
 *   cudaseg_session_destroy(s);
 *
 * A session wraps the C++ infer::InferenceSession (infer/session.h): it
 * loads a checkpoint (NAME.json + NAME.bin), prepares the net once and then
 * segments images of any size (padded to the net's size divisor and cropped
 * back, or resized, as the checkpoint says; outputs always come at the
 * image's own size).
 *
 * Errors. Every function catches all exceptions at the boundary: none
 * crosses into C, and the library never exits or aborts the process. A
 * failing function returns a status other than CUDASEG_OK and sets the
 * calling thread's last-error message (cudaseg_last_error()), which names
 * the function and the reason.
 *
 * Buffers. Every buffer comes with its length in bytes, and image rows with
 * their stride in bytes: a buffer shorter than the call needs is refused
 * (CUDASEG_ERROR_BUFFER_TOO_SMALL) before a byte is read or written.
 *
 * Ownership and lifetimes. The library never keeps a pointer the caller
 * passed in after the call returns, and never frees caller memory. Memory the
 * library allocates for the caller (cudaseg_read_image) is released with
 * cudaseg_free(). Strings returned as const char* are static, except
 * cudaseg_last_error()'s (see there). A session handle is an id, not an
 * address: it stays invalid after cudaseg_session_destroy() and is never
 * handed out again, so a double destroy or a use after destroy is
 * CUDASEG_ERROR_INVALID_ARGUMENT, never undefined behaviour.
 *
 * Threads. Every function may be called from any thread. A session may be
 * shared between threads: concurrent calls on one session are safe; their
 * forwards run one at a time (the net's memory plans belong to the session),
 * while their pre- and post-processing overlap. For parallel forwards use one
 * session per thread. Destroying a session while another thread's call on it
 * runs is safe: the session is released when that call returns, and later
 * calls with the handle fail. The logging callback and level are process-wide.
 *
 * Versions. CUDASEG_API_VERSION_* give the version of this header;
 * cudaseg_api_version() the library's. Within a major version, functions and
 * structs are only added to (new options fields at the end of
 * cudaseg_options, found through its struct_size), never changed.
 */
#ifndef CUDASEG_C_H
#define CUDASEG_C_H

#include <stddef.h>
#include <stdint.h>

#define CUDASEG_API_VERSION_MAJOR 1
#define CUDASEG_API_VERSION_MINOR 0
#define CUDASEG_API_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH, the form cudaseg_api_version() returns. */
#define CUDASEG_API_VERSION \
  (CUDASEG_API_VERSION_MAJOR * 10000 + CUDASEG_API_VERSION_MINOR * 100 + CUDASEG_API_VERSION_PATCH)

#include "cudaseg_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cudaseg_status {
  CUDASEG_OK = 0,
  CUDASEG_ERROR_INVALID_ARGUMENT = 1,   /* a null pointer, a size out of range, an unknown option value, a
                                           session that is not live (destroyed, or never created) */
  CUDASEG_ERROR_FAILED = 2,             /* the library reported an error: unreadable file, corrupt checkpoint,
                                           unknown net, a device that is not there, ... */
  CUDASEG_ERROR_OUT_OF_MEMORY = 3,      /* host or device memory ran out (classified by the allocation that
                                           failed, not by message text) */
  CUDASEG_ERROR_INTERNAL = 4,           /* any other failure (a bug: please report the message) */
  CUDASEG_ERROR_BUFFER_TOO_SMALL = 5    /* a caller's buffer is shorter than the call needs (the message says
                                           how many bytes it needs) */
} cudaseg_status;

/* An opaque loaded and prepared checkpoint. */
typedef struct cudaseg_session cudaseg_session;

/* How a session runs. Fill with cudaseg_options_init(&o, sizeof o), then
 * change fields. struct_size tells the library which fields the caller's
 * struct has: a program built against an older header passes a smaller
 * struct, and the fields it lacks take their defaults; a larger struct from
 * a newer header is accepted when the fields this library does not know are
 * all zero. */
typedef struct cudaseg_options {
  size_t struct_size;    /* sizeof the caller's cudaseg_options; set by cudaseg_options_init */
  const char* device;    /* "cpu" (default), "cuda" or "cuda:N"; NULL means "cpu" */
  const char* precision; /* "fp32" (default), "fp16" or "bf16" (these two need CUDA); NULL means "fp32" */
  /* The net's input size. Both 0 (default): the checkpoint's preprocessing
   * decides (its fit: a resize to its input size, or each image padded bottom
   * and right to the net's size divisor and the logits cropped back, so that
   * any image size runs). Both > 0: every image is resized to
   * input_height x input_width. */
  int input_height;
  int input_width;
  int keep_size;   /* nonzero: run every image at its own size (excludes input_height/input_width and pad) */
  int fuse;        /* nonzero (default): fold BatchNorm and fuse activations; 0: the plain module forward */
  int cuda_graphs; /* nonzero (default): on CUDA, capture the forward per input size in a CUDA graph and replay it */
  int tf32;        /* nonzero: on CUDA, TF32 tensor-core maths in float32 convolutions and matrix products (faster,
                      about 1e-3 relative error); 0 (default): float32 results match the CPU's */
  int num_threads; /* CPU threads this session's kernels use; 0 (default): the process's pool (CUDASEG_NUM_THREADS,
                      else every hardware thread). The pool is shared: more than its size gives its size */
  int pad;         /* nonzero: pad every image to the net's size divisor, whatever the checkpoint's fit says */
} cudaseg_options;

/* Pixel layouts of an input image. */
typedef enum cudaseg_format {
  CUDASEG_FORMAT_RGB = 0,     /* uint8, 3 bytes per pixel, rows top to bottom */
  CUDASEG_FORMAT_BGR = 1,     /* uint8, 3 bytes per pixel */
  CUDASEG_FORMAT_RGBA = 2,    /* uint8, 4 bytes per pixel; alpha ignored */
  CUDASEG_FORMAT_BGRA = 3,    /* uint8, 4 bytes per pixel; alpha ignored */
  CUDASEG_FORMAT_GRAY = 4,    /* uint8, 1 byte per pixel, taken as R = G = B */
  CUDASEG_FORMAT_NCHW_F32 = 5 /* float32, 3 planes of height rows: already preprocessed (normalised as the
                                 checkpoint's preprocessing does, planes in its channel order); fitted to the
                                 net (padded or resized) as an image is */
} cudaseg_format;

/* One input image. The caller owns data; it is only read during the call. */
typedef struct cudaseg_image {
  const void* data;  /* the first pixel of the first row */
  size_t size;       /* bytes readable from data */
  int32_t width;     /* pixels per row, > 0 */
  int32_t height;    /* rows, > 0 */
  size_t row_stride; /* bytes from one row's start to the next's (for NCHW_F32, within a plane; planes follow
                        each other every height * row_stride bytes); 0: rows packed without padding */
  int32_t format;    /* a cudaseg_format */
} cudaseg_image;

/* What a prediction writes, always at the input image's size (width x height). */
typedef enum cudaseg_output_kind {
  CUDASEG_OUTPUT_LABELS_I32 = 0,       /* int32 class id per pixel, height rows */
  CUDASEG_OUTPUT_LABELS_U8 = 1,        /* uint8 class id per pixel (nets of at most 256 classes) */
  CUDASEG_OUTPUT_LOGITS_F32 = 2,       /* float32, num_classes planes of height rows: the net's logits resized
                                          bilinearly to the image */
  CUDASEG_OUTPUT_PROBABILITIES_F32 = 3 /* float32, as LOGITS_F32 after a softmax over the classes */
} cudaseg_output_kind;

/* Where one prediction goes. The caller owns data; it is only written during the call. */
typedef struct cudaseg_output {
  void* data;        /* the first element of the first row */
  size_t size;       /* bytes writable from data */
  size_t row_stride; /* bytes from one row's start to the next's (planes of LOGITS/PROBABILITIES follow each other
                        every height * row_stride bytes); 0: rows packed. Bytes between rows are left untouched */
  int32_t kind;      /* a cudaseg_output_kind */
} cudaseg_output;

/* The library version, "MAJOR.MINOR.PATCH". The string is static. */
CUDASEG_API const char* cudaseg_version(void);

/* The C API version of the library: MAJOR * 10000 + MINOR * 100 + PATCH.
 * A program built with a header of the same major version and an equal or
 * lower minor version works with it. */
CUDASEG_API uint32_t cudaseg_api_version(void);

/* The message of the most recent failure on the calling thread, or "" when
 * no call on this thread has failed. Successful calls leave it unchanged. The
 * string stays valid until the next failing call on the same thread. */
CUDASEG_API const char* cudaseg_last_error(void);

/* A short static name of a status ("ok", "invalid argument", ...). */
CUDASEG_API const char* cudaseg_status_string(cudaseg_status status);

/* Sets every field of *options that fits in struct_size bytes to its
 * default, and options->struct_size to struct_size (pass sizeof *options).
 * A null pointer, or a struct_size too small to hold struct_size itself, is
 * ignored. */
CUDASEG_API void cudaseg_options_init(cudaseg_options* options, size_t struct_size);

/* Loads the checkpoint weights_path (NAME.json, or the bare NAME), builds its
 * net, loads the tensors strictly and prepares the net on the device.
 * options may be NULL for the defaults. On success *out holds a new session
 * to release with cudaseg_session_destroy(); on failure *out is NULL. */
CUDASEG_API cudaseg_status cudaseg_session_create(const char* weights_path, const cudaseg_options* options,
                                                  cudaseg_session** out);

/* Releases a session and everything it holds (once calls running on other
 * threads return). A null pointer is ignored (CUDASEG_OK). Destroying a
 * handle twice, or passing a pointer that cudaseg_session_create did not
 * return, is CUDASEG_ERROR_INVALID_ARGUMENT, and so is any later call with a
 * destroyed handle. Memory the session used may stay cached for the next
 * session: cudaseg_release_cached_memory() returns it. */
CUDASEG_API cudaseg_status cudaseg_session_destroy(cudaseg_session* session);

/* Segments one image into one output (see cudaseg_image, cudaseg_output). */
CUDASEG_API cudaseg_status cudaseg_predict(cudaseg_session* session, const cudaseg_image* image,
                                           const cudaseg_output* output);

/* Segments count images, images[i] into outputs[i]; images of any sizes and
 * formats, those that reach the net at the same size run as one batch. Every
 * image and output is checked before any runs: on failure no output was
 * written, except after CUDASEG_ERROR_OUT_OF_MEMORY, FAILED or INTERNAL, when
 * outputs may be partly written. */
CUDASEG_API cudaseg_status cudaseg_predict_batch(cudaseg_session* session, const cudaseg_image* images,
                                                 const cudaseg_output* outputs, size_t count);

/* ---- What the session's model needs and gives ---- */

/* The number of classes the session predicts (label ids are 0 .. n-1), or -1
 * (with the last error set) for a null or destroyed session. */
CUDASEG_API int cudaseg_num_classes(const cudaseg_session* session);

/* The size every image is resized to before the net (the checkpoint's input
 * size, or the options'), or 0 x 0 when the session takes any size (padding
 * to the size divisor, or none). */
CUDASEG_API cudaseg_status cudaseg_input_size(const cudaseg_session* session, int32_t* height, int32_t* width);

/* The multiple the net needs its input's height and width to be (1: any);
 * images are padded to it when the session pads. */
CUDASEG_API cudaseg_status cudaseg_size_divisor(const cudaseg_session* session, int32_t* divisor);

/* Copies the name of class `index` (0 .. num_classes-1) into out as a
 * NUL-terminated string ("" when the checkpoint names no classes) and sets
 * *length (when not NULL) to its length without the NUL. With out NULL and
 * out_size 0 only *length is set. A shorter out is
 * CUDASEG_ERROR_BUFFER_TOO_SMALL (*length still set, out untouched). */
CUDASEG_API cudaseg_status cudaseg_class_name(const cudaseg_session* session, int32_t index, char* out,
                                              size_t out_size, size_t* length);

/* Writes num_classes RGB triples (3 * num_classes bytes) into rgb_out: the
 * checkpoint's palette, else the default one (Cityscapes' for 19 classes,
 * generated colours otherwise). */
CUDASEG_API cudaseg_status cudaseg_palette(const cudaseg_session* session, uint8_t* rgb_out, size_t size);

/* ---- Process-wide settings ---- */

typedef enum cudaseg_log_level {
  CUDASEG_LOG_DEBUG = 0,
  CUDASEG_LOG_INFO = 1,
  CUDASEG_LOG_WARN = 2,
  CUDASEG_LOG_ERROR = 3,
  CUDASEG_LOG_OFF = 4
} cudaseg_log_level;

/* Receives the library's log messages (level a cudaseg_log_level; message
 * valid during the call only). */
typedef void (*cudaseg_log_callback)(int32_t level, const char* message, void* user_data);

/* Sends the log messages of the whole process (every session, every thread)
 * to callback instead of stderr; NULL goes back to stderr. The callback is
 * called one message at a time, from whichever thread logs, and must not
 * call cudaseg functions (the library holds its log lock while the callback
 * runs). Once this call returns, the previous callback is no longer running
 * and its user_data may be released. */
CUDASEG_API cudaseg_status cudaseg_set_log_callback(cudaseg_log_callback callback, void* user_data);

/* The lowest level logged, for the whole process (default: CUDASEG_LOG_LEVEL
 * from the environment, else INFO). */
CUDASEG_API cudaseg_status cudaseg_set_log_level(int32_t level);

/* Returns the memory that the library caches for reuse to the system: the
 * host block cache (large tensors' blocks kept after they are freed), the
 * C library's free heap, and on CUDA the device blocks no tensor holds.
 * Memory that live sessions use stays. Safe to call at any time. */
CUDASEG_API cudaseg_status cudaseg_release_cached_memory(void);

/* ---- Image files ---- */

/* Reads a PNG, JPEG or BMP file (a regular file: directories and devices are
 * refused) as RGB. On success *rgb_out points to width * height * 3 bytes
 * (packed CUDASEG_FORMAT_RGB) that the caller releases with cudaseg_free(). */
CUDASEG_API cudaseg_status cudaseg_read_image(const char* path, uint8_t** rgb_out, int* width, int* height);

/* Writes width x height pixels of 1 (grey), 2 (grey, alpha), 3 (RGB) or 4
 * (RGBA) bytes each, rows top to bottom row_stride bytes apart (0: packed),
 * from the size bytes at pixels, as a PNG file (written atomically: on
 * failure no partial file or temporary file is left). */
CUDASEG_API cudaseg_status cudaseg_write_png(const char* path, const uint8_t* pixels, size_t size, int width,
                                             int height, size_t row_stride, int channels);

/* Releases memory that a cudaseg function allocated. A null pointer is ignored. */
CUDASEG_API void cudaseg_free(void* ptr);

#ifdef __cplusplus
}
#endif

#endif /* CUDASEG_C_H */
