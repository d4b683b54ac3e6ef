#pragma once
// Small numeric helpers shared by readers.
#include <algorithm>
#include <cmath>
#include <vector>

namespace annamosaic {

// `v` rounded to `digits` significant decimal digits (0, negative, NaN and inf unchanged). Sizes
// read back from files carry noise (float rationals, differences of extents): 108 nm reads
// 107.99999865 through a float; rounding gives back the value that was meant.
inline double round_significant(double v, int digits) {
  if (v == 0 || !std::isfinite(v)) return v;
  const double scale = std::pow(10.0, digits - 1 - std::floor(std::log10(std::abs(v))));
  return std::round(v * scale) / scale;
}

// The median (the mean of the middle two for an even count); 0 for no values.
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  const std::size_t h = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + h, v.end());
  if (v.size() % 2) return v[h];
  return 0.5 * (v[h] + *std::max_element(v.begin(), v.begin() + h));
}

}  // namespace annamosaic
