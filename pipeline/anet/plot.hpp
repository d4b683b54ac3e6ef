#pragma once
// A small line-plot PNG writer for evaluation reports (no plotting library is packaged for
// C++ here): log-x axis, linear y, coloured polylines with markers, tick labels and a legend
// in a built-in 5x7 pixel font (upper case, digits and a few symbols). Torch-free.
#include <array>
#include <string>
#include <vector>

namespace annamosaic::anet {

struct PlotSeries {
  std::string label;
  std::array<unsigned char, 3> rgb{0, 0, 0};
  std::vector<double> x, y;  // x > 0 (log axis)
  bool dashed = false;
};

struct PlotOptions {
  std::string x_label, y_label;
  double x_min = 1, x_max = 10, y_min = 0, y_max = 1;
  int width = 900, height = 600;
};

// Writes an RGB PNG atomically; IoError naming the path on failure.
void write_line_plot(const std::string& path, const std::vector<PlotSeries>& series, const PlotOptions& opt);

}  // namespace annamosaic::anet
