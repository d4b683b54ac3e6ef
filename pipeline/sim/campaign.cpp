#include "sim/campaign.hpp"

#include <fmt/format.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/input_file.hpp"
#include "core/ini_text.hpp"
#include "imageio/png_preview.hpp"
#include "imageio/tiff_io.hpp"
#include "imgproc/filters.hpp"
#include "loc/csv_writer.hpp"
#include "render/render.hpp"

namespace annamosaic {
namespace fs = std::filesystem;

RectNm fov_rect_nm(const FovPlacement& p, double fov_um) {
  return {p.true_x_um * 1000.0, p.true_y_um * 1000.0, fov_um * 1000.0, fov_um * 1000.0};
}

ImageF perfect_image(const std::vector<PointNm>& labels, const RectNm& fov, double pixel_nm, double sigma_loc_nm) {
  const std::size_t W = static_cast<std::size_t>(std::ceil(fov.width_nm / pixel_nm - 1e-9));
  const std::size_t H = static_cast<std::size_t>(std::ceil(fov.height_nm / pixel_nm - 1e-9));
  ImageF hist(W, H);
  for (const PointNm& p : labels) {
    const double fx = (p.x_nm - fov.x0_nm) / pixel_nm, fy = (p.y_nm - fov.y0_nm) / pixel_nm;
    if (fx >= 0 && fx < W && fy >= 0 && fy < H) hist(static_cast<std::size_t>(fx), static_cast<std::size_t>(fy)) += 1.0f;
  }
  return gaussian_blur(hist.view(), sigma_loc_nm / pixel_nm, Border::Zero);
}

namespace {

std::string fov_dir(const std::string& out, int id) { return fmt::format("{}/fov/{:04d}", out, id); }

std::uint64_t file_size(const std::string& p) {
  std::error_code ec;
  const auto s = fs::file_size(p, ec);
  return ec ? 0 : s;
}

// frame-base = 1: the blinking model numbers frames from 1 (sim/blinking.cpp).
std::string campaign_ini(const CampaignOptions& o) {
  const auto& g = o.grid;
  return fmt::format(
      "# Campaign description, read by the pipeline (written by annamosaic simulate).\n"
      "[campaign]\nname = {}\nrows = {}\ncols = {}\nfov-um = {}\noverlap-um = {}\norder = {}\n"
      "camera-pixel-nm = {}\nstructure = {}\nswitch-id = {}\nframes = {}\nframe-base = 1\n"
      "positions = positions.csv\ntable = fov/{{id}}/locs.csv\nwidefield = fov/{{id}}/widefield.tif\n"
      "widefield-frames = {}-{}\n",
      ini_value_text(o.name), g.rows, g.cols, g.fov_um, g.overlap_um, g.order == GridOrder::Snake ? "snake" : "raster",
      o.widefield.camera_pixel_nm, structure_name(o.specimen.structure), structure_switch_id(o.specimen.structure),
      o.blinking.frames, o.widefield.motion_blurred_frames + 1, o.widefield.frames);
}

}  // namespace

CampaignSummary simulate_campaign(const CampaignOptions& opt, const std::string& out,
                                  const std::function<void(const FovTruth&)>& on_fov) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<FovPlacement> grid = make_grid(opt.grid);
  // The specimen spans the whole grid plus the stage error.
  SpecimenOptions so = opt.specimen;
  const double span_x = ((opt.grid.cols - 1) * (opt.grid.fov_um - opt.grid.overlap_um) + opt.grid.fov_um) * 1000.0;
  const double span_y = ((opt.grid.rows - 1) * (opt.grid.fov_um - opt.grid.overlap_um) + opt.grid.fov_um) * 1000.0;
  const double margin = (opt.grid.jitter_um * opt.grid.jitter_truncate + 1.0) * 1000.0;
  so.region = RectNm{0, 0, span_x, span_y}.expanded(margin);
  so.seed = mix_seed(opt.seed, 1);
  const Specimen specimen(so);

