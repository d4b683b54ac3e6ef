#pragma once
// A synthetic tiled acquisition with known positions: one blob scene cut into a rows x cols grid
// of tiles whose true positions are the nominal ones plus a seeded jitter.
#include <algorithm>
#include <memory>
#include <random>
#include <vector>

#include "../../pipeline/register/scene.hpp"
#include "tiles/tile_source.hpp"

namespace annamosaic::test {

struct SyntheticGrid {
  std::unique_ptr<MemoryTileSource> source;
  std::vector<double> true_x_px, true_y_px;  // per tile
};

// pixel_nm = 20; tiles `size` px square, `overlap` px nominal overlap, uniform jitter +-jitter_px.
// Tiles listed in `blank` are all zeros (an empty FoV). Channel 1 (if two_channels) is channel 0 x 2.
inline SyntheticGrid make_grid(int rows, int cols, std::size_t size, double overlap, double jitter_px, std::uint64_t seed,
                               const std::vector<int>& blank = {}, bool two_channels = false) {
  const double step = static_cast<double>(size) - overlap;
  const std::size_t span = static_cast<std::size_t>(step * std::max(rows, cols) + size + 4 * jitter_px);
  const auto blobs = random_blobs(span, span, span * span / 90, seed, 20);
  std::mt19937_64 rng(seed + 1);
  std::uniform_real_distribution<double> u(-jitter_px, jitter_px);
  SyntheticGrid g;
  std::vector<std::string> names{"image"};
  if (two_channels) names.push_back("double");
  g.source = std::make_unique<MemoryTileSource>(names, 20.0);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const int id = r * cols + c;
      TileInfo t;
      t.id = id, t.row = r, t.col = c;
      t.x_um = c * step * 0.02, t.y_um = r * step * 0.02;
      const double tx = c * step + u(rng) + 2 * jitter_px, ty = r * step + u(rng) + 2 * jitter_px;
      g.true_x_px.push_back(tx - 2 * jitter_px);
      g.true_y_px.push_back(ty - 2 * jitter_px);
      ImageF img = render_blobs(blobs, size, size, -tx, -ty);
      if (std::find(blank.begin(), blank.end(), id) != blank.end()) img = ImageF(size, size);
      std::vector<ImageF> ch;
      if (two_channels) {
        ImageF d = img.clone();
        for (auto& v : d) v *= 2;
        ch.push_back(std::move(img));
        ch.push_back(std::move(d));
      } else {
        ch.push_back(std::move(img));
      }
      g.source->add(t, std::move(ch));
    }
  return g;
}

}  // namespace annamosaic::test
