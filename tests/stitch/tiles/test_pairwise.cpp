// Pairwise registration of grid neighbours on overlap strips.
#include <gtest/gtest.h>
#include <tbb/global_control.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "core/error.hpp"
#include "../../pipeline/register/scene.hpp"
#include "synthetic_grid.hpp"
#include "tiles/pairwise.hpp"

using namespace annamosaic;
using namespace annamosaic::test;

TEST(StripGeometry, WidenedIntersectionClippedToTheTiles) {
  TileInfo a, b;
  a.width_px = a.height_px = b.width_px = b.height_px = 500;
  b.x_um = 450 * 0.02;  // right neighbour, 50 px overlap
  const StripGeometry h = strip_geometry(a, b, 20, 30);
  EXPECT_EQ(h.d0x, 450);
  EXPECT_EQ(h.d0y, 0);
  EXPECT_EQ(h.x0, 420);  // 450 - 30
  EXPECT_EQ(h.width, 110u);  // [420, 530): the overlap plus 30 px on each side
  EXPECT_EQ(h.y0, 0);
  EXPECT_EQ(h.height, 500u);  // not beyond the union of the tiles
  TileInfo c = a;
  c.y_um = 460 * 0.02, c.x_um = 7 * 0.02;  // lower neighbour, 40 px overlap, 7 px to the right
  const StripGeometry v = strip_geometry(a, c, 20, 30);
  EXPECT_EQ(v.y0, 430);
  EXPECT_EQ(v.height, 100u);
  EXPECT_EQ(v.x0, 0);
  EXPECT_EQ(v.width, 507u);
  TileInfo far = a;
  far.x_um = 600 * 0.02;  // 100 px gap: cannot overlap within 30 px
  EXPECT_EQ(strip_geometry(a, far, 20, 30).width, 0u);
}

TEST(ExtractStrip, ZeroFilledOutsideTheTileAndReduced) {
  ImageF tile(40, 30);
  for (auto& v : tile) v = 1;
  RegistrationSignal s;
  s.scale = 2;
  s.prefilter = Prefilter::None;
  const Strip st = extract_strip(tile.view(), 30, -4, 20, 12, s);
  EXPECT_EQ(st.image.width(), 10u);
  EXPECT_EQ(st.image.height(), 6u);
  EXPECT_EQ(st.valid.x0, 0u);
  EXPECT_EQ(st.valid.width, 5u);  // tile columns 30..39
  EXPECT_EQ(st.valid.y0, 2u);     // tile rows from 0
  EXPECT_EQ(st.valid.height, 4u);
  EXPECT_EQ(st.image(0, 0), 0.0f);
  EXPECT_EQ(st.image(4, 3), 1.0f);
  EXPECT_EQ(st.image(5, 3), 0.0f);
  EXPECT_EQ(extract_strip(tile.view(), 100, 0, 20, 12, s).valid.width, 0u);
}

TEST(RegisterPairs, RecoversKnownOffsets) {
  const SyntheticGrid g = make_grid(3, 3, 240, 30, 6, 3);
  PairRegOptions o;
  o.search_um = 12 * 0.02;
  const auto pairs = grid_neighbours(*g.source);
  ASSERT_EQ(pairs.size(), 12u);
  const PairRegistration r = register_pairs(*g.source, pairs, o);
  ASSERT_EQ(r.calibration.size(), 1u);
  EXPECT_GT(r.calibration[0].random_pairs, 0u);
  EXPECT_GE(r.calibration[0].threshold, o.min_ncc);
  for (const PairResult& p : r.pairs) {
    ASSERT_TRUE(p.accepted) << p.pair.a << "-" << p.pair.b << " ncc " << p.ncc;
    EXPECT_NEAR(p.dx_px, g.true_x_px[p.pair.b] - g.true_x_px[p.pair.a], 0.15);  // scale 2, refined at full resolution
    EXPECT_NEAR(p.dy_px, g.true_y_px[p.pair.b] - g.true_y_px[p.pair.a], 0.15);
    EXPECT_EQ(p.signal, 0);
  }
}

