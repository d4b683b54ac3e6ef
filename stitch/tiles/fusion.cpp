#include "tiles/fusion.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>

#include "core/error.hpp"
#include "tiles/work_split.hpp"

namespace annamosaic {

BlendMode parse_blend_mode(const std::string& name) {
  if (name == "linear") return BlendMode::Linear;
  if (name == "overlay") return BlendMode::Overlay;
  if (name == "max") return BlendMode::Max;
  throw InputError("--blend", "unknown blend mode '" + name + "' (linear, overlay or max)");
}

const char* blend_mode_name(BlendMode mode) {
  switch (mode) {
    case BlendMode::Linear: return "linear";
    case BlendMode::Overlay: return "overlay";
    case BlendMode::Max: return "max";
  }
  return "?";
}

MosaicPlan plan_mosaic(const TileSource& source, const std::vector<double>& x_px, const std::vector<double>& y_px) {
  if (x_px.size() != source.size() || y_px.size() != source.size())
    throw std::invalid_argument("plan_mosaic: one position per tile");
  MosaicPlan plan;
  if (source.size() == 0) return plan;
  // Tiles sit at whole pixels (their rounded positions); the mosaic starts at the smallest of
  // those, so its first row and column hold data (the floor of the smallest position left an
  // empty line whenever that tile's fraction rounded up).
  long mx = std::numeric_limits<long>::max(), my = mx;
  for (std::size_t i = 0; i < source.size(); ++i) {
    if (!std::isfinite(x_px[i]) || !std::isfinite(y_px[i])) throw std::invalid_argument("plan_mosaic: non-finite position");
    mx = std::min(mx, std::lround(x_px[i])), my = std::min(my, std::lround(y_px[i]));
  }
  plan.origin_x_px = static_cast<double>(mx), plan.origin_y_px = static_cast<double>(my);
  long w = 0, h = 0;
  for (std::size_t i = 0; i < source.size(); ++i) {
    const TileInfo& t = source.info(i);
    TilePlacement p{i, std::lround(x_px[i]) - mx, std::lround(y_px[i]) - my, t.width_px, t.height_px};
    w = std::max(w, p.x0 + static_cast<long>(p.width));
    h = std::max(h, p.y0 + static_cast<long>(p.height));
    plan.tiles.push_back(p);
  }
  plan.width_px = static_cast<std::size_t>(w), plan.height_px = static_cast<std::size_t>(h);
  return plan;
}

float feather_weight(std::size_t i, std::size_t n, double feather_px) {
  const double d = std::min(static_cast<double>(i) + 0.5, static_cast<double>(n) - static_cast<double>(i) - 0.5);
  if (!(feather_px > 0)) return 1.0f;
  return static_cast<float>(std::min(1.0, d / feather_px));
}

void fuse_region(long x0, long y0, std::size_t w, std::size_t h, const std::vector<LoadedTile>& tiles, std::size_t channels,
                 const FuseOptions& opt, std::vector<ImageF>& out, std::vector<std::size_t>* not_finite) {
  out.resize(channels);
  for (auto& im : out) im = ImageF(w, h);
  // Per channel: a pixel one channel lacks (NaN) may be present in another.
  std::vector<ImageF> wsum;
  // Overlay and max need "no value yet" distinct from value 0 (tiles may hold negative values).
  std::vector<ImageU32> covered;
  for (std::size_t c = 0; c < channels; ++c) {
    if (opt.mode == BlendMode::Linear) wsum.emplace_back(w, h);
    else covered.emplace_back(w, h);
  }
  std::vector<std::size_t> skipped(channels, 0);
  for (const LoadedTile& lt : tiles) {
    const TilePlacement& p = *lt.place;
    const long ix0 = std::max(x0, p.x0), ix1 = std::min(x0 + static_cast<long>(w), p.x0 + static_cast<long>(p.width));
    const long iy0 = std::max(y0, p.y0), iy1 = std::min(y0 + static_cast<long>(h), p.y0 + static_cast<long>(p.height));
    if (ix1 <= ix0 || iy1 <= iy0) continue;
    std::vector<float> wx;
    if (opt.mode == BlendMode::Linear) {
      wx.resize(static_cast<std::size_t>(ix1 - ix0));
      for (long x = ix0; x < ix1; ++x)
        wx[static_cast<std::size_t>(x - ix0)] = feather_weight(static_cast<std::size_t>(x - p.x0), p.width, opt.feather_px);
    }
    for (long y = iy0; y < iy1; ++y) {
      const std::size_t ty = static_cast<std::size_t>(y - p.y0), oy = static_cast<std::size_t>(y - y0);
      const std::size_t tx0 = static_cast<std::size_t>(ix0 - p.x0), ox0 = static_cast<std::size_t>(ix0 - x0);
      const std::size_t n = static_cast<std::size_t>(ix1 - ix0);
      const float wy = opt.mode == BlendMode::Linear ? feather_weight(ty, p.height, opt.feather_px) : 1.0f;
      for (std::size_t c = 0; c < channels; ++c) {
        const float* s = (*lt.channels)[c].row(ty) + tx0;
        float* d = out[c].row(oy) + ox0;
        if (opt.mode == BlendMode::Linear) {
          float* ws = wsum[c].row(oy) + ox0;
          for (std::size_t k = 0; k < n; ++k) {
            if (!std::isfinite(s[k])) {
              ++skipped[c];
              continue;
            }
            const float wk = wx[k] * wy;
            ws[k] += wk;
            d[k] += wk * s[k];
          }
        } else {
          std::uint32_t* cov = covered[c].row(oy) + ox0;
          for (std::size_t k = 0; k < n; ++k) {
            if (!std::isfinite(s[k])) {
              ++skipped[c];
              continue;
            }
            d[k] = opt.mode == BlendMode::Overlay || !cov[k] ? s[k] : std::max(d[k], s[k]);
            cov[k] = 1;
          }
        }
      }
    }
  }
  if (opt.mode == BlendMode::Linear)
    for (std::size_t c = 0; c < channels; ++c)
      for (std::size_t k = 0; k < w * h; ++k) {
        const float s = wsum[c].data()[k];
        out[c].data()[k] = s > 0 ? out[c].data()[k] / s : 0.0f;
      }
  if (not_finite)
    for (std::size_t c = 0; c < channels && c < not_finite->size(); ++c) (*not_finite)[c] += skipped[c];
}

std::size_t quantise_u16(ImageView<const float> in, double scale, ImageView<std::uint16_t> out,
                         std::size_t* below_zero) {
  std::size_t clamped = 0, below = 0;
  for (std::size_t y = 0; y < in.height(); ++y) {
    const float* s = in.row(y);
    std::uint16_t* d = out.row(y);
    for (std::size_t x = 0; x < in.width(); ++x) {
      const double v = static_cast<double>(s[x]) * scale;
      if (std::isnan(v)) {
        d[x] = 0;
      } else if (v < 0.5) {
        // Not lround: it takes -0.5 to -1, which wraps to 65535 in 16 bits.
        d[x] = 0;
        clamped += v < -0.5;
        below += v < -0.5;
      } else if (v >= 65535.5) {
        d[x] = 65535, ++clamped;
      } else {
        d[x] = static_cast<std::uint16_t>(std::lround(v));
      }
    }
  }
  if (below_zero) *below_zero += below;
  return clamped;
}

namespace {

struct CacheEntry {
  std::vector<ImageF> channels;
  std::size_t bytes = 0;
  std::size_t last_step = 0;
};

}  // namespace

namespace {
// Bands about one tile tall: each tile is then needed by about two bands, and within a band the
// column sweep keeps only a few tile columns alive.
std::size_t band_block_rows(const MosaicPlan& plan, std::size_t block_px) {
  std::size_t tile_h = 1;
  for (const auto& p : plan.tiles) tile_h = std::max(tile_h, p.height);
  return std::max<std::size_t>(1, (tile_h + block_px - 1) / block_px);
}
}  // namespace

std::vector<int> fusion_block_row_owner(const MosaicPlan& plan, const MosaicInfo& info, std::size_t ranks) {
  const std::size_t B = info.block_px, nby = info.blocks_y();
  if (B == 0 || nby == 0 || ranks <= 1) return std::vector<int>(nby, 0);
  // Work per block row, in units of one block fused and compressed: its blocks, plus its part of
  // the tile loads (a tile is loaded once per band it meets; one load costs about 2.7 blocks:
  // 0.22 s against 0.085 s for full-size FoVs on this machine).
  const std::size_t band_rows = band_block_rows(plan, B);
  std::vector<double> work(nby, static_cast<double>(info.blocks_x()));
  for (std::size_t by = 0; by < nby; ++by) {
    const long y0 = static_cast<long>(by * B), y1 = static_cast<long>(std::min(info.height_px, (by + 1) * B));
    for (const auto& p : plan.tiles)
      if (p.y0 < y1 && p.y0 + static_cast<long>(p.height) > y0) work[by] += 2.7 / static_cast<double>(band_rows);
  }
  // Equal shares: giving rank 0 (which also writes the file) 10% less moved one row to rank 1
  // and made the full-size 8 x 8 stitch 2 s slower here.
  return split_contiguous(work, ranks);
}

std::size_t fused_block_count(const MosaicPlan& plan, const MosaicInfo& info, const FuseOptions& opt) {
  if (info.block_px == 0 || opt.ranks == 0) return 0;
  const std::vector<int> owner = fusion_block_row_owner(plan, info, opt.ranks);
  std::size_t rows = 0;
  for (int o : owner) rows += static_cast<std::size_t>(o) == opt.rank;
  return rows * info.blocks_x();
}

FuseStats fuse_mosaic(const TileSource& source, const MosaicPlan& plan, const std::vector<std::size_t>& channels,
                      const MosaicInfo& info, BlockSink& sink, const FuseOptions& opt, const std::function<void()>& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  if (info.width_px != plan.width_px || info.height_px != plan.height_px)
    throw std::invalid_argument("fuse_mosaic: MosaicInfo size differs from the plan");
  if (info.channels.size() != channels.size()) throw std::invalid_argument("fuse_mosaic: one ChannelInfo per channel");
  if (info.block_px == 0) throw std::invalid_argument("fuse_mosaic: block_px must be > 0");
  for (std::size_t c : channels)
    if (c >= source.channels()) throw std::invalid_argument("fuse_mosaic: channel index out of range");
  FuseStats st;
  st.saturated.assign(channels.size(), 0);
  st.below_zero.assign(channels.size(), 0);
  const std::size_t B = info.block_px, nbx = info.blocks_x(), nby = info.blocks_y();
  if (nbx == 0 || nby == 0) return st;
  if (opt.ranks == 0 || opt.rank >= opt.ranks) throw std::invalid_argument("fuse_mosaic: rank out of range");
  const std::size_t band_rows = band_block_rows(plan, B);
  const std::vector<int> owner = fusion_block_row_owner(plan, info, opt.ranks);
  std::vector<std::atomic<std::size_t>> saturated(channels.size()), below_zero(channels.size()), not_finite(channels.size());
  using Clock = std::chrono::steady_clock;
  std::atomic<std::int64_t> load_ns{0}, fuse_ns{0}, sink_ns{0};
  auto ns_since = [](Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t).count();
  };
  std::map<std::size_t, CacheEntry> cache;
  std::size_t cached_bytes = 0, step = 0;
  const std::size_t cap = opt.cache_mb * (std::size_t{1} << 20);

