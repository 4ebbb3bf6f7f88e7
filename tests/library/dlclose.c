/* dlopen() and dlclose() really load and unload libcudaseg.so: a library that
 * exports an STB_GNU_UNIQUE symbol (a static of an inline function or a
 * template, with default visibility) is marked non-deletable and stays mapped
 * until the process ends, so a plugin host could never unload it.
 * Usage: dlclose PATH_TO_LIBCUDASEG */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 when /proc/self/maps lists a mapping of `path`, 0 when not, -1 on error. */
static int mapped(const char* path) {
  char line[PATH_MAX + 256];
  int found = 0;
  FILE* maps = fopen("/proc/self/maps", "r");
  if (!maps) return -1;
  while (fgets(line, sizeof line, maps)) {
    line[strcspn(line, "\n")] = '\0';
    const size_t n = strlen(line), m = strlen(path);
    if (n >= m && strcmp(line + n - m, path) == 0) found = 1;
  }
  fclose(maps);
  return found;
}

int main(int argc, char** argv) {
  char path[PATH_MAX];
  if (argc != 2 || !realpath(argv[1], path)) {
    fprintf(stderr, "usage: dlclose PATH_TO_LIBCUDASEG (an existing file)\n");
    return 2;
  }
  void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  const char* (*version)(void) = (const char* (*)(void))dlsym(lib, "cudaseg_version");
  if (!version) {
    fprintf(stderr, "dlsym cudaseg_version: %s\n", dlerror());
    return 1;
  }
  printf("loaded cudaseg %s, mapped: %d\n", version(), mapped(path));
  if (mapped(path) != 1) {
    fprintf(stderr, "%s is not listed in /proc/self/maps after dlopen\n", path);
    return 1;
  }
  if (dlclose(lib) != 0) {
    fprintf(stderr, "dlclose: %s\n", dlerror());
    return 1;
  }
  if (mapped(path) != 0) {
    fprintf(stderr, "%s is still mapped after dlclose (an exported STB_GNU_UNIQUE symbol keeps it)\n", path);
    return 1;
  }
  printf("unloaded\n");
  return 0;
}