// Tiles on a bright background with 24 px seams: each strip's blur repeats the tile's edge, and
// a fit over those pixels leaned every link toward a thinner overlap (+0.036 px per link, which
// a 33 x 33 layout summed to +-0.6 px, probe52). Whole-pixel positions, at scale 2 (refined at
// full resolution) and at scale 1: no lean left.
TEST(RegisterPairs, LinksDoNotLeanTowardAThinnerOverlap) {
  const std::size_t size = 96;
  const int n = 6;
  const double step = 72;
  const auto blobs = random_blobs(700, 700, 700 * 700 / 90, 41, 20);
  MemoryTileSource src({"image"}, 20.0);
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int> jitter(-3, 3);
  std::vector<double> tx, ty;
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < n; ++c) {
      TileInfo t;
      t.id = r * n + c, t.row = r, t.col = c, t.x_um = c * step * 0.02, t.y_um = r * step * 0.02;
      tx.push_back(c * step + jitter(rng) + 10), ty.push_back(r * step + jitter(rng) + 10);
      ImageF img = render_blobs(blobs, size, size, -tx.back(), -ty.back());
      for (float& v : img) v += 1.0f;  // a camera's offset: the edge a blur repeats is bright
      std::vector<ImageF> ch;
      ch.push_back(std::move(img));
      src.add(t, std::move(ch));
    }
  for (std::size_t scale : {2u, 1u}) {
    PairRegOptions o;
    o.search_um = 0.2;
    o.signals[0].scale = scale;
    const PairRegistration reg = register_pairs(src, grid_neighbours(src), o);
    double across = 0;  // measured less true offset, across each seam
    int links = 0;
    for (const PairResult& p : reg.pairs) {
      ASSERT_TRUE(p.accepted) << p.pair.a << "-" << p.pair.b;
      const bool right = src.info(p.pair.b).col != src.info(p.pair.a).col;
      across += right ? p.dx_px - (tx[p.pair.b] - tx[p.pair.a]) : p.dy_px - (ty[p.pair.b] - ty[p.pair.a]);
      ++links;
    }
    EXPECT_LT(std::abs(across / links), 0.01) << "scale " << scale << ": mean lean " << across / links << " px";
  }
}

