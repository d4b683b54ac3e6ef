// Benchmark of overlap-strip registration (driven by bench_register.py, which runs scikit-image's
// phase_cross_correlation on the same strips and prints the ratios).
//
//   bench_register export CAMPAIGN_DIR OUT_DIR [--search-um 2] [--channel PATTERN]
//       cuts the strip pair of every grid neighbour pair of a simulated campaign (full resolution,
//       the region the stitcher registers: overlap + search range, zeros where a tile has no data)
//       into OUT_DIR/NNN_fixed.tif, NNN_moving.tif and OUT_DIR/pairs.csv (geometry, ground truth).
//   bench_register time OUT_DIR [--scale 2] [--repeats 3] [--threads 1]
//       registers every exported pair as annamosaic does (reduce, pre-filter, phase correlation,
//       NCC validation and refinement) and prints one CSV line per pair (shift, NCC, accepted-able,
//       seconds) and a summary line with pairs/s.
#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "imageio/tiff_io.hpp"
#include "sim/campaign.hpp"
#include "tiles/pairwise.hpp"
#include "tiles/tile_source.hpp"

using namespace annamosaic;
namespace fs = std::filesystem;

namespace {

std::string arg(int argc, char** argv, const std::string& name, const std::string& def) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == name) return argv[i + 1];
  return def;
}

int do_export(int argc, char** argv) {
  const std::string dir = argv[2], out = argv[3];
  const double search_um = std::atof(arg(argc, argv, "--search-um", "2").c_str());
  const std::string pattern = arg(argc, argv, "--channel", "ground_truth/dense/{id}.tif");
  fs::create_directories(out);
  const auto src = TiffTileSource::open(dir, dir + "/positions.csv", {{"tiles", pattern, ""}}, 0);
  std::map<int, FovTruth> truth;
  for (const FovTruth& t : read_ground_truth(dir)) truth[t.placement.id] = t;
  const double px = 1000.0 / src->pixel_nm(), search_px = search_um * px;
  std::ofstream csv(out + "/pairs.csv");
  csv << "pair,a,b,d0x,d0y,width,height,fixed_x0,fixed_y0,fixed_w,fixed_h,moving_x0,moving_y0,moving_w,moving_h,"
         "true_dx,true_dy,search_px\n";
  RegistrationSignal full;
  full.scale = 1;
  full.prefilter = Prefilter::None;
  int k = 0;
  std::map<std::size_t, ImageF> cache;
  auto tile = [&](std::size_t i) -> const ImageF& {
    if (!cache.count(i)) cache[i] = src->load(i, 0);
    return cache[i];
  };
  for (const TilePair& p : grid_neighbours(*src)) {
    const StripGeometry g = strip_geometry(src->info(p.a), src->info(p.b), src->pixel_nm(), search_px);
    if (g.width == 0) continue;
    const Strip a = extract_strip(tile(p.a).view(), g.x0, g.y0, g.width, g.height, full);
    const Strip b = extract_strip(tile(p.b).view(), g.x0 - g.d0x, g.y0 - g.d0y, g.width, g.height, full);
    char name[64];
    std::snprintf(name, sizeof name, "%03d", k);
    TiffWriteOptions o;
    o.deflate = false;
    write_tiff(out + "/" + name + "_fixed.tif", a.image.view(), o);
    write_tiff(out + "/" + name + "_moving.tif", b.image.view(), o);
    const FovPlacement& ta = truth.at(src->info(p.a).id).placement;
    const FovPlacement& tb = truth.at(src->info(p.b).id).placement;
    csv << k << "," << src->info(p.a).id << "," << src->info(p.b).id << "," << g.d0x << "," << g.d0y << "," << g.width << ","
        << g.height << "," << a.valid.x0 << "," << a.valid.y0 << "," << a.valid.width << "," << a.valid.height << ","
        << b.valid.x0 << "," << b.valid.y0 << "," << b.valid.width << "," << b.valid.height << ","
        << (tb.true_x_um - ta.true_x_um) * px << "," << (tb.true_y_um - ta.true_y_um) * px << "," << search_px << "\n";
    ++k;
    // Pairs come sorted by a, and every pair (x, t) has x < t: tiles below a are never needed again.
    for (auto it = cache.begin(); it != cache.end();) it = it->first < p.a ? cache.erase(it) : std::next(it);
  }
  std::printf("exported %d strip pairs of %s to %s\n", k, dir.c_str(), out.c_str());
  return 0;
}

