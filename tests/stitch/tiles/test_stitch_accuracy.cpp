// Heavy (ctest -L heavy): stitching accuracy on simulated campaigns with ground truth, the choice of
// registration signal, and the time of a whole 33 x 33 layout. Prints the tables of the report.
//
// Campaign: 8 x 8 FoVs of 55.3 um (2765 px at 20 nm), 1 um overlap, microtubules in large cells
// (spacing 120 um, radius 60 um, 80% of lattice sites: 7 of 64 FoVs near-empty, the others
// connected through overlaps), 1000 frames, 4 detections per label, seed 2. Written once under
// the build tree and reused (delete the folder to simulate again).
#include <gtest/gtest.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "imageio/tiff_io.hpp"
#include "loc/table_reader.hpp"
#include "register/widefield_registration.hpp"
#include "render/render.hpp"
#include "sim/campaign.hpp"
#include "tiles/stitch.hpp"

using namespace annamosaic;
namespace fs = std::filesystem;

namespace {

std::string campaign(double jitter_um) {
  const std::string dir = std::string(ANNAMOSAIC_TEST_TMP) + "/grid8_jitter" + std::to_string(jitter_um).substr(0, 3);
  if (fs::exists(dir + "/positions.csv")) return dir;
  CampaignOptions o;
  o.name = "accuracy";
  o.seed = 2;
  o.grid.rows = o.grid.cols = 8;
  o.grid.fov_um = 55.3;
  o.grid.overlap_um = 1.0;
  o.grid.jitter_um = jitter_um;
  o.grid.seed = mix_seed(o.seed, 7);  // as `annamosaic simulate --seed 2`
  o.specimen.cell_spacing_um = 120;
  o.specimen.cell_radius_um = 60;
  o.specimen.cell_fraction = 0.8;
  o.specimen.gradient = 0.5;
  o.blinking.detections_per_label = 4;
  o.widefield.vignetting = 0.2;
  o.write_dense = true;
  simulate_campaign(o, dir);
  return dir;
}

// The campaign's tiles as the pipeline would have them. Channels: dense (all frames rendered),
// perfect (label density), sparse (first 10% of the frames), widefield (frames 3-5 registered to
// the dense image with register_widefield and resampled onto the 20 nm grid: the pipeline's L).
class CampaignTiles : public TileSource {
 public:
  explicit CampaignTiles(const std::string& dir)
      : dir_(dir),
        tiff_(TiffTileSource::open(dir, dir + "/positions.csv",
                                   {parse_channel_spec("dense=ground_truth/dense/{id}.tif"),
                                    parse_channel_spec("perfect=ground_truth/perfect/{id}.tif")},
                                   20)) {}
  std::size_t size() const override { return tiff_->size(); }
  const TileInfo& info(std::size_t i) const override { return tiff_->info(i); }
  std::size_t channels() const override { return names_.size(); }
  const std::string& channel_name(std::size_t c) const override { return names_[c]; }
  double pixel_nm() const override { return 20; }
  ImageF load(std::size_t i, std::size_t c) const override {
    if (c < 2) return tiff_->load(i, c);
    const TileInfo& t = info(i);
    const std::string fov = dir_ + "/fov/" + expand_tile_pattern("{id}", t);
    if (c == 2) {
      const LocTable table = read_table(fov + "/locs.csv", {});
      RenderOptions ro;
      ro.pixel_nm = 20;
      ro.window.first = 0;
      ro.window.end = 100;
      return render(table, Field{0, 0, t.width_px * 20.0, t.height_px * 20.0}, ro);
    }
    const ImageF wf = read_tiff_mean(fov + "/widefield.tif", PageRange{3, 5});
    const ImageF dense = tiff_->load(i, 0);
    const WidefieldRegistration reg = register_widefield(dense.view(), wf.view(), 20, 108);
    return widefield_on_sr_grid(wf.view(), reg, t.width_px, t.height_px, 20, 108);
  }

