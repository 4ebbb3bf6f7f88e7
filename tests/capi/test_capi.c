/* The C API from C: every misuse that issue 23 reproduced (short buffers,
 * double destroy, use after destroy, threads sharing a session, read_image on
 * a directory and /dev/zero, write_png's failed rename, out of memory) ends in
 * a documented status and message; the formats, outputs, batch call,
 * queries, options struct sizes, logging and the cache release do what
 * cudaseg_c.h says. Compiled as C; run by ctest plainly and under valgrind.
 *
 *   test_capi [TEST_NAME]   (no name: every test) */
#define _POSIX_C_SOURCE 200809L
#include <cudaseg_c.h>

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* tests/capi/fixture.cpp */
int capi_fixture_checkpoint(const char* path, int num_classes);

static int g_failures = 0;
static char g_dir[256];
static char g_weights[300];

#define CHECK(cond)                                                                                     \
  do {                                                                                                  \
    if (!(cond)) {                                                                                      \
      fprintf(stderr, "%s:%d: CHECK(%s) failed (last error: %s)\n", __FILE__, __LINE__, #cond,          \
              cudaseg_last_error());                                                                    \
      ++g_failures;                                                                                     \
    }                                                                                                   \
  } while (0)

#define CHECK_STATUS(call, expected)                                                                    \
  do {                                                                                                  \
    const cudaseg_status check_status_ = (call);                                                        \
    if (check_status_ != (expected)) {                                                                  \
      fprintf(stderr, "%s:%d: %s returned %s, expected %s (last error: %s)\n", __FILE__, __LINE__,      \
              #call, cudaseg_status_string(check_status_), cudaseg_status_string(expected),             \
              cudaseg_last_error());                                                                    \
      ++g_failures;                                                                                     \
    }                                                                                                   \
  } while (0)

#define CHECK_MENTIONS(text) CHECK(strstr(cudaseg_last_error(), (text)) != NULL)

static int under_valgrind(void) { return getenv("CUDASEG_UNDER_VALGRIND") != NULL; }

/* A photo-like RGB image: gradients the net gives structure to. */
static uint8_t* make_rgb(int width, int height, int seed) {
  uint8_t* p = malloc((size_t)width * (size_t)height * 3);
  int x, y, c;
  for (y = 0; y < height; ++y)
    for (x = 0; x < width; ++x)
      for (c = 0; c < 3; ++c) p[((size_t)y * width + x) * 3 + c] = (uint8_t)((x * 3 + y * 5 + 70 * c + seed * 13) % 256);
  return p;
}

static cudaseg_image rgb_image(const uint8_t* rgb, int width, int height) {
  cudaseg_image im;
  im.data = rgb;
  im.size = (size_t)width * (size_t)height * 3;
  im.width = width;
  im.height = height;
  im.row_stride = 0;
  im.format = CUDASEG_FORMAT_RGB;
  return im;
}

static cudaseg_output output_of(void* data, size_t size, int32_t kind) {
  cudaseg_output out;
  out.data = data;
  out.size = size;
  out.row_stride = 0;
  out.kind = kind;
  return out;
}

static cudaseg_session* open_session(const cudaseg_options* options) {
  cudaseg_session* s = NULL;
  CHECK_STATUS(cudaseg_session_create(g_weights, options, &s), CUDASEG_OK);
  return s;
}

/* Labels of one RGB image, int32, packed. */
static int32_t* labels_of(cudaseg_session* s, const uint8_t* rgb, int width, int height) {
  const size_t bytes = (size_t)width * (size_t)height * sizeof(int32_t);
  int32_t* labels = malloc(bytes);
  cudaseg_image im = rgb_image(rgb, width, height);
  cudaseg_output out = output_of(labels, bytes, CUDASEG_OUTPUT_LABELS_I32);
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_OK);
  return labels;
}

static void test_version(void) {
  CHECK(cudaseg_api_version() == CUDASEG_API_VERSION);
  CHECK(CUDASEG_API_VERSION == CUDASEG_API_VERSION_MAJOR * 10000 + CUDASEG_API_VERSION_MINOR * 100 +
                                   CUDASEG_API_VERSION_PATCH);
  CHECK(CUDASEG_API_VERSION_MAJOR == 1);
  CHECK(strlen(cudaseg_version()) >= 5);
  CHECK(strcmp(cudaseg_status_string(CUDASEG_ERROR_BUFFER_TOO_SMALL), "buffer too small") == 0);
}

/* An options struct as a header of an older minor version declared it. */
typedef struct old_options {
  size_t struct_size;
  const char* device;
  const char* precision;
  int input_height;
  int input_width;
} old_options;

