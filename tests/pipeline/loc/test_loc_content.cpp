// A table's content fingerprint: the same for its rows in another order or another file format,
// different for one localization moved or dropped.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include "loc/loc_content.hpp"
#include "loc/table_reader.hpp"

using namespace annamosaic;

namespace {
std::string data(const std::string& name) { return std::string(ANNAMOSAIC_TEST_DATA) + "/" + name; }
}  // namespace

TEST(ContentFingerprint, ARealTableShuffledAndReExportedIsTheSame) {
  const LocTable t = read_table(data("epfl2013-bundled-tubes-hd-groundtruth.csv"), TableReadOptions{});
  ASSERT_GT(t.size(), 1000u);
  // Its rows shuffled and written tab-separated, y before x, with 6 decimals (a re-export; one at
  // fewer decimals than the file has rounds some localizations to other keys: another table).
  std::vector<std::size_t> order(t.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::shuffle(order.begin(), order.end(), std::mt19937(7));
  const auto path = std::filesystem::temp_directory_path() / "annamosaic-test-loc-content.tsv";
  {
    std::ofstream out(path);
    out << "y [nm]\tframe\tx [nm]\n";
    char line[96];
    for (std::size_t i : order) {
      std::snprintf(line, sizeof line, "%.6f\t%d\t%.6f\n", t.y_nm[i], t.frame[i], t.x_nm[i]);
      out << line;
    }
  }
  const LocTable copy = read_table(path.string(), TableReadOptions{});
  std::filesystem::remove(path);
  ASSERT_EQ(copy.size(), t.size());
  EXPECT_NE(copy.x_nm[0], t.x_nm[0]);  // the order did change
  EXPECT_EQ(content_fingerprint(copy), content_fingerprint(t));
  EXPECT_EQ(content_fingerprint(t).rfind("locset:", 0), 0u);
}

TEST(ContentFingerprint, OneLocalizationMovedDroppedOrInAnotherFrameIsAnotherTable) {
  const LocTable t = read_table(data("epfl2013-bundled-tubes-hd-groundtruth.csv"), TableReadOptions{});
  const std::string fp = content_fingerprint(t);
  LocTable moved = t;
  moved.x_nm[500] += 1.0;
  EXPECT_NE(content_fingerprint(moved), fp);
  LocTable other_frame = t;
  other_frame.frame[500] += 1;
  EXPECT_NE(content_fingerprint(other_frame), fp);
  LocTable dropped = t;
  dropped.frame.pop_back(), dropped.x_nm.pop_back(), dropped.y_nm.pop_back();
  EXPECT_NE(content_fingerprint(dropped), fp);
  // A localization added twice does not cancel out (a sum of keys; with an exclusive-or, t plus
  // row 5 twice and t plus row 6 twice would both read as t).
  auto plus_twice = [&](std::size_t row) {
    LocTable u = t;
    for (int k = 0; k < 2; ++k) u.frame.push_back(t.frame[row]), u.x_nm.push_back(t.x_nm[row]), u.y_nm.push_back(t.y_nm[row]);
    return content_fingerprint(u);
  };
  EXPECT_NE(plus_twice(5), plus_twice(6));
  EXPECT_EQ(localization_key(3, 10.0001, 20.0), localization_key(3, 10.0, 20.0));  // under 0.001 nm: the same
  EXPECT_NE(localization_key(3, 10.002, 20.0), localization_key(3, 10.0, 20.0));
}
