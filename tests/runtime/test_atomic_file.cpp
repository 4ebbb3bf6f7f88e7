// runtime/atomic_file: unique temporaries, all-or-nothing replacement, and the
// writers of final files (PNGs) going through it.
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/testing.h"
#include "runtime/atomic_file.h"
#include "runtime/image_io.h"

using namespace cudaseg;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("cudaseg_test_atomic_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST(AtomicFile, TwoWritersOfOnePathKeepTheirOwnTemporaries) {
  const fs::path dir = fresh_dir("two");
  const std::string path = (dir / "out.json").string();
  AtomicFile a(path), b(path);
  EXPECT_NE(a.temp_path(), b.temp_path());
  EXPECT_EQ(fs::path(a.temp_path()).parent_path(), dir);
  a.write("first", 5);
  b.write("second", 6);
  a.commit();
  EXPECT_EQ(read(path), "first");
  EXPECT_TRUE(fs::exists(b.temp_path()));  // a's commit left b's temporary alone
  b.commit();
  EXPECT_EQ(read(path), "second");
  EXPECT_EQ(entries(dir), std::vector<std::string>{"out.json"});
  fs::remove_all(dir);
}

TEST(AtomicFile, AnExceptionBeforeCommitKeepsTheOldContentAndNoTemporary) {
  const fs::path dir = fresh_dir("throw");
  const std::string path = (dir / "ckpt.bin").string();
  write_file_atomic(path, "old");
  try {
    AtomicFile f(path);
    f.write("new content", 11);
    f.write_zeros(100);
    EXPECT_EQ(f.position(), 111u);
    throw std::runtime_error("interrupted");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(read(path), "old");
  EXPECT_EQ(entries(dir), std::vector<std::string>{"ckpt.bin"});
  fs::remove_all(dir);
}

TEST(AtomicFile, AFailedWriteNamesThePathAndLeavesNothingBehind) {
  const fs::path dir = fresh_dir("fail");
  // The final name is taken by a folder: the rename fails after the data was written.
  fs::create_directories(dir / "x.png");
  const Tensor image = Tensor::zeros({4, 5, 3}, DType::u8);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { write_png((dir / "x.png").string(), image); },
                                         {"write_png", (dir / "x.png").string(), "cannot move the finished file"}));
  EXPECT_EQ(entries(dir), std::vector<std::string>{"x.png"});
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { write_png((dir / "missing" / "y.png").string(), image); },
                                         {"write_png", "y.png", "cannot create a temporary file"}));
  EXPECT_EQ(entries(dir), std::vector<std::string>{"x.png"});
  write_png((dir / "z.png").string(), image);
  EXPECT_EQ(read_image((dir / "z.png").string()).shape(), (Shape{4, 5, 3}));
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"x.png", "z.png"}));
  fs::remove_all(dir);
}
