#include "core/checksum.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"

using namespace annamosaic;

TEST(Checksum, KnownXxh3Values) {
  // XXH3-64 (seed 0) as `xxhsum -H3` (Debian package xxhash 0.8.1) prints them.
  EXPECT_EQ(text_checksum(""), "xxh3:2d06800538d394c2");
  EXPECT_EQ(text_checksum("a"), "xxh3:e6c632b61e964e1f");
  EXPECT_EQ(text_checksum("foobar"), "xxh3:d78fda63144c5c84");
}

TEST(Checksum, KnownFnv1a64Values) {
  // Published FNV-1a 64 test vectors: "" is the offset basis, "a" and "foobar" from the FNV page.
  EXPECT_EQ(Fnv1a64().text(), "fnv1a64:cbf29ce484222325");
  EXPECT_EQ(Fnv1a64().add("a", 1).text(), "fnv1a64:af63dc4c8601ec8c");
  EXPECT_EQ(Fnv1a64().add("foo", 3).add("bar", 3).text(), "fnv1a64:85944171f73967e8");
}

TEST(Checksum, FileEqualsTextAndOldRecordsAreCheckedWithTheirAlgorithm) {
  const std::string path = (std::filesystem::temp_directory_path() / "annamosaic_test_checksum.bin").string();
  std::string bytes(3 << 20, '\0');  // more than one read buffer
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  std::ofstream(path, std::ios::binary) << bytes;
  EXPECT_EQ(file_checksum(path), text_checksum(bytes));
  // A manifest written before XXH3 holds FNV-1a checksums: the same file still matches them.
  const std::string fnv = Fnv1a64().add(bytes.data(), bytes.size()).text();
  EXPECT_EQ(file_checksum_as(path, fnv), fnv);
  EXPECT_EQ(file_checksum_as(path, "xxh3:0000000000000000"), file_checksum(path));
  std::filesystem::remove(path);
  EXPECT_THROW(file_checksum(path), IoError);
  EXPECT_THROW(file_checksum_as(path, fnv), IoError);
}
