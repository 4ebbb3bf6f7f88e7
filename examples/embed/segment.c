/* segment.c: segments one image from C through cudaseg_c.h (C API v1).
 *
 *   segment WEIGHTS.json IMAGE OUT_LABELS.png [HxW]
 *
 * Loads the checkpoint, reads the image, predicts a class id per pixel and
 * writes them as a greyscale PNG (pixel value = class id) at the image's
 * size. HxW fixes the net's input size (default: the checkpoint's). Shows
 * the version check, size-tagged options, the model queries, the logging
 * callback, explicit buffer lengths, and the cache release. */
#include <cudaseg_c.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(const char* what) {
  fprintf(stderr, "segment: %s: %s\n", what, cudaseg_last_error());
  return 1;
}

/* The library's warnings and errors, prefixed as this program likes them. */
static void log_to_stderr(int32_t level, const char* message, void* user_data) {
  fprintf(stderr, "%s: cudaseg [%d] %s\n", (const char*)user_data, (int)level, message);
}

int main(int argc, char** argv) {
  cudaseg_options options;
  cudaseg_session* session = NULL;
  uint8_t* rgb = NULL;
  uint8_t* grey = NULL;
  int width = 0, height = 0, status = 1;
  int32_t input_h = 0, input_w = 0, divisor = 1;

  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: segment WEIGHTS.json IMAGE OUT_LABELS.png [HxW]\n");
    return 2;
  }
  /* A library of another major version, or an older minor one, lacks what
   * this program was compiled against. */
  if (cudaseg_api_version() / 10000 != CUDASEG_API_VERSION_MAJOR || cudaseg_api_version() < CUDASEG_API_VERSION) {
    fprintf(stderr, "segment: built for cudaseg C API %d, the library has %u\n", CUDASEG_API_VERSION,
            (unsigned)cudaseg_api_version());
    return 1;
  }
  cudaseg_set_log_callback(log_to_stderr, "segment");
  cudaseg_set_log_level(CUDASEG_LOG_WARN);

  cudaseg_options_init(&options, sizeof options);
  if (argc == 5 && sscanf(argv[4], "%dx%d", &options.input_height, &options.input_width) != 2) {
    fprintf(stderr, "segment: size must be HxW, got %s\n", argv[4]);
    return 2;
  }
  if (cudaseg_session_create(argv[1], &options, &session) != CUDASEG_OK) return fail("loading the weights");
  cudaseg_input_size(session, &input_h, &input_w);
  cudaseg_size_divisor(session, &divisor);

  if (cudaseg_read_image(argv[2], &rgb, &width, &height) != CUDASEG_OK) {
    cudaseg_session_destroy(session);
    return fail("reading the image");
  }

  {
    const size_t pixels = (size_t)width * (size_t)height;
    cudaseg_image image;
    cudaseg_output labels;
    image.data = rgb;
    image.size = pixels * 3;
    image.width = width;
    image.height = height;
    image.row_stride = 0; /* packed rows */
    image.format = CUDASEG_FORMAT_RGB;
    grey = malloc(pixels);
    labels.data = grey;
    labels.size = pixels;
    labels.row_stride = 0;
    labels.kind = CUDASEG_OUTPUT_LABELS_U8; /* class ids as bytes: the label PNG's pixels */
    if (!grey) {
      fprintf(stderr, "segment: out of memory\n");
    } else if (cudaseg_num_classes(session) > 256) {
      fprintf(stderr, "segment: %d classes do not fit a greyscale PNG\n", cudaseg_num_classes(session));
    } else if (cudaseg_predict(session, &image, &labels) != CUDASEG_OK) {
      status = fail("predicting");
    } else if (cudaseg_write_png(argv[3], grey, pixels, width, height, 0, 1) != CUDASEG_OK) {
      status = fail("writing the labels");
    } else {
      int seen[256] = {0}, distinct = 0, most = 0;
      size_t i;
      char name[64] = "";
      for (i = 0; i < pixels; ++i) {
        distinct += !seen[grey[i]]++;
        if (seen[grey[i]] > seen[most]) most = grey[i];
      }
      if (cudaseg_class_name(session, most, name, sizeof name, NULL) != CUDASEG_OK) name[0] = '\0';
      char input[32] = "any size";
      if (input_h > 0) snprintf(input, sizeof input, "%dx%d", (int)input_h, (int)input_w);
      printf("%dx%d image, %d classes, %d of them present -> %s (cudaseg %s; net input %s, size divisor %d; "
             "most pixels: class %d%s%s%s)\n",
             width, height, cudaseg_num_classes(session), distinct, argv[3], cudaseg_version(), input, (int)divisor,
             most, name[0] ? " '" : "", name, name[0] ? "'" : "");
      status = 0;
    }
  }
  free(grey);
  cudaseg_free(rgb);
  cudaseg_session_destroy(session);
  /* A long-running host hands the session's cached blocks back to the system. */
  cudaseg_release_cached_memory();
  cudaseg_set_log_callback(NULL, NULL);
  return status;
}
