#include "core/checksum.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"

using namespace annamosaic;

TEST(Checksum, KnownFnv1a64Values) {
  // Published FNV-1a 64 test vectors: "" is the offset basis, "a" and "foobar" from the FNV page.
  EXPECT_EQ(text_checksum(""), "fnv1a64:cbf29ce484222325");
  EXPECT_EQ(text_checksum("a"), "fnv1a64:af63dc4c8601ec8c");
  EXPECT_EQ(text_checksum("foobar"), "fnv1a64:85944171f73967e8");
}

TEST(Checksum, IncrementalEqualsWholeAndFileEqualsText) {
  Fnv1a64 h;
  h.add("foo", 3).add("bar", 3);
  EXPECT_EQ(h.text(), text_checksum("foobar"));
  const std::string path = (std::filesystem::temp_directory_path() / "annamosaic_test_checksum.bin").string();
  std::string bytes(3 << 20, '\0');  // more than one read buffer
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  std::ofstream(path, std::ios::binary) << bytes;
  EXPECT_EQ(file_checksum(path), text_checksum(bytes));
  std::filesystem::remove(path);
  EXPECT_THROW(file_checksum(path), IoError);
}
