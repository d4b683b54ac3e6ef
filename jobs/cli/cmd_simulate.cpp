// `annamosaic simulate`: a synthetic campaign with ground truth.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "sim/campaign.hpp"
#include "sim/grid.hpp"

namespace annamosaic::cli {
namespace {

template <class T>
T positive(const po::variables_map& vm, const char* name) {
  const T v = vm[name].as<T>();
  if (!(v > 0)) throw UsageError(std::string("--") + name + " must be > 0");
  return v;
}


// Beyond these a value is a slip (a unit, an exponent), not a specimen or microscope: refused
// before it exhausts memory or disk (--frames 2e9, --labels-per-um 1e9 ran for minutes).
double at_most(double v, double limit, const char* name, const char* what) {
  if (v > limit) throw UsageError(fmt::format("--{} {:.15g} is beyond any {} (at most {:.15g})", name, v, what, limit));
  return v;
}

}  // namespace

void add_specimen_options(po::options_description& d, const std::string& help_prefix) {
  // (boost copies a description when its option is added: a temporary lasting the statement does.)
  const auto help = [&](const char* text) { return help_prefix + text; };
  d.add_options()
      ("structure", po::value<std::string>()->default_value("microtubules"), help("microtubules or nuclear-pores").c_str())
      ("filaments-per-100um2", double_default(6.0), help("microtubule starts per 100 um^2 of cell").c_str())
      ("labels-per-um", double_default(30.0), help("labels per um of filament").c_str())
      ("bundle-fraction", double_default(0.2), help("fraction of bundled filaments").c_str())
      ("pore-occupancy", double_default(0.35), help("nuclear-pore density (0..1)").c_str())
      ("cell-fraction", double_default(0.8), help("fraction of lattice sites with a cell").c_str())
      ("cell-radius-um", double_default(24.0), help("mean cell radius").c_str())
      ("gradient", double_default(0.7), help("density falls by this fraction across the region").c_str());
}

SpecimenOptions specimen_options(const po::variables_map& vm) {
  SpecimenOptions s;
  s.structure = parse_structure(vm["structure"].as<std::string>());
  s.filaments_per_100um2 = non_negative_option(vm, "filaments-per-100um2");
  s.labels_per_um = at_most(non_negative_option(vm, "labels-per-um"), 1000, "labels-per-um", "labelling (1 nm apart)");
  s.bundle_fraction = fraction_option(vm, "bundle-fraction");
  s.pore_occupancy = fraction_option(vm, "pore-occupancy");
  s.cell_fraction = fraction_option(vm, "cell-fraction");
  s.cell_radius_um = positive<double>(vm, "cell-radius-um");
  s.gradient = fraction_option(vm, "gradient");
  return s;
}

namespace {

CampaignOptions simulate_options_as_given(const po::variables_map& vm) {
  CampaignOptions o;
  o.name = vm["name"].as<std::string>();
  if (o.name.empty() && vm.count("output")) {  // by default the campaign is named after its folder
    std::filesystem::path dir = std::filesystem::absolute(vm["output"].as<std::string>()).lexically_normal();
    if (dir.filename().empty()) dir = dir.parent_path();  // "plate1/"
    o.name = dir.filename().string();
  }
  if (o.name.empty()) o.name = "campaign";
  o.seed = vm["seed"].as<std::uint64_t>();
  auto& g = o.grid;
  g.rows = positive<int>(vm, "rows");
  g.cols = positive<int>(vm, "cols");
  g.fov_um = positive<double>(vm, "fov-um");
  g.overlap_um = vm["overlap-um"].as<double>();
  g.order = parse_grid_order(vm["order"].as<std::string>());
  g.jitter_um = vm["jitter-um"].as<double>();
  if (g.jitter_um < 0) throw UsageError("--jitter-um must be >= 0");
  g.seed = mix_seed(o.seed, 7);
  check_grid_options(g);  // its overlap rule now too: `status` asks this before a job simulates
  auto& s = o.specimen;
  s = specimen_options(vm);
  s.persistence_um = positive<double>(vm, "persistence-um");
  s.cell_spacing_um = positive<double>(vm, "cell-spacing-um");
  auto& b = o.blinking;
  b.frames = static_cast<int>(at_most(positive<int>(vm, "frames"), 10'000'000, "frames", "acquisition"));
  b.detections_per_label = at_most(positive<double>(vm, "detections-per-label"), 10'000, "detections-per-label", "blinking");
  b.sigma_loc_nm = at_most(positive<double>(vm, "sigma-loc-nm"), 1000, "sigma-loc-nm", "localization precision");
  b.false_per_um2_per_frame =
      at_most(non_negative_option(vm, "false-per-um2-per-frame"), 100, "false-per-um2-per-frame", "false-detection rate");
  auto& w = o.widefield;
  w.camera_pixel_nm = positive<double>(vm, "camera-pixel-nm");
  w.wavelength_nm = positive<double>(vm, "wavelength-nm");
  w.numerical_aperture = at_most(positive<double>(vm, "na"), 1.7, "na", "objective's numerical aperture");
  w.psf_sigma_nm = non_negative_option(vm, "psf-sigma-nm");
  w.photons_per_label = non_negative_option(vm, "photons-per-label");
  w.background_photons = non_negative_option(vm, "background-photons");
  w.vignetting = vm["vignetting"].as<double>();
  if (w.vignetting < 0 || w.vignetting >= 1) throw UsageError("--vignetting must be in [0, 1)");
  o.wf_shift_max_px = non_negative_option(vm, "wf-shift-max-px");
  o.pixel_nm = positive<double>(vm, "pixel-nm");
  // The images a FoV makes: a 900 um FoV at 1 nm would be 900,000 px square (3 TB); at 32,768 px
  // one FoV took 12.8 GB and over 5 minutes (a probe). 16,384 px: 328 um at 20 nm.
  constexpr double kMaxSidePx = 16384;
  for (const auto& [pixel, name] : {std::pair{o.pixel_nm, "pixel-nm"}, std::pair{w.camera_pixel_nm, "camera-pixel-nm"}})
    if (const double side = g.fov_um * 1000.0 / pixel; side > kMaxSidePx)
      throw UsageError(fmt::format("--fov-um {:g} at --{} {:g} makes images of {:.0f} px square (at most {:g}): a larger "
                                   "pixel or a smaller FoV",
                                   g.fov_um, name, pixel, side, kMaxSidePx));
  o.write_perfect = !vm["no-perfect"].as<bool>();
  o.write_dense = vm["write-dense"].as<bool>();
  return o;
}

}  // namespace

CampaignOptions simulate_options(const po::variables_map& vm) {
  try {
    return simulate_options_as_given(vm);
  } catch (const InputError& e) {
    throw UsageError(e.what());  // a bad value (--order, --structure, the grid's) is a usage error like the others
  }
}

namespace {

int run_simulate(const Command& self, const po::variables_map& vm) {
  const CampaignOptions o = simulate_options(vm);
  const std::string out = vm["output"].as<std::string>();
  refuse_config_as_record(out + "/simulate.config.ini", vm);
  const std::size_t n = static_cast<std::size_t>(o.grid.rows) * o.grid.cols;
  spdlog::info("simulating campaign '{}': {} x {} FoVs of {} um, overlap {} um, {}, {} frames -> {}", o.name, o.grid.rows,
               o.grid.cols, o.grid.fov_um, o.grid.overlap_um, structure_name(o.specimen.structure), o.blinking.frames, out);
  // Neighbours differ by up to 3 sigma of their difference (sqrt 2 x jitter): beyond run's default
  // search, their overlaps would not be registered.
  if (const double reach_um = 3 * std::sqrt(2.0) * o.grid.jitter_um; reach_um > 2.5 && n > 1)
    spdlog::warn("--jitter-um {:g}: neighbouring FoVs lie up to ~{:.2f} um from their nominal offset (3 sigma of their "
                 "difference), beyond the 2.5 um that run and stitch search by default: run this campaign with "
                 "--search-um {:g}",
                 o.grid.jitter_um, reach_um, std::ceil(reach_um * 2) / 2);
  Progress progress("simulate", n, "FoVs");
  std::atomic<std::size_t> empty_fovs{0};
  std::mutex saturation_mutex;
  std::size_t saturated_fovs = 0;
  double saturated_worst = 0;  // the largest fraction of a FoV's widefield pixels at 65535 ADU
  int saturated_worst_id = -1;
  const CampaignSummary s = simulate_campaign(o, out, [&](const FovTruth& t) {
    if (t.localizations == 0) ++empty_fovs;
    if (t.widefield_saturated_px > 0) {
      const double fraction = static_cast<double>(t.widefield_saturated_px) / static_cast<double>(t.widefield_px);
      std::lock_guard<std::mutex> lock(saturation_mutex);
      ++saturated_fovs;
      if (fraction > saturated_worst) saturated_worst = fraction, saturated_worst_id = t.placement.id;
    }
    progress.advance();
  });
  progress.finish();
  // FoV folders of an earlier, larger campaign in the same place are not in positions.csv, so
  // neither `run` nor `train --campaign` reads them; say so rather than leave a mixed folder
  // unmentioned (and delete nothing).
  std::vector<std::string> stale;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(out + "/fov", ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && !name.empty() && name.find_first_not_of("0123456789") == std::string::npos &&
        std::stoull(name.substr(0, 18)) >= n)
      stale.push_back("fov/" + name);
  }
  if (!stale.empty()) {
    std::sort(stale.begin(), stale.end());
    spdlog::warn("{}: {} FoV folder(s) of an earlier campaign remain ({}{}); not in positions.csv, so nothing reads "
                 "them: delete them, or simulate into an empty folder",
                 out, stale.size(), stale.front(), stale.size() > 1 ? " ... " + stale.back() : std::string());
  }
  // Ground-truth images an earlier simulation here wrote and this one did not (another seed
  // without --write-dense, a smaller grid): beside this one's positions and tables they would be
  // taken for its truth. Removed, and said.
  std::vector<std::filesystem::path> earlier;
  for (const auto& [kind, written] : {std::pair{"perfect", o.write_perfect}, std::pair{"dense", o.write_dense}})
    for (const auto& e : std::filesystem::directory_iterator(out + "/ground_truth/" + kind, ec)) {
      const std::string stem = e.path().stem().string();
      if (e.path().extension() != ".tif" || stem.empty() || stem.find_first_not_of("0123456789") != std::string::npos) continue;
      if (!written || std::stoull(stem.substr(0, 18)) >= n) earlier.push_back(e.path());
    }
  std::size_t removed = 0;
  for (const auto& path : earlier) removed += std::filesystem::remove(path, ec);
  if (removed)
    spdlog::warn("{}: removed {} ground-truth image(s) of an earlier simulation in this folder (ground_truth/perfect, "
                 "ground_truth/dense): they would contradict this simulation's tables", out, removed);
  write_config_next_to(out + "/simulate.config.ini", self, vm);
  if (empty_fovs > 0)
    spdlog::warn("{}: {} of {} FoVs have no localizations (probably between cells: cells of radius {} um on a {} um "
                 "lattice, {} of sites occupied); `run` will mark them failed. {} covers more cell",
                 out, empty_fovs.load(), s.fovs, o.specimen.cell_radius_um, o.specimen.cell_spacing_um, o.specimen.cell_fraction,
                 // With every site occupied, a FoV can still fall between the round cells.
                 o.specimen.cell_fraction < 1 ? "A larger --fov-um or --cell-fraction 1"
                                              : "A larger --fov-um or --cell-radius-um (as large as the lattice's spacing)");
  // A clipped widefield is a flat plateau where the structure is brightest: registration and the
  // A-net's widefield input lose it, and nothing else would say why.
  if (saturated_fovs > 0)
    spdlog::warn("{}: {} of {} FoVs' widefields have pixels at the camera's 65535 ADU ceiling (up to {:.3g}% of a FoV's "
                 "pixels, FoV {}): their brightest structure is clipped; lower --photons-per-label (now {:g}) or "
                 "--background-photons (now {:g})",
                 out, saturated_fovs, s.fovs, 100.0 * saturated_worst, saturated_worst_id, o.widefield.photons_per_label,
                 o.widefield.background_photons);
  spdlog::info("{} FoVs, {} localizations (per FoV {} .. {}), {:.1f} MB of tables and widefield stacks in {:.1f} s", s.fovs,
               s.localizations, s.min_per_fov, s.max_per_fov, s.bytes / 1e6, s.seconds);
  return 0;
}

}  // namespace

Command simulate_command() {
  Command c;
  c.name = "simulate";
  c.summary = "Write a synthetic campaign (tables, widefield stacks, positions) with ground truth.";
  c.usage = "annamosaic simulate [--config configs/demo.ini] -o CAMPAIGN_DIR";
  c.details =
      "Writes CAMPAIGN_DIR/campaign.ini, positions.csv (nominal stage positions), fov/NNNN/locs.csv\n"
      "(ThunderSTORM), fov/NNNN/widefield.tif (uint16 stack, first frames motion-blurred) and\n"
      "ground_truth/ (true positions and widefield shifts, perfect images). Same seed, same bytes.";
  c.add_options = [](po::options_description& d) {
    d.add_options()
        ("output,o", po::value<std::string>()->required(), "campaign folder to write")
        ("name", po::value<std::string>()->default_value(""), "campaign name (default: the campaign folder's name)")
        ("seed", po::value<std::uint64_t>()->default_value(1), "random seed (same seed, same files)")
        ("rows", po::value<int>()->default_value(4), "grid rows")
        ("cols", po::value<int>()->default_value(4), "grid columns")
        ("fov-um", double_default(25.0), "FoV edge in um")
        ("overlap-um", double_default(1.0), "overlap between neighbours in um")
        ("order", po::value<std::string>()->default_value("snake"), "acquisition order: raster or snake")
        ("jitter-um", double_default(0.3), "stage error (Gaussian sigma, truncated at 3 sigma) in um")
        ("persistence-um", double_default(20.0), "filament persistence length in um")
        ("cell-spacing-um", double_default(45.0), "cell lattice spacing in um")
        ("frames", po::value<int>()->default_value(1000), "camera frames per FoV acquisition (numbered from 1)")
        ("detections-per-label", double_default(4.0), "mean detections of a label over all frames (Poisson)")
        ("sigma-loc-nm", double_default(10.0), "localization precision: Gaussian sigma per axis (the tables' uncertainty column)")
        ("false-per-um2-per-frame", double_default(2e-5), "uniform false detections (besides 2% of each label's detections placed with a 300 nm spread)")
        ("camera-pixel-nm", double_default(108.0), "camera pixel at the sample")
        ("wavelength-nm", double_default(670.0), "emission wavelength")
        ("na", double_default(1.45), "numerical aperture")
        ("psf-sigma-nm", double_default(0.0), "widefield PSF sigma (0: 0.21 lambda / NA)")
        ("photons-per-label", double_default(20.0), "widefield photons per label per frame")
        ("background-photons", double_default(100.0), "widefield background per pixel per frame (the camera adds a 100 ADU offset, gain 1 ADU/e-, 1.6 e- read noise)")
        ("vignetting", double_default(0.2), "widefield intensity loss at the corners (0..1)")
        ("wf-shift-max-px", double_default(1.5), "max widefield misregistration per axis (camera px; drawn uniformly in +-this along x and y)")
        ("pixel-nm", double_default(20.0), "super-resolution pixel of the ground-truth images")
        ("no-perfect", po::bool_switch(), "do not write ground_truth/perfect images")
        ("write-dense", po::bool_switch(), "also write ground_truth/dense (all frames rendered)");
    add_specimen_options(d, "");
  };
  c.run = [c](const po::variables_map& vm) { return run_simulate(c, vm); };
  return c;
}

}  // namespace annamosaic::cli
