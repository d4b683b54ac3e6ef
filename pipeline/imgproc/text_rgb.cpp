#include "imgproc/text_rgb.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

namespace annamosaic {
namespace {

using Glyph = std::array<const char*, kGlyphHeightPx>;

// Drawn here, 5 x 7, '#' = ink.
const std::map<char, Glyph>& glyphs() {
  static const std::map<char, Glyph> g = {
      {'0', {" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "}},
      {'1', {"  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "}},
      {'2', {" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"}},
      {'3', {"#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "}},
      {'4', {"   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "}},
      {'5', {"#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "}},
      {'6', {"  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "}},
      {'7', {"#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "}},
      {'8', {" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "}},
      {'9', {" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "}},
      {'a', {"     ", "     ", " ### ", "    #", " ####", "#   #", " ####"}},
      {'b', {"#    ", "#    ", "# ## ", "##  #", "#   #", "#   #", "#### "}},
      {'c', {"     ", "     ", " ### ", "#    ", "#    ", "#   #", " ### "}},
      {'d', {"    #", "    #", " ## #", "#  ##", "#   #", "#   #", " ####"}},
      {'e', {"     ", "     ", " ### ", "#   #", "#####", "#    ", " ### "}},
      {'f', {"  ## ", " #  #", " #   ", "###  ", " #   ", " #   ", " #   "}},
      {'g', {" ####", "#   #", "#   #", "#   #", " ####", "    #", " ### "}},
      {'h', {"#    ", "#    ", "# ## ", "##  #", "#   #", "#   #", "#   #"}},
      {'i', {"  #  ", "     ", " ##  ", "  #  ", "  #  ", "  #  ", " ### "}},
      {'j', {"   # ", "     ", "  ## ", "   # ", "   # ", "#  # ", " ##  "}},
      {'k', {"#    ", "#    ", "#  # ", "# #  ", "##   ", "# #  ", "#  # "}},
      {'l', {" ##  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "}},
      {'m', {"     ", "     ", "## # ", "# # #", "# # #", "#   #", "#   #"}},
      {'n', {"     ", "     ", "# ## ", "##  #", "#   #", "#   #", "#   #"}},
      {'o', {"     ", "     ", " ### ", "#   #", "#   #", "#   #", " ### "}},
      {'p', {"# ## ", "##  #", "#   #", "##  #", "# ## ", "#    ", "#    "}},
      {'q', {" ## #", "#  ##", "#   #", "#  ##", " ## #", "    #", "    #"}},
      {'r', {"     ", "     ", "# ## ", "##  #", "#    ", "#    ", "#    "}},
      {'s', {"     ", "     ", " ### ", "#    ", " ### ", "    #", "#### "}},
      {'t', {" #   ", " #   ", "###  ", " #   ", " #   ", " #  #", "  ## "}},
      {'u', {"     ", "     ", "#   #", "#   #", "#   #", "#  ##", " ## #"}},
      {'v', {"     ", "     ", "#   #", "#   #", "#   #", " # # ", "  #  "}},
      {'w', {"     ", "     ", "#   #", "#   #", "# # #", "# # #", " # # "}},
      {'x', {"     ", "     ", "#   #", " # # ", "  #  ", " # # ", "#   #"}},
      {'y', {"#   #", "#   #", "#   #", "#  ##", " ## #", "    #", " ### "}},
      {'z', {"     ", "     ", "#####", "   # ", "  #  ", " #   ", "#####"}},
      {' ', {"     ", "     ", "     ", "     ", "     ", "     ", "     "}},
      {'.', {"     ", "     ", "     ", "     ", "     ", " ##  ", " ##  "}},
      {',', {"     ", "     ", "     ", "     ", " ##  ", "  #  ", " #   "}},
      {':', {"     ", " ##  ", " ##  ", "     ", " ##  ", " ##  ", "     "}},
      {';', {"     ", " ##  ", " ##  ", "     ", " ##  ", "  #  ", " #   "}},
      {'_', {"     ", "     ", "     ", "     ", "     ", "     ", "#####"}},
      {'-', {"     ", "     ", "     ", "#####", "     ", "     ", "     "}},
      {'+', {"     ", "  #  ", "  #  ", "#####", "  #  ", "  #  ", "     "}},
      {'=', {"     ", "     ", "#####", "     ", "#####", "     ", "     "}},
      {'(', {"   # ", "  #  ", " #   ", " #   ", " #   ", "  #  ", "   # "}},
      {')', {" #   ", "  #  ", "   # ", "   # ", "   # ", "  #  ", " #   "}},
      {'/', {"     ", "    #", "   # ", "  #  ", " #   ", "#    ", "     "}},
      {'%', {"##   ", "##  #", "   # ", "  #  ", " #   ", "#  ##", "   ##"}},
      {'<', {"   # ", "  #  ", " #   ", "#    ", " #   ", "  #  ", "   # "}},
      {'>', {" #   ", "  #  ", "   # ", "    #", "   # ", "  #  ", " #   "}},
  };
  return g;
}

const Glyph kUnknown = {"#####", "#   #", "#   #", "#   #", "#   #", "#   #", "#####"};

}  // namespace

RgbCanvas::RgbCanvas(int w, int h, std::uint8_t fill)
    : width(w), height(h), rgb(static_cast<std::size_t>(std::max(w, 0)) * static_cast<std::size_t>(std::max(h, 0)) * 3, fill) {}

void RgbCanvas::set(int x, int y, const std::array<std::uint8_t, 3>& c) {
  if (x < 0 || y < 0 || x >= width || y >= height) return;
  std::uint8_t* p = &rgb[(static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)) * 3];
  p[0] = c[0], p[1] = c[1], p[2] = c[2];
}