 private:
  std::string dir_;
  std::unique_ptr<TiffTileSource> tiff_;
  std::vector<std::string> names_{"dense", "perfect", "sparse", "widefield"};
};

struct Accuracy {
  std::size_t accepted = 0, false_edges = 0, pairs = 0, dropped = 0;
  double edge_rms = 0;  // per axis, accepted edges within 3 px of the truth
  int components = 0;
  std::size_t n_full = 0, n_empty = 0;
  double rms = 0, max = 0, empty_rms = 0, empty_max = 0, empty_stage_rms = 0, empty_worst_excess = 0;
  std::size_t main_tiles = 0;      // non-empty FoVs in the largest component of accepted links
  double main_rms = 0, main_max = 0;  // their errors, offset removed over that component
  double seconds = 0;
};

Accuracy evaluate(const TileSource& src, const std::string& dir, const StitchOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  const StitchLayout L = compute_layout(src, opt);
  Accuracy a;
  a.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::map<int, FovTruth> truth;
  std::vector<double> labels;
  for (const FovTruth& t : read_ground_truth(dir)) truth[t.placement.id] = t, labels.push_back(static_cast<double>(t.labels));
  std::sort(labels.begin(), labels.end());
  const double empty_below = 0.05 * labels[labels.size() / 2];  // near-empty: < 5% of the median FoV's labels
  const double px = 1000.0 / 20;
  auto tx = [&](std::size_t i) { return truth.at(src.info(i).id).placement.true_x_um * px; };
  auto ty = [&](std::size_t i) { return truth.at(src.info(i).id).placement.true_y_um * px; };
  auto empty = [&](std::size_t i) { return static_cast<double>(truth.at(src.info(i).id).labels) < empty_below; };
  double se = 0;
  std::size_t ne = 0;
  for (const PairResult& p : L.registration.pairs) {
    ++a.pairs;
    if (!p.accepted) continue;
    ++a.accepted;
    const double ex = p.dx_px - (tx(p.pair.b) - tx(p.pair.a)), ey = p.dy_px - (ty(p.pair.b) - ty(p.pair.a));
    if (std::hypot(ex, ey) > 3) {
      ++a.false_edges;
      continue;
    }
    se += ex * ex + ey * ey, ++ne;
  }
  a.edge_rms = ne ? std::sqrt(se / (2.0 * ne)) : 0;
  a.dropped = L.solution.dropped;
  a.components = L.solution.components;
  // Global offset: the median over non-empty FoVs (robust to a misplaced part).
  std::vector<double> ox, oy;
  for (std::size_t i = 0; i < src.size(); ++i)
    if (!empty(i)) ox.push_back(L.solution.x_px[i] - tx(i)), oy.push_back(L.solution.y_px[i] - ty(i));
  std::nth_element(ox.begin(), ox.begin() + ox.size() / 2, ox.end());
  std::nth_element(oy.begin(), oy.begin() + oy.size() / 2, oy.end());
  const double gx = ox[ox.size() / 2], gy = oy[oy.size() / 2];
  double sf = 0, sem = 0, ses = 0;
  for (std::size_t i = 0; i < src.size(); ++i) {
    const double e = std::hypot(L.solution.x_px[i] - tx(i) - gx, L.solution.y_px[i] - ty(i) - gy);
    if (empty(i)) {
      const double stage = std::hypot(L.input.nominal_x_px[i] - tx(i) - gx, L.input.nominal_y_px[i] - ty(i) - gy);
      ++a.n_empty, sem += e * e, ses += stage * stage;
      a.empty_max = std::max(a.empty_max, e);
      a.empty_worst_excess = std::max(a.empty_worst_excess, e - stage);
    } else {
      ++a.n_full, sf += e * e;
      a.max = std::max(a.max, e);
    }
  }
  a.rms = std::sqrt(sf / a.n_full);
  // The largest component: where registration placed tiles relative to each other.
  std::map<int, std::size_t> count;
  for (std::size_t i = 0; i < src.size(); ++i)
    if (!empty(i)) ++count[L.solution.component[i]];
  int main_c = 0;
  for (const auto& [c, n] : count)
    if (n > count[main_c]) main_c = c;
  std::vector<double> mx, my;
  for (std::size_t i = 0; i < src.size(); ++i)
    if (!empty(i) && L.solution.component[i] == main_c) mx.push_back(L.solution.x_px[i] - tx(i)), my.push_back(L.solution.y_px[i] - ty(i));
  a.main_tiles = mx.size();
  std::vector<double> sx = mx, sy = my;
  std::nth_element(sx.begin(), sx.begin() + sx.size() / 2, sx.end());
  std::nth_element(sy.begin(), sy.begin() + sy.size() / 2, sy.end());
  double sm = 0;
  for (std::size_t k = 0; k < mx.size(); ++k) {
    const double e = std::hypot(mx[k] - sx[sx.size() / 2], my[k] - sy[sy.size() / 2]);
    sm += e * e, a.main_max = std::max(a.main_max, e);
  }
  a.main_rms = std::sqrt(sm / std::max<std::size_t>(1, mx.size()));
  a.empty_rms = std::sqrt(sem / std::max<std::size_t>(1, a.n_empty));
  a.empty_stage_rms = std::sqrt(ses / std::max<std::size_t>(1, a.n_empty));
  return a;
}

void print(const char* label, const Accuracy& a) {
  std::printf("| %-38s | %3zu/%zu | %2zu | %2zu | %.3f | %2d | %2zu/%zu: %.3f / %.3f | %.3f | %.3f | %.1f | %.1f | %.1f | %6.1f |\n",
              label, a.accepted, a.pairs, a.false_edges, a.dropped, a.edge_rms, a.components, a.main_tiles, a.n_full, a.main_rms,
              a.main_max, a.rms, a.max, a.empty_rms, a.empty_max, a.empty_stage_rms, a.seconds);
  std::fflush(stdout);
}

void header() {
  std::printf("| signal / setting | accepted | false (>3px) | dropped | edge RMS/axis px | components | largest component: "
              "non-empty FoVs, RMS / max px | non-empty RMS px | non-empty max px | empty RMS px | empty max px | "
              "empty: stage RMS px | s |\n");
}

StitchOptions with(std::size_t channel, std::size_t scale, double search_um, Prefilter f = Prefilter::Gaussian, double sigma = 1.0) {
  StitchOptions o;
  o.registration.search_um = search_um;
  o.registration.signals[0].channel = channel;
  o.registration.signals[0].scale = scale;
  o.registration.signals[0].prefilter = f;
  o.registration.signals[0].prefilter_sigma_px = sigma;
  return o;
}

}  // namespace