// Seams of 16 px, halved to 8 for the default scale 2, leave too few rows for the window and the
// pre-filter once the tiles are noisy: true pairs are lost. The default for such overlaps is full
// resolution, which keeps more of them and registers closer to the truth.
TEST(RegisterPairs, ThinOverlapsAreRegisteredAtFullResolution) {
  EXPECT_EQ(default_registration_scale(50), 2u);  // run's 1 um overlap at 20 nm
  EXPECT_EQ(default_registration_scale(std::numeric_limits<double>::quiet_NaN()), 2u);  // no pairs: nothing known
  // Positions that leave a gap: any true overlap lies within the stage's error, thin at best
  // (probe63, 5 px true overlaps: run registered 1 of 12 pairs at scale 2, 4 at scale 1; stitch of
  // the sparse tiles at scale 1, 12).
  EXPECT_EQ(default_registration_scale(-12), 1u);
  EXPECT_EQ(default_registration_scale(0), 1u);
  EXPECT_EQ(full_resolution_reason(-12), "no overlap in the stage positions (a gap of 12 px between the positions): any "
                                         "true overlap lies within the stage's error, thin at best");
  EXPECT_EQ(thinner_overlap_text(3.5e-15), "tiles that abut in the positions");  // not "3.55e-15 px"
  EXPECT_EQ(thinner_overlap_text(-0.0), "tiles that abut in the positions");    // not "a gap of -0 px"
  EXPECT_EQ(full_resolution_reason(50), "");
  ASSERT_EQ(default_registration_scale(16), 1u);
  SyntheticGrid g = make_grid(8, 8, 96, 16, 3, 11);
  MemoryTileSource noisy({"image"}, 20);
  std::mt19937_64 rng(5);
  std::normal_distribution<float> noise(0.0f, 0.8f);
  for (std::size_t i = 0; i < g.source->size(); ++i) {
    ImageF img = g.source->load(i, 0);
    for (float& v : img) v += noise(rng);
    std::vector<ImageF> ch;
    ch.push_back(std::move(img));
    noisy.add(g.source->info(i), std::move(ch));
  }
  EXPECT_NEAR(nominal_overlap_um(noisy) * 1000 / noisy.pixel_nm(), 16, 1e-9);
  EXPECT_NEAR(thinner_axis_overlap_um(noisy) * 1000 / noisy.pixel_nm(), 16, 1e-9);
  // 2 x 2 blank tiles of 96 px at 20 nm, steps of (step_x, step_y) px.
  const auto two_by_two = [](int step_x_px, int step_y_px) {
    auto src = std::make_unique<MemoryTileSource>(std::vector<std::string>{"image"}, 20);
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 2; ++c) {
        TileInfo t;
        t.id = r * 2 + c, t.row = r, t.col = c, t.x_um = c * step_x_px * 0.02, t.y_um = r * step_y_px * 0.02;
        std::vector<ImageF> ch;
        ch.emplace_back(96, 96);
        src->add(t, std::move(ch));
      }
    return src;
  };
  // Thin across, thick down: chosen by the thinner axis, not by the 40 px median of both.
  const auto mixed = two_by_two(80, 32);
  EXPECT_NEAR(nominal_overlap_um(*mixed) * 1000 / mixed->pixel_nm(), 40, 1e-9);
  EXPECT_NEAR(thinner_axis_overlap_um(*mixed) * 1000 / mixed->pixel_nm(), 16, 1e-9);
  // Overlapping rows, a gap of 12 px down the columns: the gap, not 0 (which read as unknown).
  const auto gap = two_by_two(90, 108);
  EXPECT_NEAR(thinner_axis_overlap_um(*gap) * 1000 / gap->pixel_nm(), -12, 1e-9);
  EXPECT_TRUE(std::isnan(thinner_axis_overlap_um(MemoryTileSource({"image"}, 20))));
  std::size_t accepted[2] = {0, 0};
  double sq_error[2] = {0, 0};
  for (std::size_t scale : {1u, 2u}) {
    PairRegOptions o;
    o.search_um = 6 * 0.02;
    o.signals[0].scale = scale;
    const PairRegistration r = register_pairs(noisy, grid_neighbours(noisy), o);
    for (const PairResult& p : r.pairs) {
      if (!p.accepted) continue;
      ++accepted[scale - 1];
      sq_error[scale - 1] += std::pow(p.dx_px - (g.true_x_px[p.pair.b] - g.true_x_px[p.pair.a]), 2) +
                             std::pow(p.dy_px - (g.true_y_px[p.pair.b] - g.true_y_px[p.pair.a]), 2);
    }
  }
  const std::size_t pairs = grid_neighbours(noisy).size();
  std::printf("16 px seams, %zu pairs: scale 2 accepted %zu (RMS %.3f px), scale 1 %zu (RMS %.3f px)\n", pairs, accepted[1],
              std::sqrt(sq_error[1] / std::max<std::size_t>(1, accepted[1])), accepted[0],
              std::sqrt(sq_error[0] / std::max<std::size_t>(1, accepted[0])));
  // Measured: 106 at scale 2 (RMS 0.48 px), 111 at scale 1 (0.41 px).
  EXPECT_GE(accepted[0], accepted[1] + 3);
  EXPECT_LE(sq_error[0] / accepted[0], sq_error[1] / accepted[1]);
}

