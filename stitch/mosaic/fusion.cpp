#include "mosaic/fusion.hpp"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <stdexcept>

#include "core/error.hpp"

namespace annamosaic {

Blend parse_blend(const std::string& s) {
  if (s == "linear") return Blend::Linear;
  if (s == "overlay") return Blend::Overlay;
  if (s == "max") return Blend::Max;
  throw InputError("--blend", "unknown blend mode '" + s + "' (linear, overlay or max)");
}

MosaicPlacement place_tiles(const std::vector<TileMeta>& tiles, const Layout& layout) {
  MosaicPlacement p;
  long x0 = LONG_MAX, y0 = LONG_MAX, x1 = LONG_MIN, y1 = LONG_MIN;
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    const long x = std::lround(layout.x_px[i]), y = std::lround(layout.y_px[i]);
    p.x_px.push_back(x);
    p.y_px.push_back(y);
    x0 = std::min(x0, x), y0 = std::min(y0, y);
    x1 = std::max(x1, x + static_cast<long>(tiles[i].width_px));
    y1 = std::max(y1, y + static_cast<long>(tiles[i].height_px));
  }
  for (auto& x : p.x_px) x -= x0;
  for (auto& y : p.y_px) y -= y0;
  p.width_px = tiles.empty() ? 0 : static_cast<std::size_t>(x1 - x0);
  p.height_px = tiles.empty() ? 0 : static_cast<std::size_t>(y1 - y0);
  return p;
}

float feather_weight(std::size_t x, std::size_t y, std::size_t w, std::size_t h, double feather) {
  auto ramp = [feather](std::size_t i, std::size_t n) {
    const double d = std::min(i + 0.5, n - i - 0.5);  // distance to the nearest border, in px
    return feather > 0 ? std::min(1.0, d / feather) : 1.0;
  };
  return static_cast<float>(ramp(x, w) * ramp(y, h));
}

void fuse_blocks(const TileSource& src, const MosaicPlacement& pl, const MosaicInfo& info, const FusionOptions& opt,
                 BlockSink& sink, int rank, int ranks, const std::function<void(std::size_t)>& on_row) {
  const auto& tiles = src.tiles();
  const std::size_t nch = info.channels.size();
  if (nch != src.channels().size()) throw std::invalid_argument("fuse_blocks: channel count mismatch");
  const std::size_t B = info.block_px;
  // Tile cache: loaded when a block row first needs a tile, dropped once the rows pass it.
  std::map<std::size_t, std::vector<ImageF>> cache;
  for (std::size_t by = static_cast<std::size_t>(rank); by < info.blocks_y(); by += static_cast<std::size_t>(ranks)) {
    const long row_y0 = static_cast<long>(by * B), row_y1 = static_cast<long>(std::min(info.height_px, (by + 1) * B));
    std::vector<std::size_t> touching;
    for (std::size_t i = 0; i < tiles.size(); ++i)
      if (pl.y_px[i] < row_y1 && pl.y_px[i] + static_cast<long>(tiles[i].height_px) > row_y0) touching.push_back(i);
    for (auto it = cache.begin(); it != cache.end();)
      it = std::find(touching.begin(), touching.end(), it->first) == touching.end() ? cache.erase(it) : std::next(it);
    std::vector<std::size_t> missing;
    for (std::size_t i : touching)
      if (!cache.count(i)) missing.push_back(i);
    std::vector<std::vector<ImageF>> loaded(missing.size());
    tbb::parallel_for(std::size_t{0}, missing.size(), [&](std::size_t k) {
      for (std::size_t c = 0; c < nch; ++c) loaded[k].push_back(src.load(missing[k], c));
    });
    for (std::size_t k = 0; k < missing.size(); ++k) cache[missing[k]] = std::move(loaded[k]);

    tbb::parallel_for(std::size_t{0}, info.blocks_x(), [&](std::size_t bx) {
      const long x0 = static_cast<long>(bx * B), x1 = static_cast<long>(std::min(info.width_px, (bx + 1) * B));
      const std::size_t w = static_cast<std::size_t>(x1 - x0), h = static_cast<std::size_t>(row_y1 - row_y0);
      std::vector<ImageU16> out;
      std::vector<ImageView<const std::uint16_t>> views;
      for (std::size_t c = 0; c < nch; ++c) {
        ImageF acc(w, h), wsum(w, h);
        for (std::size_t i : touching) {
          const ImageF& img = cache.at(i)[c];
          if (img.empty()) continue;
          const TileMeta& t = tiles[i];
          const long tx0 = std::max(x0, pl.x_px[i]), tx1 = std::min(x1, pl.x_px[i] + static_cast<long>(t.width_px));
          const long ty0 = std::max(row_y0, pl.y_px[i]), ty1 = std::min(row_y1, pl.y_px[i] + static_cast<long>(t.height_px));
          for (long y = ty0; y < ty1; ++y) {
            const std::size_t ly = static_cast<std::size_t>(y - pl.y_px[i]);
            if (ly >= img.height()) continue;
            for (long x = tx0; x < tx1; ++x) {
              const std::size_t lx = static_cast<std::size_t>(x - pl.x_px[i]);
              if (lx >= img.width()) continue;
              const float v = img(lx, ly);
              float& a = acc(static_cast<std::size_t>(x - x0), static_cast<std::size_t>(y - row_y0));
              float& s = wsum(static_cast<std::size_t>(x - x0), static_cast<std::size_t>(y - row_y0));
              switch (opt.blend) {
                case Blend::Linear: {
                  const float fw = feather_weight(lx, ly, t.width_px, t.height_px, opt.feather_px);
                  a += fw * v;
                  s += fw;
                  break;
                }
                case Blend::Overlay:
                  a = v, s = 1;
                  break;
                case Blend::Max:
                  a = s > 0 ? std::max(a, v) : v, s = 1;
                  break;
              }
            }
          }
        }
        ImageU16 q(w, h);
        const double scale = info.channels[c].scale;
        for (std::size_t k = 0; k < q.size(); ++k) {
          const float s = wsum.data()[k];
          const double v = s > 0 ? acc.data()[k] / s : 0.0;
          q.data()[k] = static_cast<std::uint16_t>(std::clamp(std::lround(v * scale), 0L, 65535L));
        }
        out.push_back(std::move(q));
      }
      for (const auto& q : out) views.push_back(q.view());
      sink.write_block(bx, by, views);
    });
    if (on_row) on_row(by);
  }
}

}  // namespace annamosaic