static void test_options_struct_size(void) {
  unsigned char buffer[sizeof(cudaseg_options) + 16];
  cudaseg_options* o = (cudaseg_options*)buffer;
  cudaseg_session* s = NULL;
  int32_t h = -1, w = -1;
  size_t i;

  /* init writes nothing past the size it is given */
  memset(buffer, 0xA5, sizeof buffer);
  cudaseg_options_init(o, sizeof(old_options));
  CHECK(o->struct_size == sizeof(old_options));
  CHECK(strcmp(o->device, "cpu") == 0);
  for (i = sizeof(old_options); i < sizeof buffer; ++i) CHECK(buffer[i] == 0xA5);

  /* An old, smaller struct: the fields it lacks are never read (they hold
   * 0xA5 garbage here, which as keep_size would conflict with the size). */
  ((old_options*)o)->input_height = 8;
  ((old_options*)o)->input_width = 12;
  CHECK_STATUS(cudaseg_session_create(g_weights, o, &s), CUDASEG_OK);
  CHECK_STATUS(cudaseg_input_size(s, &h, &w), CUDASEG_OK);
  CHECK(h == 8 && w == 12);
  CHECK_STATUS(cudaseg_session_destroy(s), CUDASEG_OK);

  /* The same fields in the full struct: the tail's garbage is read and refused. */
  o->struct_size = sizeof(cudaseg_options);
  CHECK_STATUS(cudaseg_session_create(g_weights, o, &s), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK(s == NULL);

  /* A newer, larger struct: accepted while its unknown tail is zero. */
  cudaseg_options_init(o, sizeof buffer);
  CHECK(o->struct_size == sizeof buffer && buffer[sizeof buffer - 1] == 0);
  CHECK_STATUS(cudaseg_session_create(g_weights, o, &s), CUDASEG_OK);
  CHECK_STATUS(cudaseg_session_destroy(s), CUDASEG_OK);
  buffer[sizeof buffer - 1] = 1;
  CHECK_STATUS(cudaseg_session_create(g_weights, o, &s), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_MENTIONS("options of a newer cudaseg");

  /* A struct whose size was never set. */
  cudaseg_options_init(o, sizeof(cudaseg_options));
  o->struct_size = 0;
  CHECK_STATUS(cudaseg_session_create(g_weights, o, &s), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_MENTIONS("struct_size");
  o->struct_size = (size_t)0x5a5a5a5a5a5a5a5aULL;
  CHECK_STATUS(cudaseg_session_create(g_weights, o, &s), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_MENTIONS("no cudaseg_options is that large");

  cudaseg_options_init(o, sizeof(cudaseg_options));
  o->num_threads = -1;
  CHECK_STATUS(cudaseg_session_create(g_weights, o, &s), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_MENTIONS("num_threads");
  cudaseg_options_init(o, sizeof(cudaseg_options));
  o->pad = 1;
  o->keep_size = 1;
  CHECK_STATUS(cudaseg_session_create(g_weights, o, &s), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_MENTIONS("exclude each other");
}

/* Issue 23: a labels buffer half the size overflowed the heap, an RGB buffer
 * a third of the size was read out of bounds with status 0. */
static void test_short_buffers(void) {
  const int width = 19, height = 11;
  const size_t pixels = (size_t)width * height;
  cudaseg_session* s = open_session(NULL);
  uint8_t* rgb = make_rgb(width, height, 1);
  int32_t* labels = malloc(pixels * sizeof(int32_t));
  float* logits = malloc(5 * pixels * sizeof(float));
  cudaseg_image im = rgb_image(rgb, width, height);
  cudaseg_output out = output_of(labels, pixels * sizeof(int32_t) / 2, CUDASEG_OUTPUT_LABELS_I32);
  size_t i;

  memset(labels, 0x77, pixels * sizeof(int32_t));
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_ERROR_BUFFER_TOO_SMALL);
  CHECK_MENTIONS("cudaseg_predict: output");
  CHECK_MENTIONS("need 836");
  for (i = 0; i < pixels; ++i) CHECK(labels[i] == 0x77777777);

  out.size = pixels * sizeof(int32_t);
  im.size = pixels; /* a third of the RGB bytes */
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_ERROR_BUFFER_TOO_SMALL);
  CHECK_MENTIONS("cudaseg_predict: image");
  im.size = pixels * 3 - 1;
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_ERROR_BUFFER_TOO_SMALL);

  /* A stride shorter than a row, or one the buffer cannot hold. */
  im.size = pixels * 3;
  im.row_stride = (size_t)width * 3 - 1;
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_MENTIONS("shorter than a row");
  im.row_stride = (size_t)width * 3 + 4;
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_ERROR_BUFFER_TOO_SMALL);
  im.row_stride = (size_t)-1 / 2;
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_ERROR_BUFFER_TOO_SMALL);
  CHECK_MENTIONS("more than fit in size_t");
  im.row_stride = 0;

  /* Logits need num_classes planes. */
  out = output_of(logits, 5 * pixels * sizeof(float) - 4, CUDASEG_OUTPUT_LOGITS_F32);
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_ERROR_BUFFER_TOO_SMALL);
  out.size += 4;
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_OK);

  /* Nulls, sizes and kinds. */
  CHECK_STATUS(cudaseg_predict(s, NULL, &out), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cudaseg_predict(s, &im, NULL), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cudaseg_predict(NULL, &im, &out), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_MENTIONS("session is NULL");
  im.data = NULL;
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_MENTIONS("image.data is NULL");
  im.data = rgb;
  im.width = 0;
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_MENTIONS("width and height must be positive");
  im.width = width;
  im.format = 99;
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_MENTIONS("unknown format 99");
  im.format = CUDASEG_FORMAT_RGB;
  out.kind = 7;
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_MENTIONS("unknown output kind 7");

  /* cudaseg_write_png checks its buffer the same way. */
  {
    char path[300];
    snprintf(path, sizeof path, "%s/short.png", g_dir);
    CHECK_STATUS(cudaseg_write_png(path, rgb, pixels * 3 - 1, width, height, 0, 3), CUDASEG_ERROR_BUFFER_TOO_SMALL);
    CHECK(access(path, F_OK) != 0);
  }

  free(logits);
  free(labels);
  free(rgb);
  CHECK_STATUS(cudaseg_session_destroy(s), CUDASEG_OK);
}