// The acceptance threshold is calibrated on as many random pairs whichever way a strip of tiles
// lies: partners come from nearby rows, which a column of tiles has few of (a column of 6 had 7
// partners against the row's 16, and a warning that the calibration was thin).
TEST(RegisterPairs, AColumnOfTilesIsCalibratedAsARow) {
  std::size_t random[2] = {0, 0};
  for (int vertical : {0, 1}) {
    const SyntheticGrid g = make_grid(vertical ? 6 : 1, vertical ? 1 : 6, 120, 30, 3, 8);
    PairRegOptions o;
    o.search_um = 6 * 0.02;
    const PairRegistration r = register_pairs(*g.source, grid_neighbours(*g.source), o);
    random[vertical] = r.calibration.at(0).random_pairs;
    for (const PairResult& p : r.pairs) EXPECT_TRUE(p.accepted) << p.pair.a << "-" << p.pair.b;
  }
  EXPECT_EQ(random[0], 16u);  // every (pair, tile at least two cells from its first tile) once
  EXPECT_EQ(random[1], random[0]);
}

TEST(RegisterPairs, EmptyStripsAreRejectedNotMatched) {
  const SyntheticGrid g = make_grid(3, 3, 240, 30, 6, 5, {4});  // the centre tile is empty
  PairRegOptions o;
  o.search_um = 12 * 0.02;
  const PairRegistration r = register_pairs(*g.source, grid_neighbours(*g.source), o);
  for (const PairResult& p : r.pairs) {
    const bool touches_empty = p.pair.a == 4 || p.pair.b == 4;
    if (touches_empty) {
      EXPECT_FALSE(p.valid);
      EXPECT_FALSE(p.accepted);
      EXPECT_EQ(p.dx_px, p.nominal_dx_px);  // reported at the stage offset
    } else {
      EXPECT_TRUE(p.accepted);
    }
  }
}

// Two tiles with bright structure away from their overlap and, in the overlap, the same faint
// texture 8 px right and 5 px down of where the stage puts it in b (an A-net's background in
// an overlap with no localizations): faint strips are not matched; the same texture bright is.
TEST(RegisterPairs, FaintStripsAreNotMatched) {
  const std::size_t size = 240;
  const long offset = 200;  // b's nominal x in a's pixels: a 40 px overlap
  const auto bright = random_blobs(2 * size, size, 120, 11, 0);
  const auto texture = random_blobs(2 * size, size, 400, 12, 0);
  const auto run = [&](float texture_amplitude, double min_level_fraction) {
    ImageF a = render_blobs(bright, size, size), b = render_blobs(bright, size, size, -300, 0);
    const ImageF ta = render_blobs(texture, size, size), tb = render_blobs(texture, size, size, -offset - 8, -5);
    for (std::size_t y = 0; y < size; ++y)
      for (std::size_t x = 0; x < size; ++x) {
        if (x >= 150) a(x, y) = texture_amplitude * ta(x, y);  // a's right part: the overlap and the search range
        if (x < 90) b(x, y) = texture_amplitude * tb(x, y);
      }
    MemoryTileSource src({"image"}, 20.0);
    TileInfo ia, ib;
    ib.id = 1, ib.col = 1, ib.x_um = offset * 0.02;
    std::vector<ImageF> ca, cb;  // ImageF moves only: no initializer lists
    ca.push_back(std::move(a));
    cb.push_back(std::move(b));
    src.add(ia, std::move(ca));
    src.add(ib, std::move(cb));
    PairRegOptions o;
    o.search_um = 12 * 0.02;
    o.random_pairs = 0;
    o.signals[0].min_strip_level_fraction = min_level_fraction;
    return register_pairs(src, grid_neighbours(src), o).pairs.at(0);
  };
  const PairResult faint = run(0.003f, 0.01);  // as `run` registers reconstructions
  EXPECT_FALSE(faint.valid);
  EXPECT_FALSE(faint.accepted);
  // Without the level test the faint texture is matched, 8 px off the stage: the false link.
  const PairResult ungated = run(0.003f, 0.0);
  EXPECT_TRUE(ungated.accepted);
  EXPECT_NEAR(ungated.dx_px, offset + 8, 0.5);
  const PairResult strong = run(1.0f, 0.01);  // the same texture as structure
  ASSERT_TRUE(strong.valid);
  EXPECT_NEAR(strong.dx_px, offset + 8, 0.5);  // b's texture lies 8 px right and 5 px down of the stage's place
  EXPECT_NEAR(strong.dy_px, 5, 0.5);
}

