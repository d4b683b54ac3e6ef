#pragma once
// Labels and lines in small RGB pictures (the QC pictures): a 5 x 7 pixel font of digits,
// lower-case letters and the punctuation numbers and units need, drawn at an integer scale.
// Upper-case letters are drawn as lower-case; any other character as a hollow box, so nothing
// is silently left out. Pure: draws into a caller's buffer, clipped to it.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace annamosaic {

struct RgbCanvas {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb;  // width x height x 3, row-major

  RgbCanvas() = default;
  RgbCanvas(int w, int h, std::uint8_t fill = 255);
  void set(int x, int y, const std::array<std::uint8_t, 3>& c);  // ignored outside
  void fill_rect(int x, int y, int w, int h, const std::array<std::uint8_t, 3>& c);
};

constexpr int kGlyphWidthPx = 5, kGlyphHeightPx = 7, kGlyphAdvancePx = 6;
// g, p, q and y hang this far below the others' baseline (their x-height then matches the other
// lower-case letters'; drawn within the 7 rows they read as 9, 4, P and 9): keep that much room
// below a line.
constexpr int kGlyphDescentPx = 2;

// Width in pixels of `text` at `scale` (kGlyphAdvancePx x scale per character, less the last gap).
int text_width_px(const std::string& text, int scale = 1);

// A straight line from (x0, y0) to (x1, y1), `thickness_px` wide (a square pen); dashed where
// dash_px > 0 (dash_px drawn, dash_px left out, along the line).
void draw_line(RgbCanvas& canvas, double x0, double y0, double x1, double y1, const std::array<std::uint8_t, 3>& colour,
               int thickness_px = 1, int dash_px = 0);

// Draws `text` with its top-left corner at (x, y).
void draw_text(RgbCanvas& canvas, int x, int y, const std::string& text, const std::array<std::uint8_t, 3>& colour,
               int scale = 1);

}  // namespace annamosaic
