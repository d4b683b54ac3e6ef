#include <gtest/gtest.h>
#include <unistd.h>

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

// What killed writers left: removed; a running writer's file survives when no lock guards the
// folder (a training's checkpoint folder); other names are never touched.
TEST(AtomicFile, AbandonedTemporariesAreRemoved) {
  const fs::path d = fs::path(ANNAMOSAIC_TEST_TMP) / "abandoned";
  fs::remove_all(d);
  fs::create_directories(d);
  const std::string mine = "a.h5.tmp." + std::to_string(::getpid()), dead = "b.h5.tmp.999999999";
  for (const std::string& n : {mine, dead, std::string("c.h5.tmp.x1"), std::string("d.h5")})
    std::ofstream(d / n) << "12345";
  EXPECT_EQ(remove_abandoned_temporaries(d.string(), /*only_dead_writers=*/true), (std::pair<std::size_t, std::uintmax_t>{1, 5}));
  EXPECT_TRUE(fs::exists(d / mine));
  EXPECT_FALSE(fs::exists(d / dead));
  EXPECT_EQ(remove_abandoned_temporaries(d.string(), /*only_dead_writers=*/false).first, 1u);  // under a lock: all
  EXPECT_FALSE(fs::exists(d / mine));
  EXPECT_TRUE(fs::exists(d / "c.h5.tmp.x1"));
  EXPECT_TRUE(fs::exists(d / "d.h5"));
}

// An earlier file is kept under "earlier-YYYYMMDD-HHMMSS", numbered on when that name is taken
// (two keeps within one second must not replace each other).
TEST(AtomicFile, EarlierFileSuffixSkipsTakenNames) {
  const std::string first = earlier_file_suffix([](const std::string&) { return false; });
  ASSERT_EQ(first.size(), std::string("earlier-20261206-201500").size()) << first;
  EXPECT_EQ(first.rfind("earlier-20", 0), 0u) << first;
  int asked = 0;
  const std::string third = earlier_file_suffix([&](const std::string&) { return ++asked <= 2; });
  EXPECT_EQ(third.substr(third.size() - 2), "-3") << third;
}

// "full?" is said only of a real file system short of room: not of sysfs or procfs, which have
// no blocks at all (probe102: a permission error under /sys was given "full?").
TEST(AtomicFile, LowSpaceNoteIsNotSaidOfPseudoFileSystems) {
  EXPECT_EQ(low_space_note("/sys/annamosaic-x.tif"), "");
  EXPECT_EQ(low_space_note("/proc/annamosaic-x.tif"), "");
  EXPECT_EQ(low_space_note("/nonexistent-folder/x.tif"), "");  // its folder cannot be looked at
}