// A source that records which tiles were read.
class CountingSource : public TileSource {
 public:
  explicit CountingSource(const TileSource& s) : s_(s), loads_(s.size()) {}
  std::size_t size() const override { return s_.size(); }
  const TileInfo& info(std::size_t i) const override { return s_.info(i); }
  std::size_t channels() const override { return s_.channels(); }
  const std::string& channel_name(std::size_t c) const override { return s_.channel_name(c); }
  double pixel_nm() const override { return s_.pixel_nm(); }
  ImageF load(std::size_t i, std::size_t c) const override {
    ++loads_[i];
    return s_.load(i, c);
  }
  int loads(std::size_t i) const { return loads_[i]; }

 private:
  const TileSource& s_;
  mutable std::vector<std::atomic<int>> loads_;
};

TEST(RegisterPairs, SkippedTilesTakeNoPartAndTheirPairsSaySo) {
  // The centre tile stands for a failed FoV: neither its pairs nor random pairs read it.
  const SyntheticGrid g = make_grid(3, 3, 240, 30, 6, 3);
  const CountingSource counted(*g.source);
  PairRegOptions o;
  o.search_um = 12 * 0.02;
  o.skip_tiles.assign(9, 0);
  o.skip_tiles[4] = 1;
  const PairRegistration r = register_pairs(counted, grid_neighbours(counted), o);
  EXPECT_EQ(counted.loads(4), 0);
  EXPECT_EQ(r.calibration[0].pairs_tried, 8u);
  for (const PairResult& p : r.pairs) {
    const bool touches = p.pair.a == 4 || p.pair.b == 4;
    EXPECT_EQ(p.skipped, touches);
    EXPECT_EQ(p.accepted, !touches);
    EXPECT_TRUE(!touches || !p.valid);
  }
  o.skip_tiles.resize(3);
  EXPECT_THROW(register_pairs(counted, grid_neighbours(counted), o), std::invalid_argument);
}

TEST(RegisterPairs, LaterSignalsRescueRejectedPairs) {
  // Channel 0 is empty in the centre tile; channel 1 ("double") has it.
  SyntheticGrid g = make_grid(3, 3, 240, 30, 6, 7, {}, true);
  MemoryTileSource patched({"image", "double"}, 20);
  for (std::size_t i = 0; i < g.source->size(); ++i) {
    std::vector<ImageF> ch;
    ch.push_back(i == 4 ? ImageF(240, 240) : g.source->load(i, 0));
    ch.push_back(g.source->load(i, 1));
    patched.add(g.source->info(i), std::move(ch));
  }
  PairRegOptions o;
  o.search_um = 12 * 0.02;
  RegistrationSignal second;
  second.channel = 1;
  o.signals = {RegistrationSignal{}, second};
  std::vector<std::pair<std::size_t, std::size_t>> started;  // what a progress display is told
  o.signal_started = [&](std::size_t signal, std::size_t pairs) { started.emplace_back(signal, pairs); };
  std::atomic<std::size_t> registered{0};  // called from worker threads
  const PairRegistration r = register_pairs(patched, grid_neighbours(patched), o, [&] { ++registered; });
  ASSERT_EQ(r.calibration.size(), 2u);
  EXPECT_EQ(r.calibration[1].pairs_tried, 4u);  // only the centre tile's pairs were retried
  const std::vector<std::pair<std::size_t, std::size_t>> expected{{0, 12}, {1, 4}};
  EXPECT_EQ(started, expected);
  EXPECT_EQ(registered.load(), 16u);  // the progress calls add up to the totals announced
  for (const PairResult& p : r.pairs) {
    EXPECT_TRUE(p.accepted);
    EXPECT_EQ(p.signal, (p.pair.a == 4 || p.pair.b == 4) ? 1 : 0);
    EXPECT_NEAR(p.dx_px, g.true_x_px[p.pair.b] - g.true_x_px[p.pair.a], 0.3);
  }
}

