#pragma once
// Plain geometry for the simulator: points and rectangles in nm, and deterministic seeding.
#include <cstdint>
#include <vector>

namespace annamosaic {

struct PointNm {
  double x_nm = 0, y_nm = 0;
};

// Axis-aligned rectangle [x0, x0+w) x [y0, y0+h) in nm.
struct RectNm {
  double x0_nm = 0, y0_nm = 0, width_nm = 0, height_nm = 0;
  double x1_nm() const { return x0_nm + width_nm; }
  double y1_nm() const { return y0_nm + height_nm; }
  bool contains(double x, double y) const { return x >= x0_nm && x < x1_nm() && y >= y0_nm && y < y1_nm(); }
  RectNm expanded(double margin_nm) const {
    return {x0_nm - margin_nm, y0_nm - margin_nm, width_nm + 2 * margin_nm, height_nm + 2 * margin_nm};
  }
};

// SplitMix64 finaliser: derives independent, reproducible seeds from (seed, a, b, c), so each
// tile, filament and FoV has its own random stream whatever order they are generated in.
inline std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t a = 0, std::uint64_t b = 0, std::uint64_t c = 0) {
  auto mix = [](std::uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  return mix(mix(mix(mix(seed) ^ a) ^ b) ^ c);
}

}  // namespace annamosaic
