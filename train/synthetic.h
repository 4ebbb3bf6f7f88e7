// The built-in synthetic dataset, the default of every run config: procedural
// scenes that need no files.
//
// Each class has a fixed appearance drawn from the seed (shared by both
// splits): a base colour, a darker second colour and a texture (stripes at a
// class-specific period and angle, a checkerboard, or per-pixel speckle). A
// scene is the background class 0 over the whole image, then 3 to 8
// overlapping shapes (rectangles, rotated ellipses, triangles, star polygons)
// of random classes 1..num_classes-1, each with its own brightness and texture
// phase, then per-pixel noise. The label is the class of the topmost shape.
// Classes differ by colour and texture, so a small net learns them within a
// few hundred steps.
//
// Sample `index` of a split is a pure function of (seed, split, index): the
// same bytes every time, on every machine. The val split draws from a
// disjoint index range of the same scene distribution.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "train/dataset.h"

namespace cudaseg::train {

struct SyntheticOptions {
  int64_t num_classes = 19;  // >= 2
  int64_t size = 512;        // number of samples
  int64_t height = 256;
  int64_t width = 512;
  uint64_t seed = 0;
  bool validation = false;  // the val split
};

class SyntheticDataset : public Dataset {
 public:
  explicit SyntheticDataset(SyntheticOptions options);  // throws on a bad option

  int64_t size() const override { return options_.size; }
  Sample get(int64_t index) const override;
  int64_t num_classes() const override { return options_.num_classes; }
  std::vector<std::string> class_names() const override;  // "background", "class1", ...
  std::vector<std::array<uint8_t, 3>> palette() const override;  // each class's base colour
  std::string name() const override { return "synthetic"; }
  const SyntheticOptions& options() const { return options_; }

  struct ClassStyle {
    std::array<float, 3> base;    // RGB in [0, 255]
    std::array<float, 3> second;  // the texture's other colour
    int texture;                  // 0 stripes, 1 checker, 2 speckle
    float period;                 // pixels
    float cos_angle, sin_angle;   // stripe direction
  };

 private:
  SyntheticOptions options_;
  std::vector<ClassStyle> styles_;
};

}  // namespace cudaseg::train
