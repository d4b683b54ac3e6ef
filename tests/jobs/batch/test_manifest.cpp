#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "batch/manifest.hpp"

using namespace annamosaic;
namespace fs = std::filesystem;

TEST(Manifest, AppendLoadLatestWinsAndTornLinesAreIgnored) {
  fs::create_directories(ANNAMOSAIC_TEST_TMP);
  const std::string p = std::string(ANNAMOSAIC_TEST_TMP) + "/manifest.jsonl";
  fs::remove(p);
  Manifest m(p);
  EXPECT_TRUE(m.load().empty());
  m.append({1, "failed", "", "", "bad.csv:3: not a number", {}});
  m.append({2, "done", "fov/0002.h5", "fnv1a64:00", "", {{"rank", 1}}});
  m.append({1, "done", "fov/0001.h5", "fnv1a64:11", "", {}});
  std::ofstream(p, std::ios::app) << "{\"id\": 3, \"stat";  // killed mid-line
  const auto recs = m.load();
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs.at(1).status, "done");
  EXPECT_EQ(recs.at(2).extra["rank"], 1);
  Manifest rerun(p);  // the next run appends after the torn line: its records stay intact
  rerun.append({4, "done", "x", "y", "", {}});
  EXPECT_EQ(rerun.load().count(4), 1u);
  EXPECT_EQ(rerun.load().size(), 3u);
}

TEST(Manifest, LinesThatAreNotRecordsAreSkippedNotFatal) {
  // An edited manifest: garbage, a record of the wrong shape ("id" as text), an array. The
  // records around them still count (a warning names the lines).
  const std::string p = std::string(ANNAMOSAIC_TEST_TMP) + "/manifest_edited.jsonl";
  std::ofstream(p) << "garbage line\n"
                   << "{\"id\": 1, \"status\": \"done\", \"file\": \"fov/0001.h5\"}\n"
                   << "{\"id\": \"4\", \"status\": \"done\"}\n"
                   << "[1, 2]\n"
                   << "{\"id\": 3, \"stat\n"  // cut short by a kill: normal, not counted
                   << "{\"id\": 2, \"status\": \"failed\", \"reason\": \"x\"}\n";
  std::vector<std::size_t> not_records;
  const auto recs = Manifest(p).load(&not_records);
  EXPECT_EQ(not_records, (std::vector<std::size_t>{1, 3, 4}));
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs.at(1).status, "done");
  EXPECT_EQ(recs.at(2).status, "failed");
}

TEST(Manifest, DamagedLinesAreSetAsideByTheNextRunNotKeptForever) {
  // A torn line in the middle (a kill, then a rerun appended after it) and an edited line: a run
  // holding the folder takes them out, keeps them in manifest.jsonl.removed-lines, and every line
  // left is a whole record again (for status, and for jq or Python reading it line by line).
  const std::string p = std::string(ANNAMOSAIC_TEST_TMP) + "/manifest_repair.jsonl";
  fs::remove(p + ".removed-lines");
  std::ofstream(p) << "{\"id\": 1, \"status\": \"done\", \"file\": \"fov/0001.h5\"}\n"
                   << "{\"id\": 2, \"stat\n"
                   << "GARBAGE{{{\n"
                   << "{\"id\": 3, \"status\": \"failed\", \"reason\": \"x\"}\n";
  Manifest m(p);
  EXPECT_EQ(m.set_aside_damaged_lines(), 2u);
  std::vector<std::size_t> not_records;
  const auto recs = m.load(&not_records);
  EXPECT_TRUE(not_records.empty());
  EXPECT_EQ(recs.size(), 2u);
  std::ifstream in(p);
  std::string line;
  std::size_t lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_EQ(line.rfind("{\"id\": ", 0), 0u) << line;
  }
  EXPECT_EQ(lines, 2u);
  std::ifstream aside(p + ".removed-lines");
  const std::string removed((std::istreambuf_iterator<char>(aside)), std::istreambuf_iterator<char>());
  EXPECT_EQ(removed, "{\"id\": 2, \"stat\nGARBAGE{{{\n");
  m.append({2, "done", "fov/0002.h5", "xxh3:00", "", {}});
  EXPECT_EQ(m.load().size(), 3u);
  EXPECT_EQ(m.set_aside_damaged_lines(), 0u);  // whole records only: the file is left as it is
}

TEST(Manifest, ChecksumChangesWithContent) {
  const std::string p = std::string(ANNAMOSAIC_TEST_TMP) + "/sum.bin";
  std::ofstream(p) << "hello";
  const std::string a = file_checksum(p);
  EXPECT_EQ(a, text_checksum("hello"));
  std::ofstream(p) << "hellp";
  EXPECT_NE(file_checksum(p), a);
}
