// Fusion: weights, block fusion equal to a naive whole-image fusion, bounded memory, sinks.
#include <gtest/gtest.h>
#include <tbb/global_control.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>

#include "imageio/tiff_io.hpp"
#include "tiles/bigtiff_sink.hpp"
#include "tiles/fusion.hpp"
#include "tiles/work_split.hpp"
#include "tiles/preview_sink.hpp"

using namespace annamosaic;
namespace fs = std::filesystem;

namespace {

// Collects blocks into whole images (one per channel); checks each block arrives once.
class MemorySink : public BlockSink {
 public:
  explicit MemorySink(const MosaicInfo& info) : info_(info) {
    for (std::size_t c = 0; c < info.channels.size(); ++c) images.emplace_back(info.width_px, info.height_px);
    seen.assign(info.blocks_x() * info.blocks_y(), 0);
  }
  void write_block(std::size_t bx, std::size_t by, const std::vector<ImageView<const std::uint16_t>>& ch) override {
    std::lock_guard<std::mutex> lock(m_);
    ++seen.at(by * info_.blocks_x() + bx);
    for (std::size_t c = 0; c < ch.size(); ++c)
      for (std::size_t y = 0; y < ch[c].height(); ++y)
        for (std::size_t x = 0; x < ch[c].width(); ++x) images[c](bx * info_.block_px + x, by * info_.block_px + y) = ch[c](x, y);
  }
  void finish() override { finished = true; }
  std::vector<ImageU16> images;
  std::vector<int> seen;
  bool finished = false;

 private:
  MosaicInfo info_;
  std::mutex m_;
};

// Tiles of random content at random (non-grid) positions.
struct Scene {
  std::unique_ptr<MemoryTileSource> src;
  std::vector<double> x, y;
};

Scene random_scene(int rows, int cols, std::size_t w, std::size_t h, std::uint64_t seed, std::size_t channels = 2) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> v(0, 10);
  std::uniform_real_distribution<double> j(-4, 4);
  std::vector<std::string> names;
  for (std::size_t c = 0; c < channels; ++c) names.push_back("c" + std::to_string(c));
  Scene s{std::make_unique<MemoryTileSource>(names, 20.0), {}, {}};
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      TileInfo t;
      t.id = r * cols + c, t.row = r, t.col = c;
      std::vector<ImageF> ch;
      for (std::size_t k = 0; k < channels; ++k) {
        ImageF img(w, h);
        for (auto& p : img) p = v(rng);
        ch.push_back(std::move(img));
      }
      s.src->add(t, std::move(ch));
      s.x.push_back(c * (w - 12.0) + j(rng) + 3.3);
      s.y.push_back(r * (h - 10.0) + j(rng) - 7.6);
    }
  return s;
}

MosaicInfo info_for(const MosaicPlan& plan, std::size_t channels, std::size_t block, double scale) {
  MosaicInfo info;
  info.width_px = plan.width_px, info.height_px = plan.height_px, info.block_px = block, info.pixel_nm = 20;
  for (std::size_t c = 0; c < channels; ++c) info.channels.push_back({"c" + std::to_string(c), "1 1 1", scale, ""});
  return info;
}

// Independent whole-image reference: per pixel, over the tiles in index order.
std::vector<ImageF> naive_fusion(const TileSource& src, const MosaicPlan& plan, const FuseOptions& opt, std::size_t channels) {
  std::vector<ImageF> acc;
  for (std::size_t c = 0; c < channels; ++c) acc.emplace_back(plan.width_px, plan.height_px);
  ImageF wsum(plan.width_px, plan.height_px);
  ImageU32 covered(plan.width_px, plan.height_px);
  for (const TilePlacement& p : plan.tiles)
    for (std::size_t c = 0; c < channels; ++c) {
      const ImageF img = src.load(p.tile, c);
      for (std::size_t ty = 0; ty < p.height; ++ty)
        for (std::size_t tx = 0; tx < p.width; ++tx) {
          const std::size_t X = static_cast<std::size_t>(p.x0 + static_cast<long>(tx)), Y = static_cast<std::size_t>(p.y0 + static_cast<long>(ty));
          const float v = img(tx, ty);
          if (opt.mode == BlendMode::Linear) {
            const float w = feather_weight(tx, p.width, opt.feather_px) * feather_weight(ty, p.height, opt.feather_px);
            acc[c](X, Y) += w * v;
            if (c == 0) wsum(X, Y) += w;
          } else if (opt.mode == BlendMode::Overlay) {
            acc[c](X, Y) = v;
          } else {
            acc[c](X, Y) = covered(X, Y) > c ? std::max(acc[c](X, Y), v) : v;
            if (c == channels - 1) covered(X, Y) = static_cast<std::uint32_t>(channels);
            else if (covered(X, Y) <= c) covered(X, Y) = static_cast<std::uint32_t>(c + 1);
          }
        }
    }
  if (opt.mode == BlendMode::Linear)
    for (std::size_t c = 0; c < channels; ++c)
      for (std::size_t k = 0; k < wsum.size(); ++k) acc[c].data()[k] = wsum.data()[k] > 0 ? acc[c].data()[k] / wsum.data()[k] : 0.0f;
  return acc;
}

}  // namespace

