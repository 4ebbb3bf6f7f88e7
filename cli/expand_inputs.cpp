#include <glob.h>

#include <algorithm>
#include <filesystem>

#include "cli/cli.h"

namespace cudaseg::cli {
namespace {

namespace fs = std::filesystem;

bool is_image_name(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

}  // namespace

std::vector<std::string> expand_inputs(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const std::string& a : args) {
    if (a.find_first_of("*?[") != std::string::npos) {
      glob_t g{};
      const int rc = ::glob(a.c_str(), 0, nullptr, &g);
      std::vector<std::string> hits(g.gl_pathv, g.gl_pathv + (rc == 0 ? g.gl_pathc : 0));
      ::globfree(&g);
      CUDASEG_CHECK(!hits.empty(), "no file matches '", a, "'");
      out.insert(out.end(), hits.begin(), hits.end());
    } else if (fs::is_directory(a)) {
      std::vector<std::string> files;
      for (const auto& e : fs::directory_iterator(a))
        if (e.is_regular_file() && is_image_name(e.path().string())) files.push_back(e.path().string());
      CUDASEG_CHECK(!files.empty(), "folder '", a, "' holds no JPEG, PNG or BMP file");
      std::sort(files.begin(), files.end());
      out.insert(out.end(), files.begin(), files.end());
    } else {
      CUDASEG_CHECK(fs::exists(a), "no such input '", a, "'");
      out.push_back(a);
    }
  }
  return out;
}

}  // namespace cudaseg::cli