/* Row strides on input and output: padded rows give the packed result, and
 * the bytes between output rows stay untouched. */
static void test_strides(void) {
  const int width = 13, height = 9;
  const size_t in_stride = (size_t)width * 3 + 5, out_stride = (size_t)width * 4 + 8;
  cudaseg_session* s = open_session(NULL);
  uint8_t* rgb = make_rgb(width, height, 2);
  int32_t* packed = labels_of(s, rgb, width, height);
  uint8_t* padded_in = malloc(in_stride * height);
  uint8_t* padded_out = malloc(out_stride * height);
  cudaseg_image im;
  cudaseg_output out;
  int y;
  memset(padded_in, 0xEE, in_stride * height);
  for (y = 0; y < height; ++y) memcpy(padded_in + y * in_stride, rgb + (size_t)y * width * 3, (size_t)width * 3);
  memset(padded_out, 0xCC, out_stride * height);
  im = rgb_image(padded_in, width, height);
  im.row_stride = in_stride;
  im.size = in_stride * (height - 1) + (size_t)width * 3; /* the last row's padding need not exist */
  out = output_of(padded_out, out_stride * (height - 1) + (size_t)width * 4, CUDASEG_OUTPUT_LABELS_I32);
  out.row_stride = out_stride;
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_OK);
  for (y = 0; y < height; ++y) {
    CHECK(memcmp(padded_out + y * out_stride, packed + (size_t)y * width, (size_t)width * 4) == 0);
    if (y + 1 < height) CHECK(padded_out[y * out_stride + (size_t)width * 4] == 0xCC);
  }
  free(padded_out);
  free(padded_in);
  free(packed);
  free(rgb);
  CHECK_STATUS(cudaseg_session_destroy(s), CUDASEG_OK);
}

/* Every input format gives the labels of the same pixels in RGB; the float
 * NCHW input, normalised here as the checkpoint says, gives the same logits. */
static void test_formats(void) {
  const int width = 17, height = 10;
  const size_t pixels = (size_t)width * height;
  const double mean[3] = {0.5, 0.4, 0.3}, stdev[3] = {0.2, 0.25, 0.3}; /* tests/infer/infer_testing.h */
  cudaseg_session* s = open_session(NULL);
  uint8_t* rgb = make_rgb(width, height, 3);
  uint8_t* grey_rgb = malloc(pixels * 3);
  uint8_t* bgr = malloc(pixels * 3);
  uint8_t* rgba = malloc(pixels * 4);
  uint8_t* bgra = malloc(pixels * 4);
  uint8_t* grey = malloc(pixels);
  float* nchw = malloc(pixels * 3 * sizeof(float));
  float* logits_rgb = malloc(5 * pixels * sizeof(float));
  float* logits_nchw = malloc(5 * pixels * sizeof(float));
  int32_t* expected = labels_of(s, rgb, width, height);
  int32_t* expected_grey;
  int32_t* labels = malloc(pixels * sizeof(int32_t));
  cudaseg_image im;
  cudaseg_output out = output_of(labels, pixels * sizeof(int32_t), CUDASEG_OUTPUT_LABELS_I32);
  size_t i;
  int c;
  double worst = 0;
  for (i = 0; i < pixels; ++i) {
    for (c = 0; c < 3; ++c) {
      bgr[i * 3 + c] = rgb[i * 3 + 2 - c];
      rgba[i * 4 + c] = rgb[i * 3 + c];
      bgra[i * 4 + c] = rgb[i * 3 + 2 - c];
      grey_rgb[i * 3 + c] = rgb[i * 3 + 1];
      nchw[c * pixels + i] = (float)((rgb[i * 3 + c] / 255.0 - mean[c]) / stdev[c]);
    }
    rgba[i * 4 + 3] = bgra[i * 4 + 3] = (uint8_t)i;
    grey[i] = rgb[i * 3 + 1];
  }
  expected_grey = labels_of(s, grey_rgb, width, height);

#define EXPECT_FORMAT(buffer, bytes_per_pixel, fmt, want)                      \
  im = rgb_image(buffer, width, height);                                       \
  im.size = pixels * (bytes_per_pixel);                                        \
  im.format = (fmt);                                                           \
  memset(labels, 0xFF, pixels * sizeof(int32_t));                              \
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_OK);                     \
  CHECK(memcmp(labels, want, pixels * sizeof(int32_t)) == 0)
  EXPECT_FORMAT(bgr, 3, CUDASEG_FORMAT_BGR, expected);
  EXPECT_FORMAT(rgba, 4, CUDASEG_FORMAT_RGBA, expected);
  EXPECT_FORMAT(bgra, 4, CUDASEG_FORMAT_BGRA, expected);
  EXPECT_FORMAT(grey, 1, CUDASEG_FORMAT_GRAY, expected_grey);