void RgbCanvas::fill_rect(int x, int y, int w, int h, const std::array<std::uint8_t, 3>& c) {
  for (int yy = std::max(y, 0); yy < std::min(y + h, height); ++yy)
    for (int xx = std::max(x, 0); xx < std::min(x + w, width); ++xx) set(xx, yy, c);
}

int text_width_px(const std::string& text, int scale) {
  if (text.empty()) return 0;
  return (static_cast<int>(text.size()) * kGlyphAdvancePx - (kGlyphAdvancePx - kGlyphWidthPx)) * scale;
}

void draw_line(RgbCanvas& canvas, double x0, double y0, double x1, double y1, const std::array<std::uint8_t, 3>& colour,
               int thickness_px, int dash_px) {
  const double length = std::hypot(x1 - x0, y1 - y0);
  const int steps = std::max(1, static_cast<int>(std::ceil(length)));
  const int t = std::max(1, thickness_px);
  for (int i = 0; i <= steps; ++i) {
    if (dash_px > 0 && (i / dash_px) % 2 == 1) continue;
    const double f = static_cast<double>(i) / steps;
    const int x = static_cast<int>(std::lround(x0 + f * (x1 - x0))) - t / 2;
    const int y = static_cast<int>(std::lround(y0 + f * (y1 - y0))) - t / 2;
    canvas.fill_rect(x, y, t, t, colour);
  }
}

void draw_text(RgbCanvas& canvas, int x, int y, const std::string& text, const std::array<std::uint8_t, 3>& colour, int scale) {
  const auto& g = glyphs();
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char ch = static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
    const auto it = g.find(ch);
    const Glyph& glyph = it == g.end() ? kUnknown : it->second;
    const int gx = x + static_cast<int>(i) * kGlyphAdvancePx * scale;
    // Letters with a descender: their glyph's rows 0-4 are the x-height, drawn where the others'
    // rows 2-6 are.
    const bool descends = ch == 'g' || ch == 'p' || ch == 'q' || ch == 'y';
    const int gy = y + (descends ? kGlyphDescentPx * scale : 0);
    for (int row = 0; row < kGlyphHeightPx; ++row)
      for (int col = 0; col < kGlyphWidthPx; ++col)
        if (glyph[static_cast<std::size_t>(row)][col] == '#') canvas.fill_rect(gx + col * scale, gy + row * scale, scale, scale, colour);
  }
}

}  // namespace annamosaic
