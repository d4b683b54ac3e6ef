#include "core/temp_file.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"

namespace fs = std::filesystem;
using annamosaic::PrivateFile;

namespace {
// Sets $TMPDIR for one test, restoring the old value after it.
struct TmpdirOverride {
  std::string old;
  bool had;
  explicit TmpdirOverride(const std::string& dir) : had(std::getenv("TMPDIR") != nullptr) {
    if (had) old = std::getenv("TMPDIR");
    setenv("TMPDIR", dir.c_str(), 1);
  }
  ~TmpdirOverride() { had ? setenv("TMPDIR", old.c_str(), 1) : unsetenv("TMPDIR"); }
};
}  // namespace

TEST(PrivateFile, HoldsTheTextUnderANewNameAndGoesWithItsOwner) {
  const fs::path dir = fs::temp_directory_path() / "annamosaic_test_private_file";
  fs::remove_all(dir);
  fs::create_directories(dir);
  TmpdirOverride tmp(dir.string());
  std::string first;
  {
    PrivateFile a("demo", ".ini", "[run]\nframes = all\n");
    PrivateFile b("demo", ".ini", "other");
    first = a.path();
    EXPECT_NE(a.path(), b.path());
    EXPECT_EQ(fs::path(a.path()).parent_path(), dir);
    EXPECT_EQ(fs::path(a.path()).extension(), ".ini");
    std::ifstream in(a.path());
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str(), "[run]\nframes = all\n");
    struct stat st {};
    ASSERT_EQ(stat(a.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);  // nobody else reads or replaces it
  }
  EXPECT_FALSE(fs::exists(first));
  EXPECT_TRUE(fs::is_empty(dir));
  fs::remove_all(dir);
}

TEST(PrivateFile, AMissingTemporaryFolderIsNamed) {
  TmpdirOverride tmp("/nonexistent/annamosaic-tmp");
  try {
    PrivateFile f("demo", ".ini", "x");
    FAIL() << "expected an IoError";
  } catch (const annamosaic::IoError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/annamosaic-tmp"), std::string::npos) << e.what();
  }
}
