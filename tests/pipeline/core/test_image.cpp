#include <gtest/gtest.h>

#include <cstdint>

#include "core/image.hpp"

using namespace annamosaic;

TEST(Image, IsZeroedRowMajorAndAligned) {
  ImageF img(5, 3);
  EXPECT_EQ(img.width(), 5u);
  EXPECT_EQ(img.height(), 3u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(img.data()) % ImageF::kAlignment, 0u);
  for (float v : img) EXPECT_EQ(v, 0.0f);
  img(4, 2) = 7.0f;  // (x, y)
  EXPECT_EQ(img.data()[2 * 5 + 4], 7.0f);
  EXPECT_EQ(img.row(2)[4], 7.0f);
}

TEST(Image, RegionViewsShareMemoryWithStride) {
  ImageU16 img(8, 6);
  auto v = img.view().region(2, 1, 3, 4);
  EXPECT_EQ(v.width(), 3u);
  EXPECT_EQ(v.stride(), 8u);
  v(0, 0) = 42;
  EXPECT_EQ(img(2, 1), 42);
  EXPECT_THROW(img.view().region(6, 0, 3, 1), std::out_of_range);
  auto copy = to_image(ImageView<const std::uint16_t>(v));
  EXPECT_EQ(copy.width(), 3u);
  EXPECT_EQ(copy(0, 0), 42);
}

TEST(Image, CloneIsDeepAndMoveLeavesEmpty) {
  ImageF a(2, 2);
  a(1, 1) = 3;
  ImageF b = a.clone();
  b(1, 1) = 5;
  EXPECT_EQ(a(1, 1), 3);
  ImageF c = std::move(a);
  EXPECT_EQ(c(1, 1), 3);
  EXPECT_TRUE(ImageF().empty());
}