int do_time(int argc, char** argv) {
  const std::string dir = argv[2];
  const std::size_t scale = std::strtoul(arg(argc, argv, "--scale", "2").c_str(), nullptr, 10);
  const int repeats = std::atoi(arg(argc, argv, "--repeats", "3").c_str());
  const int threads = std::atoi(arg(argc, argv, "--threads", "1").c_str());
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
  std::ifstream csv(dir + "/pairs.csv");
  if (!csv) {
    std::fprintf(stderr, "%s/pairs.csv: cannot open (run export first)\n", dir.c_str());
    return 3;
  }
  std::string line;
  std::getline(csv, line);
  struct Row {
    int k;
    long d0x, d0y;
    PcRect fv, mv;
    double search;
    ImageF fixed, moving;
  };
  std::vector<Row> rows;
  while (std::getline(csv, line)) {
    std::replace(line.begin(), line.end(), ',', ' ');
    std::istringstream s(line);
    Row r;
    int a, b;
    std::size_t w, h;
    double tdx, tdy;
    s >> r.k >> a >> b >> r.d0x >> r.d0y >> w >> h >> r.fv.x0 >> r.fv.y0 >> r.fv.width >> r.fv.height >> r.mv.x0 >> r.mv.y0 >>
        r.mv.width >> r.mv.height >> tdx >> tdy >> r.search;
    char name[64];
    std::snprintf(name, sizeof name, "%03d", r.k);
    r.fixed = read_tiff(dir + "/" + name + "_fixed.tif");
    r.moving = read_tiff(dir + "/" + name + "_moving.tif");
    rows.push_back(std::move(r));
  }
  // The strips as the stitcher sees them: same region, reduced and pre-filtered from the full-resolution data.
  RegistrationSignal sig;
  sig.scale = scale;
  const PcOptions pc = default_strip_pc_options();
  std::printf("pair,dx,dy,valid,ncc,second_ncc,seconds\n");
  double total = 0;
  for (const Row& r : rows) {
    auto cut = [&](const ImageF& img, const PcRect& v) {
      return extract_strip(img.view().region(v.x0, v.y0, v.width, v.height), -static_cast<long>(v.x0), -static_cast<long>(v.y0),
                           img.width(), img.height(), sig);
    };
    StripGeometry g;
    g.d0x = r.d0x, g.d0y = r.d0y, g.width = r.fixed.width(), g.height = r.fixed.height();
    PcResult res;
    double best = 1e300;
    for (int rep = 0; rep < repeats; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      const Strip a = cut(r.fixed, r.fv), b = cut(r.moving, r.mv);
      res = register_strips(a, b, g, sig, pc, r.search);
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    total += best;
    std::printf("%d,%.4f,%.4f,%d,%.4f,%.4f,%.6f\n", r.k, res.dx_px, res.dy_px, res.valid ? 1 : 0, res.ncc, res.second_ncc, best);
  }
  std::printf("# annamosaic scale %zu threads %d: %zu pairs in %.3f s (best of %d): %.1f pairs/s\n", scale, threads, rows.size(), total,
              repeats, rows.size() / total);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 4 && std::string(argv[1]) == "export") return do_export(argc, argv);
  if (argc >= 3 && std::string(argv[1]) == "time") return do_time(argc, argv);
  std::fprintf(stderr,
               "usage: bench_register export CAMPAIGN_DIR OUT_DIR [--search-um 2] [--channel PATTERN]\n"
               "       bench_register time OUT_DIR [--scale 2] [--repeats 3] [--threads 1]\n");
  return 1;
}
