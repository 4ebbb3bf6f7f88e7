/* segment.c: segments one image from C through cudaseg_c.h.
 *
 *   segment WEIGHTS.json IMAGE OUT_LABELS.png [HxW]
 *
 * Loads the checkpoint, reads the image, predicts a class id per pixel and
 * writes them as a greyscale PNG (pixel value = class id) at the image's
 * size. HxW fixes the net's input size (default: the checkpoint's). */
#include <cudaseg_c.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(const char* what) {
  fprintf(stderr, "segment: %s: %s\n", what, cudaseg_last_error());
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: segment WEIGHTS.json IMAGE OUT_LABELS.png [HxW]\n");
    return 2;
  }
  cudaseg_options options;
  cudaseg_options_init(&options);
  if (argc == 5 && sscanf(argv[4], "%dx%d", &options.input_height, &options.input_width) != 2) {
    fprintf(stderr, "segment: size must be HxW, got %s\n", argv[4]);
    return 2;
  }

  cudaseg_session* session = NULL;
  if (cudaseg_session_create(argv[1], &options, &session) != CUDASEG_OK) return fail("loading the weights");

  uint8_t* rgb = NULL;
  int width = 0, height = 0;
  if (cudaseg_read_image(argv[2], &rgb, &width, &height) != CUDASEG_OK) {
    cudaseg_session_destroy(session);
    return fail("reading the image");
  }

  const size_t pixels = (size_t)width * (size_t)height;
  int32_t* labels = malloc(pixels * sizeof *labels);
  uint8_t* grey = malloc(pixels);
  int status = 1;
  if (!labels || !grey) {
    fprintf(stderr, "segment: out of memory\n");
  } else if (cudaseg_predict(session, rgb, width, height, labels) != CUDASEG_OK) {
    status = fail("predicting");
  } else {
    int seen[256] = {0}, distinct = 0;
    for (size_t i = 0; i < pixels; ++i) {
      grey[i] = (uint8_t)labels[i];
      distinct += !seen[grey[i]]++;
    }
    if (cudaseg_write_png(argv[3], grey, width, height, 1) != CUDASEG_OK) {
      status = fail("writing the labels");
    } else {
      printf("%dx%d image, %d classes, %d of them present -> %s (cudaseg %s)\n", width, height,
             cudaseg_num_classes(session), distinct, argv[3], cudaseg_version());
      status = 0;
    }
  }
  free(grey);
  free(labels);
  cudaseg_free(rgb);
  cudaseg_session_destroy(session);
  return status;
}