TEST(RegisterPairs, SameResultForAnyThreadCount) {
  const SyntheticGrid g = make_grid(3, 4, 200, 30, 6, 9);
  PairRegOptions o;
  o.search_um = 12 * 0.02;
  const auto pairs = grid_neighbours(*g.source);
  PairRegistration one, two;
  {
    tbb::global_control c(tbb::global_control::max_allowed_parallelism, 1);
    one = register_pairs(*g.source, pairs, o);
  }
  {
    tbb::global_control c(tbb::global_control::max_allowed_parallelism, 4);
    two = register_pairs(*g.source, pairs, o);
  }
  ASSERT_EQ(one.pairs.size(), two.pairs.size());
  for (std::size_t k = 0; k < one.pairs.size(); ++k) {
    EXPECT_EQ(one.pairs[k].dx_px, two.pairs[k].dx_px);
    EXPECT_EQ(one.pairs[k].dy_px, two.pairs[k].dy_px);
    EXPECT_EQ(one.pairs[k].ncc, two.pairs[k].ncc);
    EXPECT_EQ(one.pairs[k].accepted, two.pairs[k].accepted);
  }
  EXPECT_EQ(one.calibration[0].threshold, two.calibration[0].threshold);
}

namespace {
// Two processes' exchange (WorkShare::sum_all), played by two threads meeting at a barrier (the
// MPI run uses MPI_Allreduce; tests/jobs/run/test_run.py checks that end to end).
class TwoProcessExchange {
 public:
  void operator()(std::vector<double>& v) {
    std::unique_lock<std::mutex> lock(m_);
    cv_.wait(lock, [&] { return departed_ == 0; });  // the previous exchange is over
    if (arrived_ == 0) sum_.assign(v.size(), 0.0);
    ASSERT_EQ(sum_.size(), v.size());
    for (std::size_t i = 0; i < v.size(); ++i) sum_[i] += v[i];
    const std::uint64_t gen = generation_;
    if (++arrived_ == 2) {
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != gen; });
    }
    v = sum_;
    if (++departed_ == 2) arrived_ = departed_ = 0, cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<double> sum_;
  int arrived_ = 0, departed_ = 0;
  std::uint64_t generation_ = 0;
};
}  // namespace

// Two processes' shares: both get exactly the result of one process registering everything, and
// each loads only part of the tiles.
TEST(RegisterPairs, SharedOverTwoProcessesGivesTheSameResult) {
  const SyntheticGrid g = make_grid(5, 3, 200, 30, 6, 21);
  PairRegOptions o;
  o.search_um = 12 * 0.02;
  o.random_pairs = 30;
  const auto pairs = grid_neighbours(*g.source);
  const PairRegistration whole = register_pairs(*g.source, pairs, o);

  TwoProcessExchange exchange;
  auto sum_all = [&](std::vector<double>& v) { exchange(v); };
  PairRegistration part[2];
  std::vector<std::thread> procs;
  for (int r = 0; r < 2; ++r)
    procs.emplace_back([&, r] {
      WorkShare share{r, 2, sum_all};
      part[r] = register_pairs(*g.source, pairs, o, {}, &share);
    });
  for (auto& t : procs) t.join();
  for (const PairRegistration& p : part) {
    ASSERT_EQ(p.pairs.size(), whole.pairs.size());
    for (std::size_t k = 0; k < whole.pairs.size(); ++k) {
      EXPECT_EQ(p.pairs[k].dx_px, whole.pairs[k].dx_px) << k;
      EXPECT_EQ(p.pairs[k].dy_px, whole.pairs[k].dy_px) << k;
      EXPECT_EQ(p.pairs[k].ncc, whole.pairs[k].ncc) << k;
      EXPECT_EQ(p.pairs[k].accepted, whole.pairs[k].accepted) << k;
    }
    EXPECT_EQ(p.calibration[0].threshold, whole.calibration[0].threshold);
    EXPECT_EQ(p.calibration[0].random_valid, whole.calibration[0].random_valid);
    EXPECT_LT(p.tile_loads, whole.tile_loads);  // each process read only part of the grid
  }
  EXPECT_LE(part[0].tile_loads + part[1].tile_loads, whole.tile_loads + 2 * 3);  // at most a row more each
}