TEST(StitchAccuracy, Grid8Jitter03um) {
  const std::string dir = campaign(0.3);
  const CampaignTiles src(dir);
  header();
  const Accuracy a = evaluate(src, dir, with(0, 2, 2.0));
  print("dense, scale 2 (default), search 2 um", a);
  EXPECT_LE(a.rms, 0.5);
  EXPECT_LE(a.max, 2.0);
  EXPECT_EQ(a.false_edges, 0u);
  // Empty FoVs: placed by the stage relative to their neighbours, so within the stage error.
  EXPECT_LE(a.empty_rms, 1.5 * a.empty_stage_rms + 5);
}

TEST(StitchAccuracy, Grid8Jitter1um) {
  const std::string dir = campaign(1.0);
  const CampaignTiles src(dir);
  header();
  for (double search : {2.0, 4.0, 6.0}) {
    const Accuracy a = evaluate(src, dir, with(0, 2, search));
    const std::string label = "dense, scale 2, search " + std::to_string(search).substr(0, 3) + " um";
    print(label.c_str(), a);
  }
}

TEST(StitchAccuracy, WhichSignalToRegister) {
  const std::string dir = campaign(0.3);
  const CampaignTiles src(dir);
  header();
  print("dense, scale 1", evaluate(src, dir, with(0, 1, 2.0)));
  print("dense, scale 2", evaluate(src, dir, with(0, 2, 2.0)));
  print("dense, scale 4", evaluate(src, dir, with(0, 4, 2.0)));
  print("perfect (reconstruction proxy), scale 2", evaluate(src, dir, with(1, 2, 2.0)));
  print("sparse 10% frames, scale 2", evaluate(src, dir, with(2, 2, 2.0)));
  // The widefield has no 20 nm detail: registered at scale 5 without the full-resolution refinement.
  StitchOptions wide = with(3, 5, 2.0, Prefilter::LaplacianOfGaussian, 1.0);
  wide.registration.signals[0].refine_full_resolution = false;
  print("widefield (registered), scale 5, LoG 1", evaluate(src, dir, wide));
  StitchOptions both = with(0, 2, 2.0);
  RegistrationSignal wf = wide.registration.signals[0];
  both.registration.signals.push_back(wf);
  print("dense, then widefield for rejected", evaluate(src, dir, both));
}

TEST(StitchAccuracy, WidefieldRegistrationOnTheCampaign) {
  const std::string dir = campaign(0.3);
  double se = 0, mx = 0;
  int n = 0;
  for (const FovTruth& t : read_ground_truth(dir)) {
    if (t.labels < 1000) continue;
    const std::string fov = dir + "/fov/" + expand_tile_pattern("{id}", TileInfo{t.placement.id, 0, 0, 0, 0, 0, 0, ""});
    const ImageF wf = read_tiff_mean(fov + "/widefield.tif", PageRange{3, 5});
    const ImageF sr = read_tiff(dir + "/ground_truth/dense/" + expand_tile_pattern("{id}.tif", TileInfo{t.placement.id, 0, 0, 0, 0, 0, 0, ""}));
    const WidefieldRegistration r = register_widefield(sr.view(), wf.view(), 20, 108);
    const double ex = r.shift_x_px - t.wf_shift_x_px, ey = r.shift_y_px - t.wf_shift_y_px;
    se += ex * ex + ey * ey, mx = std::max(mx, std::hypot(ex, ey)), ++n;
  }
  const double rms = std::sqrt(se / (2 * n));
  std::printf("widefield registration, %d FoVs with >= 1000 labels: RMS %.3f camera px per axis, max %.3f\n", n, rms, mx);
  EXPECT_LE(rms, 0.2);
}

