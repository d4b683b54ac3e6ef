// Legend text for small RGB pictures: where ink lands, sizes, scaling, clipping, unknown characters.
#include <gtest/gtest.h>

#include <set>

#include "imgproc/text_rgb.hpp"

using namespace annamosaic;

namespace {

const std::array<std::uint8_t, 3> kInk{0, 0, 0};

bool inked(const RgbCanvas& c, int x, int y) {
  const std::uint8_t* p = &c.rgb[(static_cast<std::size_t>(y) * c.width + x) * 3];
  return p[0] == 0 && p[1] == 0 && p[2] == 0;
}

// The ink of one character drawn alone at scale 1, as a string of '#' and ' ' (its 5 x 7 box and
// the descent below it).
std::string ink_of(char ch) {
  RgbCanvas c(kGlyphWidthPx, kGlyphHeightPx + kGlyphDescentPx, 255);
  draw_text(c, 0, 0, std::string(1, ch), kInk);
  std::string s;
  for (int y = 0; y < kGlyphHeightPx + kGlyphDescentPx; ++y)
    for (int x = 0; x < kGlyphWidthPx; ++x) s += inked(c, x, y) ? '#' : ' ';
  return s;
}

}  // namespace

TEST(TextRgb, ADigitInksWhereItsGlyphSaysAndNowhereElse) {
  RgbCanvas c(20, 20, 255);
  draw_text(c, 3, 4, "1", kInk, 2);
  // '1': the stem is column 2 of the glyph, rows 0-6 (the serif row 6 spans columns 1-3).
  EXPECT_TRUE(inked(c, 3 + 2 * 2, 4 + 2 * 3));
  EXPECT_TRUE(inked(c, 3 + 2 * 2 + 1, 4 + 2 * 3 + 1));  // scale 2: each glyph pixel is 2 x 2
  EXPECT_FALSE(inked(c, 3, 4));                         // glyph pixel (0, 0) is blank
  std::size_t ink = 0;
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 20; ++x)
      if (inked(c, x, y)) {
        ++ink;
        EXPECT_TRUE(x >= 3 && x < 3 + 10 && y >= 4 && y < 4 + 14) << x << "," << y;  // inside its 10 x 14 box
      }
  EXPECT_EQ(ink, 4u * 10u);  // the glyph has 10 ink pixels
}

TEST(TextRgb, EveryDigitAndLetterLooksDifferent) {
  std::set<std::string> seen;
  for (char ch : std::string("0123456789abcdefghijklmnopqrstuvwxyz.,:;_-+=()/%<> ")) {
    const std::string g = ink_of(ch);
    EXPECT_TRUE(seen.insert(g).second) << "'" << ch << "' looks like another character";
  }
  EXPECT_EQ(ink_of('A'), ink_of('a'));  // upper case is drawn as lower case
  EXPECT_NE(ink_of('a'), ink_of('?'));
  EXPECT_EQ(ink_of('?'), ink_of('~'));  // anything else: the same hollow box, never nothing
  EXPECT_NE(ink_of('?'), ink_of(' '));
}

TEST(TextRgb, GPQAndYHangBelowTheLineOthersSitOn) {
  // 'p' and 'n' share their x-height rows (2-6 of the box); p's stem goes on 2 rows below it, and
  // nothing of 'n' does (probe85: "qc.json" read as "4c.json" with descenders drawn inside the box).
  for (char ch : std::string("gpqy")) {
    const std::string g = ink_of(ch);
    EXPECT_EQ(g.substr(0, 2 * kGlyphWidthPx), std::string(2 * kGlyphWidthPx, ' ')) << ch;  // nothing above the x-height
    EXPECT_NE(g.substr(kGlyphHeightPx * kGlyphWidthPx).find('#'), std::string::npos) << ch;  // ink below the line
  }
  EXPECT_EQ(ink_of('n').substr(kGlyphHeightPx * kGlyphWidthPx), std::string(kGlyphDescentPx * kGlyphWidthPx, ' '));
}

TEST(TextRgb, WidthsAndClipping) {
  EXPECT_EQ(text_width_px(""), 0);
  EXPECT_EQ(text_width_px("8"), kGlyphWidthPx);
  EXPECT_EQ(text_width_px("10", 2), 2 * (kGlyphAdvancePx + kGlyphWidthPx));
  RgbCanvas c(8, 8, 255);
  draw_text(c, -3, 5, "0123456789", kInk, 3);  // mostly outside: drawn where it lands, no overrun
  EXPECT_EQ(c.rgb.size(), 8u * 8u * 3u);
  c.fill_rect(6, 6, 10, 10, {1, 2, 3});
  EXPECT_EQ(c.rgb[(7 * 8 + 7) * 3 + 2], 3);
}