#undef EXPECT_FORMAT

  im = rgb_image(rgb, width, height);
  out = output_of(logits_rgb, 5 * pixels * sizeof(float), CUDASEG_OUTPUT_LOGITS_F32);
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_OK);
  im.data = nchw;
  im.size = pixels * 3 * sizeof(float);
  im.format = CUDASEG_FORMAT_NCHW_F32;
  out.data = logits_nchw;
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_OK);
  /* The library rounds (v * scale / std - mean / std) to float, this test
   * ((v / 255 - mean) / std): the inputs differ by float rounding only. */
  for (i = 0; i < 5 * pixels; ++i) {
    const double d = fabs((double)logits_rgb[i] - logits_nchw[i]) / (1.0 + fabs(logits_rgb[i]));
    if (d > worst) worst = d;
  }
  CHECK(worst < 1e-5);

  free(labels);
  free(expected_grey);
  free(expected);
  free(logits_nchw);
  free(logits_rgb);
  free(nchw);
  free(grey);
  free(bgra);
  free(rgba);
  free(bgr);
  free(grey_rgb);
  free(rgb);
  CHECK_STATUS(cudaseg_session_destroy(s), CUDASEG_OK);
}

/* Labels as int32 and uint8, logits and probabilities, all at the image's
 * size; the labels are the argmax of the logits. */
static void test_outputs(void) {
  const int width = 37, height = 23, classes = 5;
  const size_t pixels = (size_t)width * height;
  cudaseg_session* s = open_session(NULL);
  uint8_t* rgb = make_rgb(width, height, 4);
  int32_t* labels = labels_of(s, rgb, width, height);
  uint8_t* labels8 = malloc(pixels);
  float* logits = malloc(classes * pixels * sizeof(float));
  float* probs = malloc(classes * pixels * sizeof(float));
  cudaseg_image im = rgb_image(rgb, width, height);
  cudaseg_output out = output_of(labels8, pixels, CUDASEG_OUTPUT_LABELS_U8);
  size_t i;
  int c, distinct = 0, seen[5] = {0, 0, 0, 0, 0};
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_OK);
  out = output_of(logits, classes * pixels * sizeof(float), CUDASEG_OUTPUT_LOGITS_F32);
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_OK);
  out = output_of(probs, classes * pixels * sizeof(float), CUDASEG_OUTPUT_PROBABILITIES_F32);
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_OK);
  for (i = 0; i < pixels; ++i) {
    int best = 0;
    double sum = 0;
    CHECK(labels[i] >= 0 && labels[i] < classes);
    CHECK(labels8[i] == labels[i]);
    for (c = 0; c < classes; ++c) {
      if (logits[c * pixels + i] > logits[best * pixels + i]) best = c;
      CHECK(probs[c * pixels + i] >= 0.f && probs[c * pixels + i] <= 1.f);
      sum += probs[c * pixels + i];
    }
    CHECK(best == labels[i]);
    CHECK(fabs(sum - 1.0) < 1e-5);
    distinct += !seen[labels[i]]++;
  }
  CHECK(distinct >= 2);
  free(probs);
  free(logits);
  free(labels8);
  free(labels);
  free(rgb);
  CHECK_STATUS(cudaseg_session_destroy(s), CUDASEG_OK);
}