TEST(Fusion, FeatherWeights) {
  EXPECT_FLOAT_EQ(feather_weight(0, 100, 10), 0.05f);   // pixel centre 0.5 px from the border
  EXPECT_FLOAT_EQ(feather_weight(99, 100, 10), 0.05f);
  EXPECT_FLOAT_EQ(feather_weight(4, 100, 10), 0.45f);
  EXPECT_FLOAT_EQ(feather_weight(50, 100, 10), 1.0f);
  EXPECT_FLOAT_EQ(feather_weight(3, 100, 0), 1.0f);
}

TEST(Fusion, NormalisedWeightsSumToOne) {
  // Constant-one tiles: with linear blending every covered pixel must come out exactly 1 (the
  // normalised weights sum to one), uncovered pixels 0.
  const int rows = 3, cols = 3;
  MemoryTileSource src({"one"}, 20);
  std::vector<double> x, y;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      ImageF img(50, 40);
      for (auto& v : img) v = 1;
      std::vector<ImageF> ch;
      ch.push_back(std::move(img));
      src.add(TileInfo{r * cols + c, r, c, 0, 0, 0, 0, ""}, std::move(ch));
      x.push_back(c * 45.0 + (r == 1 ? 9 : 0));  // row 1 shifted: a gap and a triple overlap
      y.push_back(r * 33.0);
    }
  const MosaicPlan plan = plan_mosaic(src, x, y);
  FuseOptions o;
  o.feather_px = 8;
  std::vector<LoadedTile> tiles;
  std::vector<std::vector<ImageF>> imgs(plan.tiles.size());
  for (std::size_t k = 0; k < plan.tiles.size(); ++k) {
    imgs[k].push_back(src.load(k, 0));
    tiles.push_back({&plan.tiles[k], &imgs[k]});
  }
  std::vector<ImageF> out;
  fuse_region(0, 0, plan.width_px, plan.height_px, tiles, 1, o, out);
  std::size_t covered = 0, uncovered = 0;
  for (std::size_t yy = 0; yy < plan.height_px; ++yy)
    for (std::size_t xx = 0; xx < plan.width_px; ++xx) {
      bool in = false;
      for (const auto& p : plan.tiles)
        in |= static_cast<long>(xx) >= p.x0 && static_cast<long>(xx) < p.x0 + 50 && static_cast<long>(yy) >= p.y0 &&
              static_cast<long>(yy) < p.y0 + 40;
      if (in) {
        ++covered;
        ASSERT_NEAR(out[0](xx, yy), 1.0f, 1e-6) << xx << "," << yy;
      } else {
        ++uncovered;
        ASSERT_EQ(out[0](xx, yy), 0.0f);
      }
    }
  EXPECT_GT(covered, 0u);
  EXPECT_GT(uncovered, 0u);
}

TEST(Fusion, NotFinitePixelsAreNoDataThatAnOverlappingTileFills) {
  // Two tiles overlapping by 10 px; tile 0 has NaN in the overlap and inf outside it.
  MemoryTileSource src({"v"}, 20);
  for (int c = 0; c < 2; ++c) {
    ImageF img(30, 20);
    for (auto& v : img) v = 5.0f + static_cast<float>(c);
    if (c == 0) {
      img(25, 10) = NAN;      // mosaic x 25: tile 1 covers it
      img(5, 10) = INFINITY;  // mosaic x 5: tile 0 alone
    }
    std::vector<ImageF> ch;
    ch.push_back(std::move(img));
    src.add(TileInfo{c, 0, c, 0, 0, 0, 0, ""}, std::move(ch));
  }
  const MosaicPlan plan = plan_mosaic(src, {0.0, 20.0}, {0.0, 0.0});
  std::vector<std::vector<ImageF>> imgs(2);
  std::vector<LoadedTile> tiles;
  for (std::size_t k = 0; k < 2; ++k) {
    imgs[k].push_back(src.load(k, 0));
    tiles.push_back({&plan.tiles[k], &imgs[k]});
  }
  for (BlendMode mode : {BlendMode::Linear, BlendMode::Overlay, BlendMode::Max}) {
    FuseOptions o;
    o.mode = mode;
    o.feather_px = 5;
    std::vector<ImageF> out;
    std::vector<std::size_t> left_out(1, 0);
    fuse_region(0, 0, plan.width_px, plan.height_px, tiles, 1, o, out, &left_out);
    EXPECT_EQ(left_out[0], 2u);
    EXPECT_FLOAT_EQ(out[0](25, 10), 6.0f) << blend_mode_name(mode);  // tile 1's value, not 0 nor NaN
    EXPECT_FLOAT_EQ(out[0](5, 10), 0.0f) << blend_mode_name(mode);   // nobody has a value there
    EXPECT_FLOAT_EQ(out[0](5, 11), 5.0f) << blend_mode_name(mode);
  }
}

