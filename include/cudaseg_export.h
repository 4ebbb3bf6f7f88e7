/* cudaseg_export.h: what libcudaseg exports.
 *
 * The library is built with -fvisibility=hidden, so a symbol leaves
 * libcudaseg.so only when its declaration says so: CUDASEG_API on a C
 * function of cudaseg_c.h, and the CUDASEG_API_BEGIN ... CUDASEG_API_END
 * region around the declarations of each header the umbrella cudaseg.h
 * documents. Everything else (train::, weights::, the kernels, nlohmann::json
 * and CUB instantiations) stays inside the library, and with no
 * STB_GNU_UNIQUE symbol exported dlclose() really unloads it. Programs that
 * need the internals link the static library instead.
 */
#ifndef CUDASEG_EXPORT_H
#define CUDASEG_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define CUDASEG_API __attribute__((visibility("default")))
#else
#define CUDASEG_API
#endif

/* The regions come after a header's own #includes, so that the standard
 * library and third-party headers keep their own visibility. */
#if defined(__cplusplus) && (defined(__GNUC__) || defined(__clang__))
#define CUDASEG_API_BEGIN _Pragma("GCC visibility push(default)")
#define CUDASEG_API_END _Pragma("GCC visibility pop")
#else
#define CUDASEG_API_BEGIN
#define CUDASEG_API_END
#endif

#endif /* CUDASEG_EXPORT_H */