/* A batch of different sizes and outputs equals the single calls. */
static void test_batch(void) {
  const int widths[3] = {16, 9, 16}, heights[3] = {12, 7, 12};
  cudaseg_session* s = open_session(NULL);
  uint8_t* rgb[3];
  int32_t* single[3];
  void* data[3];
  cudaseg_image images[3];
  cudaseg_output outputs[3];
  int k;
  for (k = 0; k < 3; ++k) {
    rgb[k] = make_rgb(widths[k], heights[k], 10 + k);
    single[k] = labels_of(s, rgb[k], widths[k], heights[k]);
    images[k] = rgb_image(rgb[k], widths[k], heights[k]);
  }
  data[0] = malloc(12 * 16 * 4);
  data[1] = malloc(7 * 9);
  data[2] = malloc(5 * 12 * 16 * 4);
  outputs[0] = output_of(data[0], 12 * 16 * 4, CUDASEG_OUTPUT_LABELS_I32);
  outputs[1] = output_of(data[1], 7 * 9, CUDASEG_OUTPUT_LABELS_U8);
  outputs[2] = output_of(data[2], 5 * 12 * 16 * 4, CUDASEG_OUTPUT_LOGITS_F32);
  CHECK_STATUS(cudaseg_predict_batch(s, images, outputs, 3), CUDASEG_OK);
  CHECK(memcmp(data[0], single[0], 12 * 16 * 4) == 0);
  for (k = 0; k < 7 * 9; ++k) CHECK(((uint8_t*)data[1])[k] == single[1][k]);
  for (k = 0; k < 12 * 16; ++k) {
    const float* l = (const float*)data[2];
    int c, best = 0;
    for (c = 1; c < 5; ++c)
      if (l[c * 12 * 16 + k] > l[best * 12 * 16 + k]) best = c;
    CHECK(best == single[2][k]);
  }
  /* One bad entry refuses the batch before anything is written. */
  memset(data[0], 0x11, 12 * 16 * 4);
  outputs[1].size = 7 * 9 - 1;
  CHECK_STATUS(cudaseg_predict_batch(s, images, outputs, 3), CUDASEG_ERROR_BUFFER_TOO_SMALL);
  CHECK_MENTIONS("output[1]");
  CHECK(((uint8_t*)data[0])[0] == 0x11);
  CHECK_STATUS(cudaseg_predict_batch(s, images, NULL, 3), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cudaseg_predict_batch(s, NULL, NULL, 0), CUDASEG_OK);
  for (k = 0; k < 3; ++k) {
    free(data[k]);
    free(single[k]);
    free(rgb[k]);
  }
  CHECK_STATUS(cudaseg_session_destroy(s), CUDASEG_OK);
}

static void test_queries(void) {
  cudaseg_options o;
  cudaseg_session* s = open_session(NULL);
  int32_t h = -1, w = -1, divisor = -1;
  char name[16];
  size_t length = 0;
  uint8_t palette[15];
  int c;
  CHECK(cudaseg_num_classes(s) == 5);
  CHECK_STATUS(cudaseg_input_size(s, &h, &w), CUDASEG_OK);
  CHECK(h == 0 && w == 0);
  CHECK_STATUS(cudaseg_size_divisor(s, &divisor), CUDASEG_OK);
  CHECK(divisor == 1);
  CHECK_STATUS(cudaseg_class_name(s, 3, name, sizeof name, &length), CUDASEG_OK);
  CHECK(strcmp(name, "class3") == 0 && length == 6);
  length = 0;
  CHECK_STATUS(cudaseg_class_name(s, 4, NULL, 0, &length), CUDASEG_OK);
  CHECK(length == 6);
  strcpy(name, "untouched");
  CHECK_STATUS(cudaseg_class_name(s, 4, name, 6, &length), CUDASEG_ERROR_BUFFER_TOO_SMALL);
  CHECK_MENTIONS("needs 7 bytes");
  CHECK(strcmp(name, "untouched") == 0);
  CHECK_STATUS(cudaseg_class_name(s, 5, name, sizeof name, NULL), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cudaseg_class_name(s, -1, name, sizeof name, NULL), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cudaseg_palette(s, palette, sizeof palette), CUDASEG_OK);
  for (c = 0; c < 5; ++c) CHECK(palette[3 * c] == 40 * c && palette[3 * c + 1] == 255 - 30 * c && palette[3 * c + 2] == 77);
  CHECK_STATUS(cudaseg_palette(s, palette, sizeof palette - 1), CUDASEG_ERROR_BUFFER_TOO_SMALL);
  CHECK_STATUS(cudaseg_input_size(s, NULL, &w), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cudaseg_session_destroy(s), CUDASEG_OK);

  cudaseg_options_init(&o, sizeof o);
  o.input_height = 24;
  o.input_width = 40;
  s = open_session(&o);
  CHECK_STATUS(cudaseg_input_size(s, &h, &w), CUDASEG_OK);
  CHECK(h == 24 && w == 40);
  CHECK_STATUS(cudaseg_session_destroy(s), CUDASEG_OK);
}