TEST(Fusion, BlocksEqualNaiveWholeImageFusion) {
  const Scene s = random_scene(3, 3, 60, 50, 1);
  const MosaicPlan plan = plan_mosaic(*s.src, s.x, s.y);
  // The mosaic starts at the smallest rounded tile position (its first column holds data).
  EXPECT_EQ(plan.origin_x_px, std::round(*std::min_element(s.x.begin(), s.x.end())));
  for (BlendMode mode : {BlendMode::Linear, BlendMode::Overlay, BlendMode::Max}) {
    FuseOptions o;
    o.mode = mode;
    o.feather_px = 12;
    o.cache_mb = 0;  // evict everything not needed by the current step
    const MosaicInfo info = info_for(plan, 2, 32, 1000.0);  // 32 does not divide the mosaic: partial blocks
    MemorySink sink(info);
    const FuseStats st = fuse_mosaic(*s.src, plan, {0, 1}, info, sink, o);
    EXPECT_EQ(st.blocks, info.blocks_x() * info.blocks_y());
    for (int n : sink.seen) ASSERT_EQ(n, 1);
    const auto ref = naive_fusion(*s.src, plan, o, 2);
    for (std::size_t c = 0; c < 2; ++c) {
      ImageU16 q(plan.width_px, plan.height_px);
      quantise_u16(ref[c].view(), 1000.0, q.view());
      for (std::size_t k = 0; k < q.size(); ++k) ASSERT_EQ(sink.images[c].data()[k], q.data()[k]) << blend_mode_name(mode) << " px " << k;
    }
  }
}

TEST(Fusion, MemoryDoesNotGrowWithTheGrid) {
  std::size_t peak_small = 0, peak_big = 0, loads_big = 0;
  for (int n : {3, 9}) {
    const Scene s = random_scene(n, n, 64, 64, 2, 1);
    const MosaicPlan plan = plan_mosaic(*s.src, s.x, s.y);
    const MosaicInfo info = info_for(plan, 1, 32, 100.0);
    MemorySink sink(info);
    FuseOptions o;
    o.cache_mb = 0;
    const FuseStats st = fuse_mosaic(*s.src, plan, {0}, info, sink, o);
    (n == 3 ? peak_small : peak_big) = st.peak_cached_tiles;
    if (n == 9) loads_big = st.tile_loads;
  }
  // Bounded by the block and tile sizes (a band's rows x two tile columns), not the grid: 3 x 3
  // and 9 x 9 grids need the same few tiles at a time.
  EXPECT_LE(peak_small, 9u);
  EXPECT_LE(peak_big, 9u);
  EXPECT_LE(loads_big, 3u * 81u);  // each tile is loaded by at most ~2-3 bands
}

// A generous cap is not filled with tiles no later block needs: they leave the cache after their
// last block, while a tile a later band needs again stays (loaded once).
TEST(Fusion, TilesLeaveTheCacheAfterTheirLastBlock) {
  const Scene s = random_scene(9, 9, 64, 64, 2, 1);
  const MosaicPlan plan = plan_mosaic(*s.src, s.x, s.y);
  const MosaicInfo info = info_for(plan, 1, 32, 100.0);
  MemorySink sink(info);
  FuseOptions o;
  o.cache_mb = 1024;  // room for every tile of the grid many times over
  const FuseStats st = fuse_mosaic(*s.src, plan, {0}, info, sink, o);
  EXPECT_EQ(st.tile_loads, 81u);
  EXPECT_LE(st.peak_cached_tiles, 2u * 9u + 4u) << "about two bands' tiles, not the grid's 81";
}

