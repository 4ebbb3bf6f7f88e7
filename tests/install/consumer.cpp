// Uses the installed public header and library: a tensor op and the build report.
#include <cudaseg.h>

#include <cstdio>

int main() {
  cudaseg::Tensor t = cudaseg::Tensor::arange(6).view({2, 3}).transpose(0, 1).contiguous();
  const std::vector<double> v = t.to_vector();
  if (v[1] != 3.0) {
    std::fprintf(stderr, "consumer: unexpected value %f\n", v[1]);
    return 1;
  }
  std::printf("%s", cudaseg::build_report().c_str());
  return 0;
}
