#include "anet/plot.hpp"

#include <png.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace annamosaic::anet {
namespace {

// 5x7 glyphs, one byte per row, bit 4 = leftmost column.
const std::map<char, std::array<unsigned char, 7>>& font() {
  static const std::map<char, std::array<unsigned char, 7>> f = {
      {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
      {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
      {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
      {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
      {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
      {'A', {0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
      {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}}, {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
      {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}}, {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
      {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}}, {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
      {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
      {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
      {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}}, {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
      {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
      {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
      {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
      {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
      {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}}, {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
      {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}}, {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
      {'.', {0, 0, 0, 0, 0, 0x0C, 0x0C}},                {'-', {0, 0, 0, 0x1F, 0, 0, 0}},
      {'+', {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0}},       {'^', {0x04, 0x0A, 0x11, 0, 0, 0, 0}},
      {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}}, {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
      {'/', {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0}},       {'=', {0, 0, 0x1F, 0, 0x1F, 0, 0}},
      {',', {0, 0, 0, 0, 0x0C, 0x04, 0x08}},             {' ', {0, 0, 0, 0, 0, 0, 0}}};
  return f;
}

struct Canvas {
  int w, h;
  std::vector<unsigned char> rgb;
  Canvas(int w_, int h_) : w(w_), h(h_), rgb(static_cast<std::size_t>(w_ * h_ * 3), 255) {}
  void set(int x, int y, const std::array<unsigned char, 3>& c) {
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    std::copy(c.begin(), c.end(), rgb.begin() + (static_cast<std::ptrdiff_t>(y) * w + x) * 3);
  }
  void dot(int x, int y, int r, const std::array<unsigned char, 3>& c) {
    for (int dy = -r; dy <= r; ++dy)
      for (int dx = -r; dx <= r; ++dx)
        if (dx * dx + dy * dy <= r * r) set(x + dx, y + dy, c);
  }
  // Thick line; `dashed` leaves gaps every 8 px along the line.
  void line(double x0, double y0, double x1, double y1, const std::array<unsigned char, 3>& c, int thick, bool dashed = false) {
    const double len = std::hypot(x1 - x0, y1 - y0);
    const int steps = std::max(1, static_cast<int>(len * 2));
    for (int i = 0; i <= steps; ++i) {
      const double t = static_cast<double>(i) / steps;
      if (dashed && static_cast<int>(t * len / 8) % 2 == 1) continue;
      dot(static_cast<int>(std::lround(x0 + t * (x1 - x0))), static_cast<int>(std::lround(y0 + t * (y1 - y0))), thick, c);
    }
  }
  // Text at (x, y) = top-left, `scale` px per font pixel; returns the width drawn.
  int text(int x, int y, const std::string& s, int scale, const std::array<unsigned char, 3>& c, bool vertical = false) {
    int pos = 0;
    for (char ch : s) {
      const auto it = font().find(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
      if (it != font().end())
        for (int r = 0; r < 7; ++r)
          for (int col = 0; col < 5; ++col)
            if (it->second[static_cast<std::size_t>(r)] & (0x10 >> col))
              for (int sy = 0; sy < scale; ++sy)
                for (int sx = 0; sx < scale; ++sx) {
                  if (vertical) set(x + r * scale + sy, y - (pos + col * scale + sx), c);
                  else set(x + pos + col * scale + sx, y + r * scale + sy, c);
                }
      pos += 6 * scale;
    }
    return pos;
  }
};

void write_png(const std::string& path, const Canvas& c) {
  AtomicFile out(path);
  std::FILE* f = std::fopen(out.temp_path().c_str(), "wb");
  if (!f) throw IoError(out.temp_path(), "cannot create");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(f);
    throw IoError(path, "PNG write failed");
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, static_cast<png_uint_32>(c.w), static_cast<png_uint_32>(c.h), 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < c.h; ++y)
    png_write_row(png, const_cast<png_bytep>(c.rgb.data() + static_cast<std::ptrdiff_t>(y) * c.w * 3));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  if (std::fclose(f) != 0) throw IoError(path, "write failed");
  out.commit();
}

std::string fmt_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2g", v);
  return buf;
}

}  // namespace

void write_line_plot(const std::string& path, const std::vector<PlotSeries>& series, const PlotOptions& opt) {
  Canvas c(opt.width, opt.height);
  const std::array<unsigned char, 3> black{0, 0, 0}, grey{215, 215, 215};
  const int left = 90, right = 30, top = 30, bottom = 70;
  const int pw = opt.width - left - right, ph = opt.height - top - bottom;
  const double lx0 = std::log10(opt.x_min), lx1 = std::log10(opt.x_max);
  auto px = [&](double x) { return left + (std::log10(x) - lx0) / (lx1 - lx0) * pw; };
  auto py = [&](double y) { return top + (1 - (y - opt.y_min) / (opt.y_max - opt.y_min)) * ph; };
  // Grid and ticks: every half decade on x, 0.1 on y.
  for (double e = std::ceil(lx0 * 2) / 2; e <= lx1 + 1e-9; e += 0.5) {
    const double x = px(std::pow(10.0, e));
    c.line(x, top, x, top + ph, grey, 0);
    const std::string label = "10^" + (std::fmod(e, 1.0) == 0 ? std::to_string(static_cast<int>(e)) : fmt_number(e));
    c.text(static_cast<int>(x) - static_cast<int>(label.size()) * 6, top + ph + 8, label, 2, black);
  }
  const double ystep = (opt.y_max - opt.y_min) > 0.5 ? 0.1 : 0.05;
  for (double v = opt.y_min; v <= opt.y_max + 1e-9; v += ystep) {
    const double y = py(v);
    c.line(left, y, left + pw, y, grey, 0);
    c.text(left - 50, static_cast<int>(y) - 7, fmt_number(v), 2, black);
  }
  c.line(left, top, left, top + ph, black, 1);
  c.line(left, top + ph, left + pw, top + ph, black, 1);
  c.text(left + pw / 2 - static_cast<int>(opt.x_label.size()) * 6, opt.height - 28, opt.x_label, 2, black);
  c.text(8, top + ph / 2 + static_cast<int>(opt.y_label.size()) * 6, opt.y_label, 2, black, /*vertical=*/true);
  int legend_y = top + ph - 24 * static_cast<int>(series.size()) - 10;
  for (const PlotSeries& s : series) {
    for (std::size_t i = 0; i + 1 < s.x.size(); ++i)
      c.line(px(s.x[i]), py(s.y[i]), px(s.x[i + 1]), py(s.y[i + 1]), s.rgb, 1, s.dashed);
    for (std::size_t i = 0; i < s.x.size(); ++i) c.dot(static_cast<int>(px(s.x[i])), static_cast<int>(py(s.y[i])), 4, s.rgb);
    c.line(left + pw - 300, legend_y + 7, left + pw - 260, legend_y + 7, s.rgb, 1, s.dashed);
    c.text(left + pw - 250, legend_y, s.label, 2, s.rgb);
    legend_y += 24;
  }
  write_png(path, c);
}

}  // namespace annamosaic::anet