/* Issue 23: double destroy aborted in glibc, use after destroy returned garbage. */
static void test_destroyed_handles(void) {
  cudaseg_session* s = open_session(NULL);
  cudaseg_session* next;
  uint8_t* rgb = make_rgb(4, 4, 5);
  int32_t labels[16];
  int32_t value;
  size_t length;
  uint8_t palette[15];
  int not_a_session = 0;
  cudaseg_image im = rgb_image(rgb, 4, 4);
  cudaseg_output out = output_of(labels, sizeof labels, CUDASEG_OUTPUT_LABELS_I32);
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_OK);
  CHECK_STATUS(cudaseg_session_destroy(s), CUDASEG_OK);
  CHECK_STATUS(cudaseg_session_destroy(s), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_MENTIONS("cudaseg_session_destroy: session is not live");
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_MENTIONS("cudaseg_predict: session is not live");
  CHECK_STATUS(cudaseg_predict_batch(s, &im, &out, 1), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK(cudaseg_num_classes(s) == -1);
  CHECK_MENTIONS("cudaseg_num_classes: session is not live");
  CHECK_STATUS(cudaseg_size_divisor(s, &value), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cudaseg_input_size(s, &value, &value), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cudaseg_class_name(s, 0, NULL, 0, &length), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cudaseg_palette(s, palette, sizeof palette), CUDASEG_ERROR_INVALID_ARGUMENT);
  /* A new session never revives the old handle. */
  next = open_session(NULL);
  CHECK(next != s);
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cudaseg_predict(next, &im, &out), CUDASEG_OK);
  /* A pointer the library never returned is refused without being read. */
  CHECK_STATUS(cudaseg_predict((cudaseg_session*)&not_a_session, &im, &out), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cudaseg_session_destroy((cudaseg_session*)&not_a_session), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cudaseg_session_destroy(NULL), CUDASEG_OK);
  CHECK_STATUS(cudaseg_session_destroy(next), CUDASEG_OK);
  free(rgb);
}

/* Issue 23: threads sharing a session failed at random ("PlanScope ...
 * already in use") or raced in ForwardRunner::shape_for. Each thread runs
 * its own image sizes on one shared session and gets the labels a lone call
 * gives. */
#define SHARE_THREADS 4
#define SHARE_SIZES 3
typedef struct share_job {
  cudaseg_session* session;
  int index;
  int iterations;
  uint8_t* rgb[SHARE_SIZES];
  int32_t* expected[SHARE_SIZES];
  int width[SHARE_SIZES], height[SHARE_SIZES];
  int mismatches;
  cudaseg_status worst;
} share_job;

static void* share_worker(void* arg) {
  share_job* job = (share_job*)arg;
  int it, k;
  for (it = 0; it < job->iterations; ++it) {
    for (k = 0; k < SHARE_SIZES; ++k) {
      const size_t bytes = (size_t)job->width[k] * job->height[k] * sizeof(int32_t);
      int32_t* labels = malloc(bytes);
      cudaseg_image im = rgb_image(job->rgb[k], job->width[k], job->height[k]);
      cudaseg_output out = output_of(labels, bytes, CUDASEG_OUTPUT_LABELS_I32);
      const cudaseg_status status = cudaseg_predict(job->session, &im, &out);
      if (status != CUDASEG_OK) {
        fprintf(stderr, "thread %d: %s\n", job->index, cudaseg_last_error());
        job->worst = status;
      } else if (memcmp(labels, job->expected[k], bytes) != 0) {
        ++job->mismatches;
      }
      free(labels);
    }
  }
  return NULL;
}

static void test_threads_share_a_session(void) {
  cudaseg_session* s = open_session(NULL);
  pthread_t threads[SHARE_THREADS];
  share_job jobs[SHARE_THREADS];
  int t, k;
  for (t = 0; t < SHARE_THREADS; ++t) {
    share_job* job = &jobs[t];
    job->session = s;
    job->index = t;
    job->iterations = under_valgrind() ? 2 : 10;
    job->mismatches = 0;
    job->worst = CUDASEG_OK;
    for (k = 0; k < SHARE_SIZES; ++k) {
      /* Every thread and size differs, so shapes are added to the session's table concurrently. */
      job->width[k] = 8 + 5 * t + 3 * k;
      job->height[k] = 6 + 2 * t + 7 * k;
      job->rgb[k] = make_rgb(job->width[k], job->height[k], t * SHARE_SIZES + k);
      job->expected[k] = labels_of(s, job->rgb[k], job->width[k], job->height[k]);
    }
  }
  /* A fresh session: the shape table starts empty while the threads run. */
  CHECK_STATUS(cudaseg_session_destroy(s), CUDASEG_OK);
  s = open_session(NULL);
  for (t = 0; t < SHARE_THREADS; ++t) {
    jobs[t].session = s;
    CHECK(pthread_create(&threads[t], NULL, share_worker, &jobs[t]) == 0);
  }
  for (t = 0; t < SHARE_THREADS; ++t) CHECK(pthread_join(threads[t], NULL) == 0);
  for (t = 0; t < SHARE_THREADS; ++t) {
    CHECK(jobs[t].worst == CUDASEG_OK);
    CHECK(jobs[t].mismatches == 0);
    for (k = 0; k < SHARE_SIZES; ++k) {
      free(jobs[t].rgb[k]);
      free(jobs[t].expected[k]);
    }
  }
  CHECK_STATUS(cudaseg_session_destroy(s), CUDASEG_OK);
}