// A cap below two bands' tiles: what it evicts decides how often tiles are read again. The
// tile a later step needs last goes first (the bands are scanned left to right, so the tiles
// used least recently, at the band's left, are the next band's first needs: evicting those
// read the 36 tiles of this grid 46 times; now 41).
TEST(Fusion, ASmallCacheEvictsTheTilesNeededLast) {
  const Scene s = random_scene(6, 6, 256, 256, 4, 1);  // 256 KB a tile
  const MosaicPlan plan = plan_mosaic(*s.src, s.x, s.y);
  const MosaicInfo info = info_for(plan, 1, 64, 100.0);
  MemorySink sink(info);
  FuseOptions o;
  o.cache_mb = 2;  // 8 tiles: more than a step needs, less than two bands' tiles
  const FuseStats st = fuse_mosaic(*s.src, plan, {0}, info, sink, o);
  std::printf("36 tiles, cache of 2 MB: %zu tile loads, at most %zu cached\n", st.tile_loads, st.peak_cached_tiles);
  EXPECT_LE(st.tile_loads, 43u);
  for (int n : sink.seen) ASSERT_EQ(n, 1);
}

TEST(Fusion, SameBytesForAnyThreadCount) {
  const Scene s = random_scene(3, 4, 70, 60, 3);
  const MosaicPlan plan = plan_mosaic(*s.src, s.x, s.y);
  const MosaicInfo info = info_for(plan, 2, 48, 500.0);
  MemorySink a(info), b(info);
  {
    tbb::global_control c(tbb::global_control::max_allowed_parallelism, 1);
    fuse_mosaic(*s.src, plan, {0, 1}, info, a, {});
  }
  {
    tbb::global_control c(tbb::global_control::max_allowed_parallelism, 4);
    fuse_mosaic(*s.src, plan, {0, 1}, info, b, {});
  }
  for (std::size_t c = 0; c < 2; ++c) EXPECT_TRUE(std::equal(a.images[c].begin(), a.images[c].end(), b.images[c].begin()));
}

// Shares of several processes (FuseOptions rank/ranks) together write every block exactly once,
// with the bytes of one process fusing everything.
TEST(Fusion, SharesCoverEveryBlockOnceWithTheSameBytes) {
  const Scene s = random_scene(4, 3, 70, 60, 4);
  const MosaicPlan plan = plan_mosaic(*s.src, s.x, s.y);
  const MosaicInfo info = info_for(plan, 2, 32, 500.0);
  MemorySink whole(info), shared(info);
  fuse_mosaic(*s.src, plan, {0, 1}, info, whole, {});
  std::size_t blocks = 0;
  for (std::size_t r = 0; r < 3; ++r) {
    FuseOptions o;
    o.rank = r;
    o.ranks = 3;
    const FuseStats st = fuse_mosaic(*s.src, plan, {0, 1}, info, shared, o);
    EXPECT_EQ(st.blocks, fused_block_count(plan, info, o));
    EXPECT_GT(st.blocks, 0u);
    blocks += st.blocks;
  }
  EXPECT_EQ(blocks, info.blocks_x() * info.blocks_y());
  for (int n : shared.seen) ASSERT_EQ(n, 1);
  // Contiguous ranges, every process with some rows.
  const std::vector<int> owner = fusion_block_row_owner(plan, info, 3);
  ASSERT_EQ(owner.size(), info.blocks_y());
  EXPECT_TRUE(std::is_sorted(owner.begin(), owner.end()));
  EXPECT_EQ(owner.front(), 0);
  EXPECT_EQ(owner.back(), 2);
  for (std::size_t c = 0; c < 2; ++c)
    EXPECT_TRUE(std::equal(whole.images[c].begin(), whole.images[c].end(), shared.images[c].begin()));
}

TEST(WorkSplit, ContiguousRangesOfAboutEqualWork) {
  EXPECT_EQ(split_contiguous({1, 1, 1, 1}, 2), (std::vector<int>{0, 0, 1, 1}));
  EXPECT_EQ(split_contiguous({3, 1, 1, 1}, 2), (std::vector<int>{0, 1, 1, 1}));  // the heavy item alone
  EXPECT_EQ(split_contiguous({1, 1, 1}, 1), (std::vector<int>{0, 0, 0}));
  EXPECT_EQ(split_contiguous({1, 1}, 4), (std::vector<int>{1, 3}));  // more processes than items: some idle
}