// A stop signal (SLURM pre-emption) seen by one process only stops both at the exchange, instead
// of leaving the other to register its share and fail later on the missing results.
TEST(RegisterPairs, AStopOnOneProcessStopsBoth) {
  const SyntheticGrid g = make_grid(5, 3, 200, 30, 6, 21);
  const auto pairs = grid_neighbours(*g.source);
  TwoProcessExchange exchange;
  std::string what[2];
  std::vector<std::thread> procs;
  for (int r = 0; r < 2; ++r)
    procs.emplace_back([&, r] {
      PairRegOptions o;
      o.search_um = 12 * 0.02;
      o.random_pairs = 30;
      o.stop_requested = [r] { return r == 1; };
      WorkShare share{r, 2, [&](std::vector<double>& v) { exchange(v); }};
      try {
        register_pairs(*g.source, pairs, o, {}, &share);
      } catch (const Stopped& e) {
        what[r] = e.what();
      }
    });
  for (auto& t : procs) t.join();
  EXPECT_NE(what[1].find("tile registration stopped at grid row"), std::string::npos) << what[1];
  EXPECT_NE(what[0].find("reached another rank"), std::string::npos) << what[0];
  // One process: the stop is thrown at once.
  PairRegOptions o;
  o.stop_requested = [] { return true; };
  EXPECT_THROW(register_pairs(*g.source, pairs, o), Stopped);
}

// A 6 x 6 grid's accepted pairs with stage errors of a few px: one weak match 60 px off on its own
// is a false match; a tile the stage misplaced by 40 px moves all four of its links alike, a row
// moved by backlash moves its whole seam alike, and a strong match is kept even alone.
TEST(RejectImplausiblePairs, ALoneWeakFarLinkGoesWhatTheStageReallyMovedStays) {
  std::vector<int> rows, cols;
  for (int t = 0; t < 36; ++t) rows.push_back(t / 6), cols.push_back(t % 6);
  const auto grid = [](std::size_t tiles) {
    PairRegistration reg;
    SignalCalibration c;
    c.median_ncc = 0.9;
    reg.calibration = {c};
    std::uint32_t state = 7;
    const auto noise = [&] {  // deterministic, within +-4 px
      state = state * 1664525u + 1013904223u;
      return static_cast<double>(state >> 8) / static_cast<double>(1u << 24) * 8.0 - 4.0;
    };
    for (std::size_t t = 0; t < tiles; ++t)
      for (const bool right : {true, false}) {
        const std::size_t r = t / 6, c = t % 6;
        if ((right && c == 5) || (!right && r == 5)) continue;
        PairResult p;
        p.pair = {t, right ? t + 1 : t + 6};
        p.nominal_dx_px = right ? 100 : 0, p.nominal_dy_px = right ? 0 : 100;
        p.dx_px = p.nominal_dx_px + noise(), p.dy_px = p.nominal_dy_px + noise();
        p.valid = p.accepted = true;
        p.signal = 0;
        p.ncc = 0.85;  // below the median: judged when far
        reg.pairs.push_back(p);
      }
    return reg;
  };
  PairRegistration reg = grid(36);
  const auto pair = [&](std::size_t a, std::size_t b) -> PairResult& {
    for (PairResult& p : reg.pairs)
      if (p.pair.a == a && p.pair.b == b) return p;
    throw std::logic_error("no such pair");
  };
  pair(14, 15).dy_px += 60;  // a false match
  pair(20, 21).dx_px += 40, pair(15, 21).dx_px += 40;  // tile 21 sits 40 px right of its stage position
  pair(21, 22).dx_px -= 40, pair(21, 27).dx_px -= 40;
  for (std::size_t c = 0; c < 6; ++c) pair(24 + c, 30 + c).dx_px += 50;  // the last row 50 px right (backlash)
  pair(2, 3).dx_px += 70, pair(2, 3).ncc = 0.95;  // far and alone, but as good a match as any: kept
  EXPECT_EQ(reject_implausible_pairs(reg, 100.0, rows, cols), 1u);
  EXPECT_TRUE(pair(14, 15).implausible);
  EXPECT_FALSE(pair(14, 15).accepted);
  for (const auto& [a, b] : {std::pair<std::size_t, std::size_t>{20, 21}, {15, 21}, {21, 22}, {21, 27}, {24, 30}, {29, 35}, {2, 3}})
    EXPECT_TRUE(pair(a, b).accepted) << a << "-" << b;
  EXPECT_GT(reg.stage_spread_px, 1.0);
  EXPECT_LT(reg.stage_spread_px, 5.0);
  EXPECT_DOUBLE_EQ(reg.implausible_beyond_px, 25.0);  // a quarter of the search: the spread is small

  // Without the grid, the row's seam does not corroborate its links.
  PairRegistration no_grid = reg;
  for (PairResult& p : no_grid.pairs) p.accepted = true, p.implausible = false;
  EXPECT_EQ(reject_implausible_pairs(no_grid, 100.0, {}, {}), 7u);

  // Too few accepted pairs to know the stage's spread: nothing is judged.
  PairRegistration few = grid(3);
  few.pairs[0].dy_px += 60;
  EXPECT_EQ(reject_implausible_pairs(few, 100.0, rows, cols), 0u);
  EXPECT_TRUE(few.pairs[0].accepted);
}

