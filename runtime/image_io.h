// Image files to and from u8 HWC tensors (stb_image / stb_image_write).
#pragma once

#include <string>

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg {

// Images with more pixels are refused before decoding: a header may claim
// any size, and the decoder allocates the pixels before a short file fails.
constexpr int64_t kMaxImagePixels = int64_t{1} << 28;
// Image files larger than this are refused before reading (1 GiB: a
// 16384x16384 RGB BMP, the largest image the pixel limit admits, is 768 MiB).
constexpr int64_t kMaxImageFileBytes = int64_t{1} << 30;

// Reads a JPEG, PNG or BMP file into a u8 [H, W, channels] CPU tensor
// (channels 1, 3 or 4; 0 keeps the file's own count). Missing, unreadable,
// truncated, oversized or non-image files, directories and anything that is
// not a regular file (devices, FIFOs) throw cudaseg::Error naming the file
// and why.

Tensor read_image(const std::string& path, int channels = 3);

// Writes a u8 [H, W] or [H, W, C] (C in 1..4) tensor as PNG, atomically
// (runtime/atomic_file.h).
void write_png(const std::string& path, const Tensor& image);

// The PNG file write_png writes, in memory (an image inside another file:
// a TensorBoard event, a data: URI).
std::string encode_png(const Tensor& image);

// The same as a baseline JPEG of `quality` (1..100); an alpha channel is dropped.
void write_jpeg(const std::string& path, const Tensor& image, int quality = 90);

}  // namespace cudaseg
CUDASEG_API_END
