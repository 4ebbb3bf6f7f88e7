/* cudaseg_c.h: the C API of cudaseg, for embedding from C and through FFI.
 *
 *   cudaseg_options o;
 *   cudaseg_options_init(&o);
 *   cudaseg_session* s;
 *   if (cudaseg_session_create("stdc1.json", &o, &s) != CUDASEG_OK)
 *     fprintf(stderr, "%s\n", cudaseg_last_error());
 *   int32_t* labels = malloc(sizeof(int32_t) * width * height);
 *   cudaseg_predict(s, rgb, width, height, labels);
 *   cudaseg_session_destroy(s);
 *
 * A session wraps the C++ infer::InferenceSession (infer/session.h): it
 * loads a checkpoint (NAME.json + NAME.bin), prepares the net once and then
 * segments images. Every function catches all exceptions at the boundary:
 * none crosses into C. A failing function returns a status other than
 * CUDASEG_OK and sets this thread's last-error message. Different sessions
 * may be used from different threads at once; one session must not be used
 * by two threads at the same time.
 */
#ifndef CUDASEG_C_H
#define CUDASEG_C_H

#include <stdint.h>

#include "cudaseg_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cudaseg_status {
  CUDASEG_OK = 0,
  CUDASEG_ERROR_INVALID_ARGUMENT = 1, /* a null pointer, a size out of range, an unknown option value */
  CUDASEG_ERROR_FAILED = 2,           /* the library reported an error: unreadable file, corrupt checkpoint,
                                         unknown net, a device that is not there, ... */
  CUDASEG_ERROR_OUT_OF_MEMORY = 3,    /* host or device memory ran out */
  CUDASEG_ERROR_INTERNAL = 4          /* any other failure (a bug: please report the message) */
} cudaseg_status;

/* An opaque loaded and prepared checkpoint. */
typedef struct cudaseg_session cudaseg_session;

/* How a session runs. Fill with cudaseg_options_init(), then change fields;
 * fields added in later versions keep their defaults that way. */
typedef struct cudaseg_options {
  const char* device;    /* "cpu" (default), "cuda" or "cuda:N"; NULL means "cpu" */
  const char* precision; /* "fp32" (default), "fp16" or "bf16" (these two need CUDA); NULL means "fp32" */
  /* The net's input size. Both 0 (default): the checkpoint's preprocessing
   * decides (its fit: a resize to its input size, or each image padded bottom
   * and right to the net's size divisor and the logits cropped back, so that
   * any image size runs). Both > 0: every image is resized to
   * input_height x input_width. */
  int input_height;
  int input_width;
  int keep_size; /* nonzero: run every image at its own size (excludes input_height/input_width) */
  int fuse;      /* nonzero (default): fold BatchNorm and fuse activations; 0: the plain module forward */
  int cuda_graphs; /* nonzero (default): on CUDA, capture the forward per input size in a CUDA graph and replay it */
  int tf32;        /* nonzero: on CUDA, TF32 tensor-core maths in float32 convolutions and matrix products (faster,
                      about 1e-3 relative error); 0 (default): float32 results match the CPU's */
} cudaseg_options;

/* The library version, "MAJOR.MINOR.PATCH". The string is static. */
CUDASEG_API const char* cudaseg_version(void);

/* The message of the most recent failure on the calling thread, or "" when
 * no call on this thread has failed. Successful calls leave it unchanged. The
 * string stays valid until the next failing call on the same thread. */
CUDASEG_API const char* cudaseg_last_error(void);

/* A short static name of a status ("ok", "invalid argument", ...). */
CUDASEG_API const char* cudaseg_status_string(cudaseg_status status);

/* Sets every field of *options to its default (see cudaseg_options). A null
 * pointer is ignored. */
CUDASEG_API void cudaseg_options_init(cudaseg_options* options);

/* Loads the checkpoint weights_path (NAME.json, or the bare NAME), builds its
 * net, loads the tensors strictly and prepares the net on the device.
 * options may be NULL for the defaults. On success *out holds a new session
 * to release with cudaseg_session_destroy(); on failure *out is NULL. */
CUDASEG_API cudaseg_status cudaseg_session_create(const char* weights_path, const cudaseg_options* options,
                                                  cudaseg_session** out);

/* Releases a session and everything it holds (once a predict running on
 * another thread returns). A null pointer is ignored (CUDASEG_OK). A handle
 * is never reused: destroying it twice, or passing a pointer that
 * cudaseg_session_create did not return, is CUDASEG_ERROR_INVALID_ARGUMENT,
 * and so is any later call with a destroyed handle. */
CUDASEG_API cudaseg_status cudaseg_session_destroy(cudaseg_session* session);

/* The number of classes the session predicts (label ids are 0 .. n-1), or -1
 * (with the last error set) for a null or destroyed session. */
CUDASEG_API int cudaseg_num_classes(const cudaseg_session* session);

/* Segments one image. rgb: height x width x 3 bytes, rows top to bottom,
 * pixels R, G, B, no padding between rows. labels_out: caller-allocated,
 * width * height int32 values, filled row by row with the class id of each
 * pixel at the image's own size (the checkpoint's preprocessing, the net,
 * the logits cropped or resized bilinearly back to the image size, argmax). */
CUDASEG_API cudaseg_status cudaseg_predict(cudaseg_session* session, const uint8_t* rgb, int width, int height,
                                           int32_t* labels_out);

/* Reads a PNG, JPEG or BMP file as RGB. On success *rgb_out points to
 * width * height * 3 bytes (layout as cudaseg_predict takes them) that the
 * caller releases with cudaseg_free(). */
CUDASEG_API cudaseg_status cudaseg_read_image(const char* path, uint8_t** rgb_out, int* width, int* height);

/* Writes width x height pixels of 1 (grey), 2 (grey, alpha), 3 (RGB) or 4 (RGBA) bytes each,
 * rows top to bottom, as a PNG file (written atomically). */
CUDASEG_API cudaseg_status cudaseg_write_png(const char* path, const uint8_t* pixels, int width, int height, int channels);

/* Releases memory that a cudaseg function allocated. A null pointer is ignored. */
CUDASEG_API void cudaseg_free(void* ptr);

#ifdef __cplusplus
}
#endif

#endif /* CUDASEG_C_H */