// A 33 x 33 grid simulated on the fly at reduced tile size (10 um = 500 px at 20 nm): label
// density images of a continuous specimen, cut at jittered true positions.
class SimulatedGrid : public TileSource {
 public:
  SimulatedGrid(int n, double fov_um, double overlap_um, double jitter_um)
      : fov_um_(fov_um), specimen_([&] {
          SpecimenOptions so;
          const double span = ((n - 1) * (fov_um - overlap_um) + fov_um + 4 * jitter_um) * 1000;
          so.region = RectNm{-3000, -3000, span + 6000, span + 6000};
          so.seed = 33;
          so.cell_fraction = 1.0, so.cell_spacing_um = 100, so.cell_radius_um = 1000, so.gradient = 0;
          so.filaments_per_100um2 = 30;  // smaller FoVs: denser filaments so that 10 um strips hold structure
          return so;
        }()) {
    GridOptions g;
    g.rows = g.cols = n, g.fov_um = fov_um, g.overlap_um = overlap_um, g.jitter_um = jitter_um, g.seed = 5;
    for (const FovPlacement& p : make_grid(g)) {
      TileInfo t;
      t.id = p.id, t.row = p.row, t.col = p.col, t.x_um = p.nominal_x_um, t.y_um = p.nominal_y_um;
      t.width_px = t.height_px = static_cast<std::size_t>(std::lround(fov_um * 50));
      tiles_.push_back(t);
      truth_.push_back(p);
    }
  }
  std::size_t size() const override { return tiles_.size(); }
  const TileInfo& info(std::size_t i) const override { return tiles_[i]; }
  std::size_t channels() const override { return 1; }
  const std::string& channel_name(std::size_t) const override { return name_; }
  double pixel_nm() const override { return 20; }
  ImageF load(std::size_t i, std::size_t) const override {
    const RectNm fov = fov_rect_nm(truth_[i], fov_um_);
    return perfect_image(specimen_.labels_in(fov), fov, 20, 10);
  }
  const FovPlacement& truth(std::size_t i) const { return truth_[i]; }

 private:
  double fov_um_;
  Specimen specimen_;
  std::vector<TileInfo> tiles_;
  std::vector<FovPlacement> truth_;
  std::string name_ = "perfect";
};

TEST(StitchAccuracy, Layout33x33Timing) {
  const SimulatedGrid grid(33, 10.0, 1.0, 0.3);
  // Simulate every tile first (in memory, ~1 GB), so that the timed part is registration + solve.
  MemoryTileSource tiles({"perfect"}, 20);
  {
    std::vector<ImageF> images(grid.size());
    tbb::parallel_for(std::size_t{0}, grid.size(), [&](std::size_t i) { images[i] = grid.load(i, 0); });
    for (std::size_t i = 0; i < grid.size(); ++i) {
      std::vector<ImageF> ch;
      ch.push_back(std::move(images[i]));
      tiles.add(grid.info(i), std::move(ch));
    }
  }
  StitchOptions o;
  o.registration.search_um = 2.0;
  const auto t1 = std::chrono::steady_clock::now();
  const StitchLayout L = compute_layout(tiles, o);
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  double ox = 0, oy = 0;
  for (std::size_t i = 0; i < grid.size(); ++i)
    ox += L.solution.x_px[i] - grid.truth(i).true_x_um * 50, oy += L.solution.y_px[i] - grid.truth(i).true_y_um * 50;
  ox /= grid.size(), oy /= grid.size();
  double se = 0, mx = 0;
  for (std::size_t i = 0; i < grid.size(); ++i) {
    const double e = std::hypot(L.solution.x_px[i] - grid.truth(i).true_x_um * 50 - ox, L.solution.y_px[i] - grid.truth(i).true_y_um * 50 - oy);
    se += e * e, mx = std::max(mx, e);
  }
  std::size_t accepted = 0;
  for (const PairResult& p : L.registration.pairs) accepted += p.accepted;
  std::printf("33 x 33 layout (10 um tiles, 500 px, in memory): %zu pairs (+%zu random), %zu accepted, %zu dropped; "
              "%.1f s total = registration %.1f s (%.0f pairs/s incl. random pairs) + solve %.3f s (%zu solves); "
              "position RMS %.3f px, max %.3f px\n",
              L.pairs.size(), o.registration.random_pairs, accepted, L.solution.dropped, total, L.register_seconds,
              (L.pairs.size() + o.registration.random_pairs) / L.register_seconds, L.solve_seconds, L.solution.solves,
              std::sqrt(se / grid.size()), mx);
  EXPECT_EQ(L.pairs.size(), 2u * 33 * 32);
  EXPECT_LT(L.solve_seconds, 5.0);
}