  // This process's rows of a band (contiguous: owners only grow with the row); by0 == by1: none.
  const auto band_span = [&](std::size_t band) {
    std::size_t by0 = band * band_rows, by1 = std::min(nby, by0 + band_rows);
    while (by0 < by1 && static_cast<std::size_t>(owner[by0]) != opt.rank) ++by0;
    while (by1 > by0 && static_cast<std::size_t>(owner[by1 - 1]) != opt.rank) --by1;
    return std::pair{by0, by1};
  };
  // The tiles whose placement meets blocks [bx] x [by0, by1).
  const auto tiles_needed = [&](std::size_t bx, std::size_t by0, std::size_t by1) {
    const long rx0 = static_cast<long>(bx * B), rx1 = static_cast<long>(std::min(info.width_px, (bx + 1) * B));
    const long ry0 = static_cast<long>(by0 * B), ry1 = static_cast<long>(std::min(info.height_px, by1 * B));
    std::vector<std::size_t> need;
    for (std::size_t k = 0; k < plan.tiles.size(); ++k) {
      const TilePlacement& p = plan.tiles[k];
      if (p.x0 < rx1 && p.x0 + static_cast<long>(p.width) > rx0 && p.y0 < ry1 && p.y0 + static_cast<long>(p.height) > ry0)
        need.push_back(k);
    }
    return need;
  };
  // Each step's tiles, and the last step that needs each tile: a tile no later step needs leaves
  // the cache at once, so memory stays at about two bands' tiles whatever the cap (kept until the
  // cap, a 210 Mpx mosaic held 1 GB of tiles it would never read again and fused 1.6x slower).
  std::vector<std::vector<std::size_t>> needs;
  std::vector<std::vector<std::size_t>> uses(plan.tiles.size());  // the steps needing each tile, ascending
  for (std::size_t band = 0; band * band_rows < nby; ++band) {
    const auto [by0, by1] = band_span(band);
    if (by0 == by1) continue;
    for (std::size_t bx = 0; bx < nbx; ++bx) {
      needs.push_back(tiles_needed(bx, by0, by1));
      for (std::size_t k : needs.back()) uses[k].push_back(needs.size() - 1);
    }
  }
  const auto next_use = [&](std::size_t k, std::size_t after) {
    const auto it = std::upper_bound(uses[k].begin(), uses[k].end(), after);
    return it == uses[k].end() ? std::numeric_limits<std::size_t>::max() : *it;
  };