/* The per-session thread count gives the same labels as the whole pool. */
static void test_num_threads(void) {
  cudaseg_options o;
  cudaseg_session *all, *one;
  uint8_t* rgb = make_rgb(40, 30, 6);
  int32_t *a, *b;
  cudaseg_options_init(&o, sizeof o);
  o.num_threads = 1;
  all = open_session(NULL);
  one = open_session(&o);
  a = labels_of(all, rgb, 40, 30);
  b = labels_of(one, rgb, 40, 30);
  CHECK(memcmp(a, b, 40 * 30 * sizeof(int32_t)) == 0);
  free(b);
  free(a);
  free(rgb);
  CHECK_STATUS(cudaseg_session_destroy(one), CUDASEG_OK);
  CHECK_STATUS(cudaseg_session_destroy(all), CUDASEG_OK);
}

typedef struct log_record {
  int calls;
  int ready;
  int32_t worst_level;
} log_record;

static void collect_log(int32_t level, const char* message, void* user_data) {
  log_record* r = (log_record*)user_data;
  ++r->calls;
  if (strstr(message, "session ready") != NULL) ++r->ready;
  if (level > r->worst_level) r->worst_level = level;
}

static void test_logging(void) {
  log_record r = {0, 0, -1};
  cudaseg_session* s;
  CHECK_STATUS(cudaseg_set_log_callback(collect_log, &r), CUDASEG_OK);
  CHECK_STATUS(cudaseg_set_log_level(CUDASEG_LOG_DEBUG), CUDASEG_OK);
  s = open_session(NULL);
  CHECK_STATUS(cudaseg_session_destroy(s), CUDASEG_OK);
  CHECK(r.ready == 1);
  CHECK(r.worst_level == CUDASEG_LOG_DEBUG);
  CHECK_STATUS(cudaseg_set_log_level(CUDASEG_LOG_WARN), CUDASEG_OK);
  s = open_session(NULL);
  CHECK_STATUS(cudaseg_session_destroy(s), CUDASEG_OK);
  CHECK(r.ready == 1);
  CHECK_STATUS(cudaseg_set_log_level(5), CUDASEG_ERROR_INVALID_ARGUMENT);
  CHECK_STATUS(cudaseg_set_log_callback(NULL, NULL), CUDASEG_OK);
  CHECK_STATUS(cudaseg_set_log_level(CUDASEG_LOG_DEBUG), CUDASEG_OK);
  s = open_session(NULL); /* to stderr now */
  CHECK_STATUS(cudaseg_session_destroy(s), CUDASEG_OK);
  CHECK(r.ready == 1);
  CHECK_STATUS(cudaseg_set_log_level(CUDASEG_LOG_INFO), CUDASEG_OK);
}

static long resident_bytes(void) {
  long pages = 0, resident = 0;
  FILE* f = fopen("/proc/self/statm", "r");
  if (!f) return -1;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
  fclose(f);
  return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

/* Issue 23: 436 MB stayed resident after a 1024x1024 prediction with every
 * session destroyed. Destroying the session and releasing the caches must
 * bring the process back to where a small prediction left it. */
static void predict_once(int side) {
  const size_t pixels = (size_t)side * side;
  cudaseg_session* s = open_session(NULL);
  uint8_t* rgb = make_rgb(side, side, 7);
  float* probs = malloc(5 * pixels * sizeof(float));
  cudaseg_image im = rgb_image(rgb, side, side);
  cudaseg_output out = output_of(probs, 5 * pixels * sizeof(float), CUDASEG_OUTPUT_PROBABILITIES_F32);
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_OK);
  free(probs);
  free(rgb);
  CHECK_STATUS(cudaseg_session_destroy(s), CUDASEG_OK);
  CHECK_STATUS(cudaseg_release_cached_memory(), CUDASEG_OK);
}

static void test_release_cached_memory(void) {
  long baseline, after;
  if (under_valgrind()) {
    /* valgrind keeps freed blocks itself: RSS says nothing there */
    CHECK_STATUS(cudaseg_release_cached_memory(), CUDASEG_OK);
    return;
  }
  predict_once(32);
  baseline = resident_bytes();
  /* The forward's activations at 1024x1024 (8 channels at half size, the
   * input, the 5-class logits and their softmax) are well over 64 MB. */
  predict_once(1024);
  after = resident_bytes();
  printf("release_cached_memory: resident %ld MB after a 32x32 prediction, %ld MB after a 1024x1024 one\n",
         baseline >> 20, after >> 20);
  CHECK(baseline > 0 && after > 0 && after - baseline < (16L << 20));
}

/* Issue 23: read_image on a directory escaped as std::ios_base::failure
 * (status 4), on /dev/zero it read until memory ran out. */
static void test_read_image_refuses_non_files(void) {
  uint8_t* rgb = (uint8_t*)&rgb;
  int w = 0, h = 0;
  CHECK_STATUS(cudaseg_read_image(g_dir, &rgb, &w, &h), CUDASEG_ERROR_FAILED);
  CHECK_MENTIONS("is a directory");
  CHECK(rgb == NULL);
  CHECK_STATUS(cudaseg_read_image("/dev/zero", &rgb, &w, &h), CUDASEG_ERROR_FAILED);
  CHECK_MENTIONS("not a regular file");
  CHECK_STATUS(cudaseg_read_image(NULL, &rgb, &w, &h), CUDASEG_ERROR_INVALID_ARGUMENT);
}