// The threshold starts from the random pairs' 99% quantile; among fewer than ~100 nearest rank
// gives their largest, which one chance match sets (a campaign half acquired: 0.92 among 41).
TEST(RandomMatchQuantile, OneChanceMatchDoesNotSetItAlone) {
  bool second = false;
  std::vector<double> v(40);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.01 * static_cast<double>(i);  // 0 .. 0.39
  v.push_back(0.92);
  EXPECT_DOUBLE_EQ(random_match_quantile(v, 0.99, &second), 0.39);
  EXPECT_TRUE(second);
  EXPECT_DOUBLE_EQ(random_match_quantile(v, 1.0, &second), 0.92);  // the largest, asked for
  EXPECT_FALSE(second);
  // Two high ones are no chance: the second of them counts.
  v.back() = 0.9, v.push_back(0.92);
  EXPECT_DOUBLE_EQ(random_match_quantile(v, 0.99, &second), 0.9);
  // Below 20 matches nothing is lowered (the calibration says how few there were).
  std::vector<double> few(v.end() - 19, v.end());
  EXPECT_DOUBLE_EQ(random_match_quantile(few, 0.99, &second), 0.92);
  EXPECT_FALSE(second);
  // Many matches: nearest rank lies below the second largest already.
  std::vector<double> many(300);
  for (std::size_t i = 0; i < many.size(); ++i) many[i] = 0.001 * static_cast<double>(i);
  EXPECT_DOUBLE_EQ(random_match_quantile(many, 0.99, &second), many[static_cast<std::size_t>(std::lround(0.99 * 299))]);
  EXPECT_FALSE(second);
}

TEST(ApartByPositions, GroupsApartOnlyWhereEveryPairBetweenThemLeavesNoOverlap) {
  // Tiles 0-1 and 2-3 two blocks (pairs 1-2 leave no overlap), tile 4 a failed FoV beside 3.
  const auto pair = [](std::size_t a, std::size_t b, bool no_overlap, bool skipped = false) {
    PairResult p;
    p.pair = {a, b};
    p.no_overlap = no_overlap, p.skipped = skipped;
    return p;
  };
  std::vector<PairResult> pairs = {pair(0, 1, false), pair(1, 2, true), pair(2, 3, false), pair(3, 4, false, true)};
  const std::vector<int> component = {0, 0, 1, 1, 2};
  EXPECT_TRUE(apart_by_positions(pairs, component));  // the failed FoV's pair says nothing
  pairs[1].no_overlap = false;                          // a pair that overlaps but did not register
  EXPECT_FALSE(apart_by_positions(pairs, component));
  EXPECT_FALSE(apart_by_positions({pair(0, 1, false)}, {0, 0}));  // one group: nothing apart
}
