#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

using namespace annamosaic;
namespace fs = std::filesystem;

static fs::path scratch() {
  fs::path d = fs::path(ANNAMOSAIC_TEST_TMP) / "atomic";
  fs::create_directories(d);
  return d;
}

TEST(AtomicFile, NothingUnderTheFinalNameUntilCommit) {
  const fs::path p = scratch() / "out.txt";
  fs::remove(p);
  {
    AtomicFile f(p.string());
    std::ofstream(f.temp_path()) << "partial";
    EXPECT_FALSE(fs::exists(p));
    // destroyed without commit: an interrupted write leaves nothing
  }
  EXPECT_FALSE(fs::exists(p));
  for (auto& e : fs::directory_iterator(scratch())) EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos);
}

TEST(AtomicFile, CommitRenames) {
  const fs::path p = scratch() / "done.txt";
  write_file_atomic(p.string(), "hello\n");
  std::ifstream in(p);
  std::string s;
  std::getline(in, s);
  EXPECT_EQ(s, "hello");
}

TEST(AtomicFile, MissingFolderIsAnIoErrorNamingThePath) {
  const std::string p = (scratch() / "no" / "such" / "dir" / "x.txt").string();
  try {
    write_file_atomic(p, "x");
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("no/such/dir"), std::string::npos) << e.what();
  }
}