/* Issue 23: write_png left PATH.tmp behind when the rename failed. */
static void test_write_png_failed_rename_leaves_nothing(void) {
  char sub[300], target[320];
  uint8_t pixels[4 * 3 * 3];
  DIR* d;
  struct dirent* e;
  int entries = 0;
  memset(pixels, 9, sizeof pixels);
  snprintf(sub, sizeof sub, "%s/png", g_dir);
  CHECK(mkdir(sub, 0755) == 0);
  snprintf(target, sizeof target, "%s/x.png", sub);
  CHECK(mkdir(target, 0755) == 0); /* the final name is taken by a folder */
  CHECK_STATUS(cudaseg_write_png(target, pixels, sizeof pixels, 4, 3, 0, 3), CUDASEG_ERROR_FAILED);
  CHECK_MENTIONS("cannot move the finished file");
  d = opendir(sub);
  CHECK(d != NULL);
  while (d && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    ++entries;
    CHECK(strcmp(e->d_name, "x.png") == 0);
  }
  if (d) closedir(d);
  CHECK(entries == 1);
  rmdir(target);
  /* A row stride on the way in, and a read back. */
  {
    uint8_t strided[3 * 16], *back = NULL;
    int w = 0, h = 0, y;
    memset(strided, 0, sizeof strided);
    for (y = 0; y < 3; ++y) memcpy(strided + y * 16, pixels + y * 12, 12);
    strided[0] = 200;
    CHECK_STATUS(cudaseg_write_png(target, strided, sizeof strided, 4, 3, 16, 3), CUDASEG_OK);
    CHECK_STATUS(cudaseg_read_image(target, &back, &w, &h), CUDASEG_OK);
    CHECK(w == 4 && h == 3 && back && back[0] == 200 && back[12] == 9);
    cudaseg_free(back);
    remove(target);
  }
  rmdir(sub);
}

/* Out of memory is its own status, found by the failing allocation's type. */
static void test_out_of_memory(void) {
  cudaseg_options o;
  cudaseg_session* s;
  uint8_t* rgb = make_rgb(8, 8, 8);
  int32_t labels[64];
  cudaseg_image im = rgb_image(rgb, 8, 8);
  cudaseg_output out = output_of(labels, sizeof labels, CUDASEG_OUTPUT_LABELS_I32);
  cudaseg_options_init(&o, sizeof o);
  /* Every image resized to 2^20 x 2^20: a 12 TiB input. */
  o.input_height = 1 << 20;
  o.input_width = 1 << 20;
  s = open_session(&o);
  CHECK_STATUS(cudaseg_predict(s, &im, &out), CUDASEG_ERROR_OUT_OF_MEMORY);
  CHECK_MENTIONS("out of host memory");
  CHECK_STATUS(cudaseg_session_destroy(s), CUDASEG_OK);
  free(rgb);
}

typedef struct named_test {
  const char* name;
  void (*run)(void);
} named_test;

static const named_test k_tests[] = {
    {"version", test_version},
    {"options_struct_size", test_options_struct_size},
    {"short_buffers", test_short_buffers},
    {"strides", test_strides},
    {"formats", test_formats},
    {"outputs", test_outputs},
    {"batch", test_batch},
    {"queries", test_queries},
    {"destroyed_handles", test_destroyed_handles},
    {"threads_share_a_session", test_threads_share_a_session},
    {"num_threads", test_num_threads},
    {"logging", test_logging},
    {"release_cached_memory", test_release_cached_memory},
    {"read_image_refuses_non_files", test_read_image_refuses_non_files},
    {"write_png_failed_rename_leaves_nothing", test_write_png_failed_rename_leaves_nothing},
    {"out_of_memory", test_out_of_memory},
};

int main(int argc, char** argv) {
  size_t i;
  int ran = 0;
  const char* tmp = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/cudaseg_capi_XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(g_dir)) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(g_weights, sizeof g_weights, "%s/m.json", g_dir);
  if (capi_fixture_checkpoint(g_weights, 5) != 0) return 1;
  for (i = 0; i < sizeof k_tests / sizeof k_tests[0]; ++i) {
    const int before = g_failures;
    if (argc > 1 && strcmp(argv[1], k_tests[i].name) != 0) continue;
    k_tests[i].run();
    ++ran;
    printf("[%s] %s\n", g_failures == before ? "  OK  " : " FAIL ", k_tests[i].name);
  }
  {
    char bin[320];
    snprintf(bin, sizeof bin, "%s/m.bin", g_dir);
    remove(bin);
    remove(g_weights);
    rmdir(g_dir);
  }
  if (ran == 0) {
    fprintf(stderr, "no test named %s\n", argv[1]);
    return 1;
  }
  printf("%d tests, %d failed checks\n", ran, g_failures);
  return g_failures == 0 ? 0 : 1;
}
