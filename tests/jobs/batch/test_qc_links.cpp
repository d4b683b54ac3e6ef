#include <gtest/gtest.h>

#include <array>

#include "batch/qc_links.hpp"

using namespace annamosaic;

namespace {
// The colour of a picture's pixel (x, y).
std::array<int, 3> pixel(const RgbCanvas& c, int x, int y) {
  const std::size_t i = 3 * (static_cast<std::size_t>(y) * c.width + x);
  return {c.rgb[i], c.rgb[i + 1], c.rgb[i + 2]};
}

// 2 x 2 tiles of 100 px overlapping by 10 px, as layout.json writes them; tile 3 placed by the stage.
nlohmann::json two_by_two() {
  nlohmann::json tiles = nlohmann::json::array();
  for (int id = 0; id < 4; ++id)
    tiles.push_back({{"id", id}, {"row", id / 2}, {"col", id % 2}, {"x_px", 90.0 * (id % 2)}, {"y_px", 90.0 * (id / 2)},
                     {"width_px", 100}, {"height_px", 100}, {"component", id == 3 ? 1 : 0},
                     {"placed_by", id == 3 ? "stage" : "registration"}});
  nlohmann::json edges = nlohmann::json::array();
  edges.push_back({{"a", 0}, {"b", 1}, {"valid", true}, {"accepted", true}, {"used", true}, {"ncc", 0.9}, {"residual_px", 0.1}});
  edges.push_back({{"a", 0}, {"b", 2}, {"valid", true}, {"accepted", true}, {"used", true}, {"ncc", 0.8}, {"residual_px", 5.0}});
  edges.push_back({{"a", 1}, {"b", 3}, {"valid", true}, {"accepted", false}, {"used", false}, {"ncc", 0.2}, {"residual_px", 30.0},
                   {"rejected", "ncc below the signal's threshold (0.400)"}});
  edges.push_back({{"a", 2}, {"b", 3}, {"valid", false}, {"accepted", false}, {"used", false},
                   {"rejected", "no match: too little structure in the overlap"}});
  return {{"tiles", tiles}, {"edges", edges}};
}
}  // namespace

// Each overlap's fate is a line between the tiles' centres in its colour: a user sees which parts
// of the mosaic rest on registration and which on the stage, without reading layout.json.
TEST(QcLinks, EachLinkIsDrawnInTheColourOfWhatBecameOfIt) {
  const RgbCanvas c = links_picture(two_by_two(), 2.0, {}, 190);  // 1 picture px per layout px
  ASSERT_GT(c.width, 0);
  const auto at = [&](int x, int y) { return pixel(c, x, y); };
  const int m = 8;  // the picture's margin
  // Centres: tile 0 (50, 50), 1 (140, 50), 2 (50, 140), 3 (140, 140), plus the margin.
  EXPECT_EQ(at(m + 70, m + 50), (std::array<int, 3>{0, 160, 0}));    // 0-1 used
  EXPECT_EQ(at(m + 50, m + 120), (std::array<int, 3>{255, 140, 0}));  // 0-2 used, 5 px off the layout (> 2)
  EXPECT_EQ(at(m + 140, m + 75), (std::array<int, 3>{220, 0, 0}));    // 1-3 matched, rejected
  // 2-3 no match: dashed grey, some of the way grey and some not.
  int grey = 0, other = 0;
  for (int x = m + 60; x < m + 130; ++x) (at(x, m + 140) == std::array<int, 3>{140, 140, 140} ? grey : other) += 1;
  EXPECT_GT(grey, 15);
  EXPECT_GT(other, 15);
  // Tiles shaded by how they were placed: 3 by the stage alone, 0 with the main group.
  EXPECT_EQ(at(m + 175, m + 175), (std::array<int, 3>{255, 200, 200}));
  EXPECT_EQ(at(m + 30, m + 80), (std::array<int, 3>{228, 228, 228}));
  // A legend below the tiles.
  EXPECT_GT(c.height, 190 + 5 * 24);
}

// A failed FoV's tile took no part: crossed out on white, not shaded as placed by the stage
// (probe91: counted among them, the legend's counts disagreed with qc.json's).
TEST(QcLinks, AFailedFovsTileIsCrossedOutNotShadedAsPlaced) {
  const RgbCanvas c = links_picture(two_by_two(), 2.0, {3}, 190);
  const auto at = [&](int x, int y) { return pixel(c, x, y); };
  const int m = 8;
  EXPECT_EQ(at(m + 175, m + 175), (std::array<int, 3>{220, 0, 0}));    // on its cross (tile 3: 90..190)
  EXPECT_EQ(at(m + 175, m + 110), (std::array<int, 3>{255, 255, 255}));  // off it: white, not pink
}

TEST(QcLinks, ALayoutWithoutTilesDrawsNothing) {
  EXPECT_EQ(links_picture(nlohmann::json::object(), 2.0).width, 0);
  EXPECT_EQ(links_picture({{"tiles", nlohmann::json::array()}}, 2.0).width, 0);
}