  std::error_code ec;
  // A campaign of real data in the folder would lose its tables and widefield images to ours. A
  // simulated one (made here or by run) has ground_truth/, created before any FoV is written.
  if (!fs::is_directory(out + "/ground_truth", ec))
    for (const char* name : {"campaign.ini", "positions.csv", "fov"})
      if (fs::exists(out + "/" + name, ec))
        throw InputError(out, std::string("holds a campaign that annamosaic simulate did not make (") + name +
                                  " but no ground_truth/ folder): simulating here would replace its files; give a new or "
                                  "empty folder with -o");
  for (const char* d : {"", "/fov", "/ground_truth", "/ground_truth/perfect", "/ground_truth/dense"}) {
    if ((std::string(d) == "/ground_truth/perfect" && !opt.write_perfect) ||
        (std::string(d) == "/ground_truth/dense" && !opt.write_dense))
      continue;  // no empty folders that suggest images
    fs::create_directories(out + d, ec);
    if (ec) {
      const auto target = dangling_link_target(out + d);  // "File exists" for a link to nothing: where it points
      throw IoError(out + d, "cannot create folder: " + ec.message() +
                                 (target ? " (it is a link to " + *target + ", which does not exist)" : std::string()));
    }
  }
  // An earlier simulation's markers of a complete campaign go before its FoVs are overwritten: a
  // kill partway then leaves a folder run refuses (no positions.csv), not the earlier positions
  // and truth beside a mix of two simulations' FoVs (probe50). ground_truth/ stays: it marks the
  // folder as simulated, so the next simulate may write here again.
  for (const char* name : {"positions.csv", "campaign.ini", "ground_truth/positions.csv", "simulate.config.ini"})
    fs::remove(out + "/" + name, ec);
  std::vector<FovTruth> truth(grid.size());
  // Overview picture of the whole campaign: every localization at its true place, coarse pixels.
  const double overview_px = std::max(so.region.width_nm, so.region.height_nm) / 2048.0;
  ImageF overview(static_cast<std::size_t>(so.region.width_nm / overview_px) + 1,
                  static_cast<std::size_t>(so.region.height_nm / overview_px) + 1);
  std::mutex overview_mutex;
  std::atomic<std::uint64_t> bytes{0};
  const double psf = psf_sigma_nm(opt.widefield);
  tbb::parallel_for(std::size_t{0}, grid.size(), [&](std::size_t i) {
    const FovPlacement& p = grid[i];
    const RectNm fov = fov_rect_nm(p, opt.grid.fov_um);
    FovTruth& t = truth[i];
    t.placement = p;
    std::mt19937_64 rng(mix_seed(opt.seed, 2, static_cast<std::uint64_t>(p.id)));
    std::uniform_real_distribution<double> u(-opt.wf_shift_max_px, opt.wf_shift_max_px);
    t.wf_shift_x_px = u(rng);
    t.wf_shift_y_px = u(rng);
    const std::string dir = fov_dir(out, p.id);
    fs::create_directories(dir);

    const std::vector<PointNm> labels = specimen.labels_in(fov);
    t.labels = labels.size();
    const LocTable locs = simulate_localizations(labels, fov, opt.blinking, mix_seed(opt.seed, 3, static_cast<std::uint64_t>(p.id)));
    t.localizations = locs.size();
    write_thunderstorm_csv(dir + "/locs.csv", locs);
    {
      const Field f{so.region.x0_nm - fov.x0_nm, so.region.y0_nm - fov.y0_nm, overview.width() * overview_px,
                    overview.height() * overview_px};
      const ImageU32 coarse = render_counts(locs, f, RenderOptions{overview_px, {}, 1});
      std::lock_guard<std::mutex> lock(overview_mutex);
      for (std::size_t k = 0; k < coarse.size(); ++k) overview.data()[k] += static_cast<float>(coarse.data()[k]);
    }

    // Light from labels just outside the field spills in through the PSF.
    const double shift_nm = std::hypot(t.wf_shift_x_px, t.wf_shift_y_px) * opt.widefield.camera_pixel_nm;
    const std::vector<PointNm> wf_labels = specimen.labels_in(fov.expanded(5 * psf + shift_nm + opt.widefield.motion_blur_um * 1000));
    // The stage arrives from the FoV acquired before (its neighbour in the row; the one above at a
    // snake's row change; the far end of the row above after a raster's flyback, mostly along x):
    // the content of the first frames travels the other way, along the move's larger component
    // (the first FoV keeps the options').
    WidefieldOptions wopt = opt.widefield;
    if (i > 0) {
      const double dx = p.nominal_x_um - grid[i - 1].nominal_x_um, dy = p.nominal_y_um - grid[i - 1].nominal_y_um;
      const bool along_x = std::abs(dx) >= std::abs(dy);
      wopt.motion_dx = along_x ? (dx > 0 ? -1 : 1) : 0;
      wopt.motion_dy = along_x ? 0 : (dy > 0 ? -1 : 1);
    }
    const std::vector<ImageF> stack = widefield_stack(wf_labels, fov, PointNm{t.wf_shift_x_px, t.wf_shift_y_px}, wopt,
                                                      mix_seed(opt.seed, 4, static_cast<std::uint64_t>(p.id)));
    std::vector<ImageView<const float>> views;
    for (const auto& s : stack) {
      views.push_back(s.view());
      t.widefield_px += s.size();
      t.widefield_saturated_px += static_cast<std::size_t>(std::count(s.data(), s.data() + s.size(), 65535.0f));
    }
    TiffWriteOptions wo;
    wo.pixel = TiffPixel::UInt16;
    wo.pixel_nm = opt.widefield.camera_pixel_nm;
    wo.description = fmt::format("annamosaic simulate: widefield of FoV {} (frames 1-{} motion-blurred)", p.id,
                                 opt.widefield.motion_blurred_frames);
    write_tiff_stack(dir + "/widefield.tif", views, wo);

    TiffWriteOptions fo;
    fo.pixel_nm = opt.pixel_nm;
    if (opt.write_perfect) {
      const ImageF perfect = perfect_image(labels, fov, opt.pixel_nm, opt.blinking.sigma_loc_nm);
      write_tiff(fmt::format("{}/ground_truth/perfect/{:04d}.tif", out, p.id), perfect.view(), fo);
    }
    if (opt.write_dense) {
      const ImageF dense = render(locs, Field{0, 0, fov.width_nm, fov.height_nm}, RenderOptions{opt.pixel_nm, {}, 0});
      write_tiff(fmt::format("{}/ground_truth/dense/{:04d}.tif", out, p.id), dense.view(), fo);
    }
    bytes += file_size(dir + "/locs.csv") + file_size(dir + "/widefield.tif");
    if (on_fov) on_fov(t);
  });