  for (std::size_t band = 0; band * band_rows < nby; ++band) {
    const auto [by0, by1] = band_span(band);
    if (by0 == by1) continue;
    for (std::size_t bx = 0; bx < nbx; ++bx, ++step) {
      if (opt.stop_requested && opt.stop_requested())
        throw Stopped("fusion stopped after " + std::to_string(st.blocks) + " of this process's blocks");
      const long rx0 = static_cast<long>(bx * B), rx1 = static_cast<long>(std::min(info.width_px, (bx + 1) * B));
      const std::vector<std::size_t>& need = needs[step];
      std::vector<std::size_t> missing;
      for (std::size_t k : need)
        if (!cache.count(k)) missing.push_back(k);
      std::vector<CacheEntry> loaded(missing.size());
      tbb::parallel_for(std::size_t{0}, missing.size(), [&](std::size_t i) {
        const auto t_load = Clock::now();
        const TilePlacement& p = plan.tiles[missing[i]];
        std::vector<ImageF> imgs = source.load_channels(p.tile, channels);
        for (std::size_t k = 0; k < channels.size(); ++k) {
          ImageF& img = imgs.at(k);
          if (img.width() != p.width || img.height() != p.height)
            throw InputError("tile " + std::to_string(source.info(p.tile).id),
                             "channel '" + source.channel_name(channels[k]) + "' image size differs from the tile's");
          loaded[i].bytes += img.size() * sizeof(float);
          loaded[i].channels.push_back(std::move(img));
        }
        load_ns += ns_since(t_load);
      });
      for (std::size_t i = 0; i < missing.size(); ++i) {
        cached_bytes += loaded[i].bytes;
        cache[missing[i]] = std::move(loaded[i]);
      }
      st.tile_loads += missing.size();
      for (std::size_t k : need) cache[k].last_step = step;
      st.peak_cached_tiles = std::max(st.peak_cached_tiles, cache.size());
      st.peak_cached_bytes = std::max(st.peak_cached_bytes, cached_bytes);

      std::vector<LoadedTile> tiles;
      for (std::size_t k : need) tiles.push_back({&plan.tiles[k], &cache[k].channels});
      tbb::parallel_for(by0, by1, [&](std::size_t by) {
        const auto t_fuse = Clock::now();
        const long x0 = rx0, y0 = static_cast<long>(by * B);
        const std::size_t w = static_cast<std::size_t>(rx1 - rx0), h = std::min(info.height_px, (by + 1) * B) - by * B;
        std::vector<ImageF> fused;
        std::vector<std::size_t> left_out(channels.size(), 0);
        fuse_region(x0, y0, w, h, tiles, channels.size(), opt, fused, &left_out);
        for (std::size_t c = 0; c < channels.size(); ++c) not_finite[c] += left_out[c];
        std::vector<ImageU16> q(channels.size());
        std::vector<ImageView<const std::uint16_t>> views;
        for (std::size_t c = 0; c < channels.size(); ++c) {
          q[c] = ImageU16(w, h);
          std::size_t below = 0;
          saturated[c] += quantise_u16(fused[c].view(), info.channels[c].scale, q[c].view(), &below);
          below_zero[c] += below;
          views.push_back(q[c].view());
        }
        const auto t_sink = Clock::now();
        fuse_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(t_sink - t_fuse).count();
        sink.write_block(bx, by, views);
        sink_ns += ns_since(t_sink);
        if (progress) progress();
      });
      st.blocks += by1 - by0;
      for (auto it = cache.begin(); it != cache.end();)
        if (next_use(it->first, step) == std::numeric_limits<std::size_t>::max()) {  // no later step needs it
          cached_bytes -= it->second.bytes;
          it = cache.erase(it);
        } else {
          ++it;
        }
      // Down to the cap, keeping this step's tiles (the floor: the next step often needs them):
      // evict the tile needed again last, as every step's needs are known (least recently used,
      // the next band's first tiles went: a 6 x 6 grid of 256 px tiles under a 2 MB cap was read
      // 46 times; now 41).
      while (cached_bytes > cap) {
        auto victim = cache.end();
        std::size_t victim_next = 0;
        for (auto it = cache.begin(); it != cache.end(); ++it) {
          if (it->second.last_step == step) continue;
          const std::size_t next = next_use(it->first, step);
          if (victim == cache.end() || next > victim_next) victim = it, victim_next = next;
        }
        if (victim == cache.end()) break;
        cached_bytes -= victim->second.bytes;
        cache.erase(victim);
      }
    }
  }
  st.not_finite.assign(channels.size(), 0);
  for (std::size_t c = 0; c < channels.size(); ++c)
    st.saturated[c] = saturated[c], st.below_zero[c] = below_zero[c], st.not_finite[c] = not_finite[c];
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  st.load_thread_s = static_cast<double>(load_ns.load()) * 1e-9;
  st.fuse_thread_s = static_cast<double>(fuse_ns.load()) * 1e-9;
  st.sink_thread_s = static_cast<double>(sink_ns.load()) * 1e-9;
  return st;
}

}  // namespace annamosaic