TEST(Fusion, QuantisationClampsAndCounts) {
  ImageF in(4, 1);
  in(0, 0) = 1.2f, in(1, 0) = -3.0f, in(2, 0) = 1e6f, in(3, 0) = NAN;
  ImageU16 out(4, 1);
  std::size_t below = 0;
  EXPECT_EQ(quantise_u16(in.view(), 10.0, out.view(), &below), 2u);
  EXPECT_EQ(below, 1u);  // -30 of the two: which end, for the message
  EXPECT_EQ(out(0, 0), 12);
  EXPECT_EQ(out(1, 0), 0);
  EXPECT_EQ(out(2, 0), 65535);
  EXPECT_EQ(out(3, 0), 0);
  // Exactly -0.5 after scaling rounds to 0 (lround would give -1, stored as 65535); -0.5 is
  // within rounding of 0, so not counted as clamped.
  ImageF edge(3, 1);
  edge(0, 0) = -0.5f, edge(1, 0) = -0.25f, edge(2, 0) = 0.25f;
  ImageU16 q(3, 1);
  EXPECT_EQ(quantise_u16(edge.view(), 1.0, q.view()), 0u);
  EXPECT_EQ(q(0, 0), 0);
  EXPECT_EQ(q(1, 0), 0);
  EXPECT_EQ(q(2, 0), 0);
  EXPECT_THROW(parse_blend_mode("average"), std::exception);
  EXPECT_EQ(parse_blend_mode("max"), BlendMode::Max);
}

TEST(BigTiffSink, RoundTripAndErrors) {
  const std::string d = std::string(ANNAMOSAIC_TEST_TMP) + "/bigtiff";
  fs::remove_all(d);
  fs::create_directories(d);
  const Scene s = random_scene(2, 3, 70, 60, 4, 1);
  const MosaicPlan plan = plan_mosaic(*s.src, s.x, s.y);
  const MosaicInfo info = info_for(plan, 1, 64, 1000.0);
  const std::string path = d + "/mosaic.tif";
  {
    const auto sink = BigTiffSink::create(path, info);
    MemorySink mem(info);
    PreviewSink tee(sink.get(), info, 0, 40, {PixelRect{10, 20, 30, 25}, PixelRect{0, 0, 5, 5}});
    // Fan out to both sinks to compare the file with the blocks.
    struct Both : BlockSink {
      BlockSink *a, *b;
      void write_block(std::size_t x, std::size_t y, const std::vector<ImageView<const std::uint16_t>>& c) override {
        a->write_block(x, y, c);
        b->write_block(x, y, c);
      }
      void finish() override {}
    } both;
    both.a = &tee, both.b = &mem;
    fuse_mosaic(*s.src, plan, {0}, info, both, {});
    EXPECT_FALSE(fs::exists(path));  // nothing under the final name before finish()
    tee.finish();
    ASSERT_TRUE(fs::exists(path));
    const TiffInfo ti = read_tiff_info(path);
    EXPECT_TRUE(ti.bigtiff);
    EXPECT_TRUE(ti.tiled);
    EXPECT_EQ(ti.width, plan.width_px);
    EXPECT_NEAR(ti.pixel_nm, 20, 1e-3);
    const ImageF back = read_tiff(path);
    for (std::size_t k = 0; k < back.size(); ++k) ASSERT_EQ(back.data()[k], static_cast<float>(mem.images[0].data()[k]));
    // The preview: block means of the de-quantised mosaic; the crop: the mosaic itself.
    const std::size_t f = tee.factor();
    EXPECT_EQ(64 % f, 0u);
    double sum = 0;
    for (std::size_t yy = 0; yy < f; ++yy)
      for (std::size_t xx = 0; xx < f; ++xx) sum += mem.images[0](f + xx, yy);
    EXPECT_NEAR(tee.overview()(1, 0), sum / (f * f) / 1000.0, 1e-4);
    ASSERT_EQ(tee.crops(), 2u);
    EXPECT_NEAR(tee.crop(0)(3, 4), mem.images[0](13, 24) / 1000.0, 1e-6);
    EXPECT_NEAR(tee.crop(1)(2, 1), mem.images[0](2, 1) / 1000.0, 1e-6);
  }
  {
    const auto sink = BigTiffSink::create(d + "/incomplete.tif", info);
    ImageU16 blk(64, 64);
    sink->write_block(0, 0, {blk.view()});
    EXPECT_THROW(sink->write_block(0, 0, {blk.view()}), std::logic_error);  // twice
    EXPECT_THROW(sink->write_block(0, 1, {blk.view()}), std::invalid_argument);  // wrong size for the edge block
    EXPECT_THROW(sink->finish(), std::logic_error);                            // blocks missing
  }
  EXPECT_FALSE(fs::exists(d + "/incomplete.tif"));
  EXPECT_THROW(BigTiffSink::create("/nonexistent-dir/x.tif", info), std::exception);
}