  // Tables written last, atomically: a complete positions.csv means a complete campaign.
  std::string nominal = "id,row,col,x_um,y_um\n", gt = "id,row,col,x_um,y_um,wf_shift_x_px,wf_shift_y_px,labels,localizations\n";
  CampaignSummary s;
  s.fovs = grid.size();
  s.min_per_fov = UINT64_MAX;
  for (const FovTruth& t : truth) {
    const FovPlacement& p = t.placement;
    nominal += fmt::format("{},{},{},{:.4f},{:.4f}\n", p.id, p.row, p.col, p.nominal_x_um, p.nominal_y_um);
    gt += fmt::format("{},{},{},{:.4f},{:.4f},{:.4f},{:.4f},{},{}\n", p.id, p.row, p.col, p.true_x_um, p.true_y_um,
                      t.wf_shift_x_px, t.wf_shift_y_px, t.labels, t.localizations);
    s.localizations += t.localizations;
    s.min_per_fov = std::min<std::uint64_t>(s.min_per_fov, t.localizations);
    s.max_per_fov = std::max<std::uint64_t>(s.max_per_fov, t.localizations);
  }
  write_file_atomic(out + "/ground_truth/positions.csv", gt);
  PreviewOptions po;
  po.high_percentile = 99.5;
  write_preview_png(out + "/overview.png", overview.view(), po);
  write_file_atomic(out + "/campaign.ini", campaign_ini(opt));
  write_file_atomic(out + "/positions.csv", nominal);
  s.bytes = bytes;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

std::vector<FovTruth> read_ground_truth(const std::string& dir) {
  const std::string path = dir + "/ground_truth/positions.csv";
  std::ifstream in(path);
  if (!in) throw IoError(path, "cannot open");
  std::string line;
  std::getline(in, line);
  std::vector<FovTruth> out;
  int n = 1;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    std::replace(line.begin(), line.end(), ',', ' ');
    std::istringstream s(line);
    FovTruth t;
    auto& p = t.placement;
    if (!(s >> p.id >> p.row >> p.col >> p.true_x_um >> p.true_y_um >> t.wf_shift_x_px >> t.wf_shift_y_px >> t.labels >>
          t.localizations))
      throw InputError(path, "malformed ground-truth row", n);
    out.push_back(t);
  }
  return out;
}

}  // namespace annamosaic
