#include "anet/training_data.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <unordered_map>
#include <random>
#include <sstream>

#include "core/checksum.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "imageio/tiff_io.hpp"
#include "imgproc/filters.hpp"
#include "loc/frame_window.hpp"
#include "loc/loc_content.hpp"
#include "register/widefield_registration.hpp"
#include "render/render.hpp"
#include "sim/campaign.hpp"
#include "sim/geometry.hpp"

namespace annamosaic::anet {

ImageF register_widefield_to(ImageView<const float> reference, ImageView<const float> widefield, double pixel_nm,
                             double camera_pixel_nm, WidefieldRegistration* registration) {
  const WidefieldRegistration reg = register_widefield(reference, widefield, pixel_nm, camera_pixel_nm);
  if (registration) *registration = reg;
  return widefield_on_sr_grid(widefield, reg, reference.width(), reference.height(), pixel_nm, camera_pixel_nm);
}

// ---------------------------------------------------------------- simulator

FieldSimulator::FieldSimulator(const SimulationOptions& opt, double pixel_nm) : opt_(opt), pixel_nm_(pixel_nm) {
  SpecimenOptions so = opt.specimen;
  so.region = RectNm{0, 0, opt.region_um * 1000.0, opt.region_um * 1000.0};
  specimen_ = std::make_shared<const Specimen>(so);
}

int FieldSimulator::switch_id() const { return structure_switch_id(opt_.specimen.structure); }

SimulatedField FieldSimulator::field(std::size_t width, std::size_t height, const WarpOptions& warp_opt,
                                     bool with_widefield, std::uint64_t seed) const {
  std::mt19937_64 rng(mix_seed(seed, 1));
  const double region_px = opt_.region_um * 1000.0 / pixel_nm_;
  const double half = 0.75 * static_cast<double>(std::max(width, height));
  std::uniform_real_distribution<double> u(half, std::max(half + 1, region_px - half));
  // Fields centred outside every cell would be empty: retry a few times (edges still occur).
  double cx = u(rng), cy = u(rng);
  for (int tries = 0; tries < 20 && specimen_->density_at(cx * pixel_nm_, cy * pixel_nm_) <= 0; ++tries) {
    cx = u(rng);
    cy = u(rng);
  }
  const Warp warp(width, height, cx, cy, warp_opt, mix_seed(seed, 2));
  // Light from labels outside the field spills in through the PSF; the misregistration moves it.
  const double psf_nm = psf_sigma_nm(opt_.widefield);
  const double margin_px =
      (5 * psf_nm + opt_.wf_shift_max_px * opt_.widefield.camera_pixel_nm + 4 * opt_.sigma_loc_nm) / pixel_nm_ + 2;
  double x0, y0, x1, y1;
  warp.source_bounds(margin_px, x0, y0, x1, y1);
  const std::vector<PointNm> src =
      specimen_->labels_in(RectNm{x0 * pixel_nm_, y0 * pixel_nm_, (x1 - x0) * pixel_nm_, (y1 - y0) * pixel_nm_});
  SimulatedField f;
  const double W = static_cast<double>(width), H = static_cast<double>(height);
  for (const PointNm& p : src) {
    double x, y;
    warp.to_crop(p.x_nm / pixel_nm_, p.y_nm / pixel_nm_, x, y);
    if (x < -margin_px || y < -margin_px || x >= W + margin_px || y >= H + margin_px) continue;
    f.labels.push_back(PointNm{x * pixel_nm_, y * pixel_nm_});
    if (x >= 0 && y >= 0 && x < W && y < H) ++f.labels_inside;
  }
  const RectNm fov{0, 0, W * pixel_nm_, H * pixel_nm_};
  f.perfect = perfect_image(f.labels, fov, pixel_nm_, opt_.sigma_loc_nm);
  if (with_widefield) {
    std::uniform_real_distribution<double> s(-opt_.wf_shift_max_px, opt_.wf_shift_max_px);
    f.wf_shift_x_px = s(rng);
    f.wf_shift_y_px = s(rng);
    WidefieldOptions wo = opt_.widefield;
    wo.frames = 3;
    wo.motion_blurred_frames = 0;
    const std::vector<ImageF> stack =
        widefield_stack(f.labels, fov, PointNm{f.wf_shift_x_px, f.wf_shift_y_px}, wo, mix_seed(seed, 3));
    f.widefield = ImageF(stack[0].width(), stack[0].height());
    for (const ImageF& fr : stack)
      for (std::size_t i = 0; i < fr.size(); ++i) f.widefield.data()[i] += fr.data()[i] / static_cast<float>(stack.size());
  }
  return f;
}

ImageF FieldSimulator::sparse(const SimulatedField& f, std::size_t width, std::size_t height, std::uint64_t n,
                              std::uint64_t seed) const {
  ImageF out(width, height);
  std::vector<const PointNm*> inside;
  const double W = static_cast<double>(width) * pixel_nm_, H = static_cast<double>(height) * pixel_nm_;
  for (const PointNm& p : f.labels)
    if (p.x_nm >= 0 && p.y_nm >= 0 && p.x_nm < W && p.y_nm < H) inside.push_back(&p);
  if (inside.empty()) return out;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> pick(0, inside.size() - 1);
  std::normal_distribution<double> jitter(0.0, opt_.sigma_loc_nm);
  for (std::uint64_t i = 0; i < n; ++i) {
    const PointNm& p = *inside[pick(rng)];
    const double x = (p.x_nm + jitter(rng)) / pixel_nm_, y = (p.y_nm + jitter(rng)) / pixel_nm_;
    if (x >= 0 && y >= 0 && x < static_cast<double>(width) && y < static_cast<double>(height))
      out(static_cast<std::size_t>(x), static_cast<std::size_t>(y)) += 1.0f;
  }
  return out;
}

// ---------------------------------------------------------------- the data source

namespace {

// A table in SR pixel coordinates of its field, sorted by frame (windows are index ranges).
struct TableData {
  std::string name;
  std::vector<std::int32_t> frame;
  std::vector<double> x_px, y_px;
  FrameRange range;
  std::size_t width_px = 0, height_px = 0;
  // Where the localizations are (a table of a region of interest in a widefield's whole camera
  // field covers a corner of it): crops are centred inside.
  double x_lo_px = 0, x_hi_px = 0, y_lo_px = 0, y_hi_px = 0;
  ImageF widefield_sr;  // L on the field's SR grid (empty: none)
  int switch_id = 0;
  std::string checksum;  // of all the above but the name
  std::string file_checksum;  // of the table file's bytes
  std::string content;        // content_fingerprint(): the same for its rows in any order
  double x0_nm = 0, y0_nm = 0;  // the field's origin: x_px * pixel_nm + x0_nm is the table's x
};

// "<checksum> training|validation <path>" per table, the checksum `of` names (held out only with
// 3 tables or more: with fewer, validation reuses the training tables).
std::string role_lines(const std::vector<TableData>& tables, const std::vector<std::size_t>& validation,
                       std::string TableData::*of) {
  std::vector<char> held(tables.size(), 0);
  if (tables.size() >= 3)
    for (std::size_t i : validation) held[i] = 1;
  std::string s;
  for (std::size_t i = 0; i < tables.size(); ++i)
    s += tables[i].*of + (held[i] ? " validation " : " training ") + tables[i].name + "\n";
  return s;
}

// A held-out table whose localizations are also in a training table (a copy with its rows
// reordered, a part of it: probe96) would score what the model trains on. Said, with the share
// of its localizations (same frame and position) found in the training table that holds most,
// each counted once; from a sample of 2 to 4 million of the held-out localizations (keys are mixed:
// `key % stride` picks the same localizations in every table), so that memory stays bounded.
void warn_validation_overlap(const std::vector<TableData>& tables, const std::vector<std::size_t>& validation,
                             const std::vector<std::size_t>& training, double pixel_nm) {
  const auto key = [&](const TableData& t, std::size_t i) {
    return localization_key(t.frame[i], t.x_px[i] * pixel_nm + t.x0_nm, t.y_px[i] * pixel_nm + t.y0_nm);
  };
  std::size_t total = 0;
  for (std::size_t v : validation) total += tables[v].frame.size();
  const std::uint64_t stride = std::max<std::size_t>(1, total / 2'000'000);  // keys are mixed: a fair sample
  struct Held {
    std::size_t table;     // its index in `validation` (a key in two held-out tables: the first's)
    std::size_t found_in;  // the training table that last matched it (+1; 0: none), so each counts once
  };
  std::unordered_map<std::uint64_t, Held> held;
  std::vector<std::size_t> sampled(validation.size(), 0);
  for (std::size_t k = 0; k < validation.size(); ++k) {
    const TableData& t = tables[validation[k]];
    for (std::size_t i = 0; i < t.frame.size(); ++i)
      if (const std::uint64_t h = key(t, i); h % stride == 0 && held.emplace(h, Held{k, 0}).second) ++sampled[k];
  }
  std::vector<std::size_t> most(validation.size(), 0), where(validation.size(), 0);
  std::vector<std::size_t> found(validation.size());
  for (std::size_t j : training) {
    std::fill(found.begin(), found.end(), 0);
    const TableData& t = tables[j];
    for (std::size_t i = 0; i < t.frame.size(); ++i) {
      const std::uint64_t h = key(t, i);
      if (h % stride != 0) continue;
      if (const auto it = held.find(h); it != held.end() && it->second.found_in != j + 1) {
        it->second.found_in = j + 1;
        ++found[it->second.table];
      }
    }
    for (std::size_t k = 0; k < validation.size(); ++k)
      if (found[k] > most[k]) most[k] = found[k], where[k] = j;
  }
  // Two independent acquisitions share no localization to 0.001 nm in the same frame: 1% is a copy.
  for (std::size_t k = 0; k < validation.size(); ++k)
    if (most[k] >= 10 && 100 * most[k] >= sampled[k])
      spdlog::warn("validation: {:.1f}% of the localizations of the held-out table {} (the same frame and position) are "
                   "also in the training table {}: a copy of it or a part of it, so validation scores what the model "
                   "trains on and the best step is chosen on it; give each acquisition once",
                   100.0 * most[k] / sampled[k], tables[validation[k]].name, tables[where[k]].name);
}

void points_in_window(const TableData& t, const FrameWindow& w, std::vector<double>& xs, std::vector<double>& ys) {
  auto bound = [&](std::int64_t f) {
    if (f <= INT32_MIN) return t.frame.begin();
    if (f > INT32_MAX) return t.frame.end();
    return std::lower_bound(t.frame.begin(), t.frame.end(), static_cast<std::int32_t>(f));
  };
  const auto lo = bound(w.first), hi = std::max(lo, bound(w.end));
  const std::ptrdiff_t a = lo - t.frame.begin(), b = hi - t.frame.begin();
  xs.assign(t.x_px.begin() + a, t.x_px.begin() + b);
  ys.assign(t.y_px.begin() + a, t.y_px.begin() + b);
}

ImageF read_widefield(const TableDatasetSpec& s) {
  std::string note;  // the same rule as `run` and `reconstruct` for a stack shorter than asked
  ImageF wf = read_tiff_mean_or_all(s.widefield, parse_page_range(s.widefield_frames), note);
  if (!note.empty()) spdlog::warn("{}", note);
  if (const std::string repaired = repair_nonfinite(wf, s.widefield); !repaired.empty()) spdlog::warn("{}", repaired);
  return wf;
}

// Structured background (anet.md: the image blurred by 25 px, Poisson): computed at 1/4
// resolution (sigma 6.25 px there) to keep it cheap, counts placed uniformly within each block.
void add_background(ImageF& s, const ImageF& reference, double mean_counts, std::mt19937_64& rng) {
  if (!(mean_counts > 0) || reference.empty()) return;
  const ImageF small = downsample_mean(reference.view(), 4);
  const ImageF blurred = gaussian_blur(small.view(), 25.0 / 4, Border::Replicate);
  double sum = 0;
  for (float v : blurred) sum += v;
  if (!(sum > 0)) return;
  const double scale = mean_counts * static_cast<double>(blurred.size()) / sum * 16.0;  // counts per block
  std::uniform_int_distribution<int> off(0, 3);
  for (std::size_t by = 0; by < blurred.height(); ++by)
    for (std::size_t bx = 0; bx < blurred.width(); ++bx) {
      const double lambda = scale * blurred(bx, by);
      if (!(lambda > 0)) continue;
      const long k = std::poisson_distribution<long>(lambda)(rng);
      for (long i = 0; i < k; ++i) {
        const std::size_t x = bx * 4 + static_cast<std::size_t>(off(rng)), y = by * 4 + static_cast<std::size_t>(off(rng));
        if (x < s.width() && y < s.height()) s(x, y) += 1.0f;
      }
    }
}

}  // namespace

struct TrainingData::Impl {
  DataOptions opt;
  std::unique_ptr<FieldSimulator> sim;
  std::vector<TableData> tables;

  TrainingSample simulated(std::uint64_t index) const {
    std::mt19937_64 rng(mix_seed(opt.seed, 11, index));
    std::uniform_real_distribution<double> u01(0, 1);
    const bool drop_wf = u01(rng) < opt.p_no_widefield;
    const bool drop_s = !drop_wf && u01(rng) < opt.p_no_sparse;
    const std::size_t n = opt.crop_px;
    SimulatedField f = sim->field(n, n, opt.warp, !drop_wf, mix_seed(opt.seed, 12, index));
    const double lo = std::log(opt.sim.locs_per_label_min), hi = std::log(std::max(opt.sim.locs_per_label_min, opt.sim.locs_per_label_max));
    const double rate = std::exp(lo + (hi - lo) * u01(rng));
    const double mean = rate * static_cast<double>(f.labels_inside);
    const std::uint64_t count = mean > 0 ? static_cast<std::uint64_t>(std::poisson_distribution<long long>(mean)(rng)) : 0;
    TrainingSample s;
    s.switch_id = sim->switch_id();
    s.sparse = drop_s ? ImageF(n, n) : sim->sparse(f, n, n, count, mix_seed(opt.seed, 13, index));
    s.localizations = drop_s ? 0 : count;
    if (!drop_s) add_background(s.sparse, f.perfect, opt.sim.background_max * u01(rng), rng);
    if (!drop_wf)
      s.widefield = register_widefield_to(f.perfect.view(), f.widefield.view(), opt.pixel_nm, opt.sim.widefield.camera_pixel_nm);
    s.target = std::move(f.perfect);
    return s;
  }

  // Tables for training and tables held out for validation (several tables: about one in ten is
  // held out; fewer than 3: the same tables, other crops).
  std::vector<std::size_t> training_tables, validation_tables;

  TrainingSample from_table(std::uint64_t index, const std::vector<std::size_t>& pool) const {
    std::mt19937_64 rng(mix_seed(opt.seed, 21, index));
    std::uniform_real_distribution<double> u01(0, 1);
    const TableData& t = tables[pool[std::uniform_int_distribution<std::size_t>(0, pool.size() - 1)(rng)]];
    const std::uint64_t ds = static_cast<std::uint64_t>(&t - tables.data());
    const std::uint64_t k = std::uniform_int_distribution<std::uint64_t>(
        0, static_cast<std::uint64_t>(std::max(1, opt.pairs_per_table)) - 1)(rng);
    const FrameWindow tw = parse_frame_window("dense-paper", t.range, mix_seed(opt.seed, 22, ds, k));
    const FrameWindow sw = parse_frame_window("sparse-paper", t.range, mix_seed(opt.seed, 23, ds, k));
    const bool has_wf = !t.widefield_sr.empty();
    const bool drop_wf = !has_wf || u01(rng) < opt.p_no_widefield;
    const bool drop_s = !drop_wf && u01(rng) < opt.p_no_sparse;
    const double n = static_cast<double>(opt.crop_px);
    // The crop's centre inside the field and inside the localizations' extent: a crop of the
    // widefield's field beyond the table would have no S and no T (8 of 8 dry-run samples empty
    // for a ThunderSTORM region of interest in a full-chip widefield).
    auto centre = [&](std::size_t extent, double lo, double hi) {
      const double e = static_cast<double>(extent);
      if (e <= n) return 0.5 * e;
      const double a = std::max(0.5 * n, lo), b = std::min(e - 0.5 * n, hi);
      if (b <= a) return std::clamp(0.5 * (lo + hi), 0.5 * n, e - 0.5 * n);
      return std::uniform_real_distribution<double>(a, b)(rng);
    };
    const double cx = centre(t.width_px, t.x_lo_px, t.x_hi_px), cy = centre(t.height_px, t.y_lo_px, t.y_hi_px);
    const Warp warp(opt.crop_px, opt.crop_px, cx, cy, opt.warp, mix_seed(opt.seed, 24, index));
    std::vector<double> xs, ys;
    TrainingSample s;
    s.switch_id = t.switch_id;
    points_in_window(t, tw, xs, ys);
    s.target = warp_points(xs, ys, warp);
    if (drop_s) {
      s.sparse = ImageF(opt.crop_px, opt.crop_px);
    } else {
      points_in_window(t, sw, xs, ys);
      s.sparse = warp_points(xs, ys, warp);
      for (float v : s.sparse) s.localizations += static_cast<std::uint64_t>(v);
      add_background(s.sparse, s.target, opt.sim.background_max * u01(rng), rng);
    }
    if (!drop_wf) s.widefield = warp_image(t.widefield_sr.view(), warp);
    return s;
  }
};

TrainingData::TrainingData(const DataOptions& opt) {
  auto impl = std::make_shared<Impl>();
  impl->opt = opt;
  if (opt.crop_px == 0 || opt.crop_px % 256 != 0)
    throw InputError("crop-px", "must be a positive multiple of 256 (the generator has 8 stride-2 levels), not " +
                                    std::to_string(opt.crop_px));
  if (opt.source == "simulate") {
    impl->sim = std::make_unique<FieldSimulator>(opt.sim, opt.pixel_nm);
  } else if (opt.source == "tables") {
    if (opt.tables.empty())
      throw InputError("--source tables", "no data given: --dataset TABLE[,WIDEFIELD[,SWITCH]] (repeatable) or --campaign DIR");
    std::vector<std::pair<std::string, std::int64_t>> short_tables;  // said once, not per table
    std::vector<std::string> empty_fovs;
    std::map<std::string, std::string> seen;  // content fingerprint -> the first table with it
    for (const TableDatasetSpec& spec : opt.tables) {
      TableData t;
      t.name = spec.table;
      t.switch_id = spec.switch_id;
      // A campaign's camera pixel converts its tables in camera px too, as in `run` (unless given).
      TableReadOptions read = opt.read;
      if (read.csv.camera_pixel_nm == 0 && spec.camera_pixel_nm > 0) read.csv.camera_pixel_nm = spec.camera_pixel_nm;
      ReadReport report;
      const LocTable table = read_table(spec.table, read, &report);
      spdlog::info("{}: {} localizations; columns {}", spec.table, table.size(), report.columns);
      for (const std::string& w : report.warnings) spdlog::warn("{}", w);
      if (const std::string skipped = skipped_rows_message(spec.table, report); !skipped.empty()) spdlog::warn("{}", skipped);
      if (table.empty() && spec.skip_if_empty) {  // a campaign's FoV between cells
        empty_fovs.push_back(spec.table);
        continue;
      }
      if (table.empty()) throw InputError(spec.table, "table has no localizations");
      const TableStats st = compute_stats(table);
      t.range = frame_range_of(st);
      // S windows are 300-500 frames: in a short acquisition they hold much of T, and the network
      // learns to copy rather than to reconstruct (the paper's dense tables: 30,000-60,000 frames).
      if (t.range.count < 5000) short_tables.emplace_back(spec.table, t.range.count);
      const double camera_pixel_nm = spec.camera_pixel_nm > 0 ? spec.camera_pixel_nm : opt.camera_pixel_nm;
      ImageF wf;
      Field field;
      if (!spec.widefield.empty()) {
        wf = read_widefield(spec);
        // The widefield image and the table share their origin (the camera field).
        field = Field{0, 0, static_cast<double>(wf.width()) * camera_pixel_nm, static_cast<double>(wf.height()) * camera_pixel_nm};
        // A widefield of another field (or at another pixel size) would be "registered" to noise.
        if (const std::string why = widefield_field_mismatch(table, field, camera_pixel_nm, spec.table); !why.empty())
          throw InputError(spec.widefield, why);
        if (const std::size_t out = localizations_outside(table, field); out > 0)
          spdlog::warn("{}: {} of its {} localizations lie outside its widefield's camera field ({:.1f} x {:.1f} um) and "
                       "are not trained on", spec.table, out, table.size(), field.width_nm / 1e3, field.height_nm / 1e3);
      } else {
        if (const FarOutliers o = far_outliers(table); !o.rows.empty())
          throw InputError(spec.table, far_outliers_message(table, o) + " Fix the table: its field is fitted to its extent");
        field = bounding_field(st, opt.pixel_nm);
      }
      t.width_px = field_width_px(field, opt.pixel_nm);
      t.height_px = field_height_px(field, opt.pixel_nm);
      std::vector<std::size_t> order(table.size());
      std::iota(order.begin(), order.end(), std::size_t{0});
      std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return table.frame[a] < table.frame[b]; });
      for (std::size_t i : order) {
        t.frame.push_back(table.frame[i]);
        t.x_px.push_back((table.x_nm[i] - field.x0_nm) / opt.pixel_nm);
        t.y_px.push_back((table.y_nm[i] - field.y0_nm) / opt.pixel_nm);
      }
      if (!t.x_px.empty()) {
        const auto [xl, xh] = std::minmax_element(t.x_px.begin(), t.x_px.end());
        const auto [yl, yh] = std::minmax_element(t.y_px.begin(), t.y_px.end());
        t.x_lo_px = *xl, t.x_hi_px = *xh, t.y_lo_px = *yl, t.y_hi_px = *yh;
      }
      {
        // The same content twice (a copy, a FoV listed in two campaigns): trained once, so that a
        // held-out validation table cannot also be a training one. Told from what is read (the
        // localizations in the field, the widefield's pixels), before the registration: its T
        // window depends on the table's place in the list.
        // The localizations whatever their order (a copy with its rows shuffled: probe96).
        t.content = content_fingerprint(table);
        t.x0_nm = field.x0_nm, t.y0_nm = field.y0_nm;
        Fnv1a64 h;
        h.add(t.content.data(), t.content.size());
        const std::uint64_t shape[3] = {t.width_px, t.height_px, static_cast<std::uint64_t>(t.switch_id)};
        h.add(shape, sizeof shape);
        if (!wf.empty()) h.add(wf.data(), wf.size() * sizeof(float));
        if (const auto [it, fresh] = seen.emplace(h.text(), spec.table); !fresh) {
          if (!short_tables.empty() && short_tables.back().first == spec.table) short_tables.pop_back();
          if (it->second == spec.table)
            spdlog::warn("{}: given twice{}: used once", spec.table, wf.empty() ? "" : " (with the same widefield)");
          else
            spdlog::warn("{}: the same localizations{} as {}: used once", spec.table, wf.empty() ? "" : " and widefield",
                         it->second);
          continue;
        }
      }
      if (!wf.empty()) {
        // Registered once per table, to the T of its first pair: every T window holds >= 95% of
        // the frames, so the T images differ by noise only.
        RenderOptions ro;
        ro.pixel_nm = opt.pixel_nm;
        ro.window = parse_frame_window("dense-paper", t.range, mix_seed(opt.seed, 22, impl->tables.size(), 0));
        const ImageF dense = render(table, field, ro);
        WidefieldRegistration reg;
        t.widefield_sr = register_widefield_to(dense.view(), wf.view(), opt.pixel_nm, camera_pixel_nm, &reg);
        if (reg.confidence < kMinWidefieldConfidence)
          spdlog::warn("{}: its widefield {} matches T poorly (registration confidence {:.3f} < {}; best shift ({:.2f}, {:.2f}) "
                       "camera px, not applied): is it this table's field?",
                       spec.table, spec.widefield, reg.confidence, kMinWidefieldConfidence, reg.measured_shift_x_px,
                       reg.measured_shift_y_px);
        else
          spdlog::info("{}: widefield registered to T, shift ({:.2f}, {:.2f}) camera px, confidence {:.2f}", spec.table,
                       reg.shift_x_px, reg.shift_y_px, reg.confidence);
      }
      {
        // What training reads of this table (after unit conversion and field placement): the
        // fingerprint a resumed training compares.
        Fnv1a64 h;
        h.add(t.frame.data(), t.frame.size() * sizeof(std::int32_t));
        h.add(t.x_px.data(), t.x_px.size() * sizeof(double)).add(t.y_px.data(), t.y_px.size() * sizeof(double));
        const std::uint64_t shape[3] = {t.width_px, t.height_px, static_cast<std::uint64_t>(t.switch_id)};
        h.add(shape, sizeof shape);
        if (!t.widefield_sr.empty()) h.add(t.widefield_sr.data(), t.widefield_sr.size() * sizeof(float));
        t.checksum = h.text();
      }
      t.file_checksum = file_checksum(spec.table);
      impl->tables.push_back(std::move(t));
    }
    if (!empty_fovs.empty())
      spdlog::warn("{} campaign FoV table(s) have no localizations and are not used (first: {})", empty_fovs.size(),
                   empty_fovs.front());
    if (impl->tables.empty()) throw InputError("source = tables", "no table with localizations to train on");
    // T is the dense target: a crop of it should hold thousands of localizations (probe96: a
    // table of 10 trained a model with exit 0). Estimated per table from its density over its
    // localizations' extent, for a crop inside that extent (T: 95% of the frames).
    {
      std::vector<double> per_crop;
      std::size_t total = 0;
      for (const TableData& t : impl->tables) {
        total += t.frame.size();
        const double w = std::max(1.0, t.x_hi_px - t.x_lo_px), h = std::max(1.0, t.y_hi_px - t.y_lo_px);
        const double crop = static_cast<double>(opt.crop_px);
        per_crop.push_back(0.95 * static_cast<double>(t.frame.size()) * std::min(1.0, crop / w) * std::min(1.0, crop / h));
      }
      constexpr std::size_t kMinLocalizations = 100;
      if (total < kMinLocalizations)
        throw InputError(impl->tables.front().name,
                         fmt::format("{} localization(s) in the {} table(s) to train on, under {}: nothing for the A-net "
                                     "to learn from",
                                     total, impl->tables.size(), kMinLocalizations));
      std::sort(per_crop.begin(), per_crop.end());
      const double median = per_crop[per_crop.size() / 2];
      if (median < 1000)
        spdlog::warn("a {} px crop of T holds about {:.0f} localizations (the median over the {} table(s), from their "
                     "density), under 1000: a sparse target, not the dense image the A-net is to learn to make; train "
                     "on denser (longer) acquisitions",
                     opt.crop_px, median, impl->tables.size());
    }
    // S windows are 300-500 frames: in a short acquisition they hold much of T, and the network
    // learns to copy rather than to reconstruct (the paper's dense tables: 30,000-60,000 frames).
    if (!short_tables.empty()) {
      const auto fewest = *std::min_element(short_tables.begin(), short_tables.end(),
                                            [](const auto& a, const auto& b) { return a.second < b.second; });
      spdlog::warn("{} of the {} table(s) (training and validation) have fewer than 5,000 frames ({}{}; fewest: {}, {} frames): the sparse windows "
                   "(300-500 frames) hold up to {:.0f}% of such a table's frames, against 1-2% in the paper's dense "
                   "acquisitions of 30,000-60,000: the model learns from inputs much closer to T than the sparse FoVs it "
                   "will reconstruct (training tables should be dense acquisitions of many thousand frames)",
                   short_tables.size(), impl->tables.size(), short_tables.front().first, short_tables.size() > 1 ? ", ..." : "",
                   fewest.first, fewest.second, std::min(100.0, 100.0 * 500 / std::max<double>(1, fewest.second)));
    }
    // A crop larger than a table's field is mostly empty canvas: the network learns the empty
    // border rather than the structures (the paper's crops are 256 px inside large fields).
    std::size_t small = 0;
    const TableData* smallest = nullptr;
    // (A field a few px short of the crop is not worth a word: under 3/4 of it on a side is.)
    // The localizations' extent, not the field's: a widefield's camera field around a small
    // structure is empty canvas in T all the same.
    const auto extent = [](const TableData& t) {
      return std::pair<std::size_t, std::size_t>(
          std::min<std::size_t>(t.width_px, static_cast<std::size_t>(std::max(0.0, t.x_hi_px - t.x_lo_px)) + 1),
          std::min<std::size_t>(t.height_px, static_cast<std::size_t>(std::max(0.0, t.y_hi_px - t.y_lo_px)) + 1));
    };
    for (const TableData& t : impl->tables) {
      const auto [w, h] = extent(t);
      if (4 * w < 3 * opt.crop_px || 4 * h < 3 * opt.crop_px) {
        ++small;
        if (!smallest || w * h < extent(*smallest).first * extent(*smallest).second) smallest = &t;
      }
    }
    const auto [small_w, small_h] = smallest ? extent(*smallest) : std::pair<std::size_t, std::size_t>(0, 0);
    const std::size_t fits = std::min(small_w, small_h) / 256 * 256;
    if (smallest)
      spdlog::warn("{} of the {} table(s) (training and validation) have localizations over much less than the {} px crops "
                   "(smallest: {}, {} x {} px at {} nm): the rest of each crop is empty canvas; {}",
                   small, impl->tables.size(), opt.crop_px, smallest->name, small_w, small_h, opt.pixel_nm,
                   fits >= 256 ? fmt::format("give --crop-px {} or less", fits)
                               : std::string("crops cannot be smaller than 256 px (the generator's 8 levels): train on "
                                             "tables of larger fields"));
    const std::size_t n = impl->tables.size();
    if (n >= 3) {
      const std::size_t held = std::max<std::size_t>(1, n / 10);
      std::vector<char> is_held(n, 0);
      for (std::size_t k = 0; k < held; ++k) is_held[(2 * k + 1) * n / (2 * held)] = 1;  // spread over the list
      for (std::size_t i = 0; i < n; ++i) (is_held[i] ? impl->validation_tables : impl->training_tables).push_back(i);
      spdlog::info("validation: {} of the {} tables held out (not trained on): {}", held, n,
                   impl->tables[impl->validation_tables.front()].name + (held > 1 ? ", ..." : ""));
      warn_validation_overlap(impl->tables, impl->validation_tables, impl->training_tables, opt.pixel_nm);
    } else {
      for (std::size_t i = 0; i < n; ++i) impl->training_tables.push_back(i);
      impl->validation_tables = impl->training_tables;
      spdlog::warn("validation: with {} table(s) nothing can be held out; validation scores other crops and frame windows "
                   "of the training data and is optimistic (give 3 or more tables, and check the model with `evaluate`)",
                   n);
    }
  } else {
    throw InputError("source", "must be simulate or tables, not '" + opt.source + "'");
  }
  impl_ = std::move(impl);
}

TrainingData::~TrainingData() = default;

TrainingSample TrainingData::sample(std::uint64_t index) const {
  return impl_->sim ? impl_->simulated(index) : impl_->from_table(index, impl_->training_tables);
}

TrainingSample TrainingData::validation_sample(std::uint64_t i) const {
  // Indices far beyond any training step: other simulated fields, other crops and windows.
  constexpr std::uint64_t kValidationBase = std::uint64_t{1} << 40;
  return impl_->sim ? impl_->simulated(kValidationBase + i) : impl_->from_table(kValidationBase + i, impl_->validation_tables);
}

std::string TrainingData::table_checksums() const {
  std::string s;
  for (const TableData& t : impl_->tables) s += t.checksum + " " + t.name + "\n";
  return s;
}

std::string TrainingData::table_files() const {
  return role_lines(impl_->tables, impl_->validation_tables, &TableData::file_checksum);
}

std::string TrainingData::table_contents() const {
  return role_lines(impl_->tables, impl_->validation_tables, &TableData::content);
}

std::vector<int> TrainingData::switch_ids() const {
  std::vector<int> ids;
  if (impl_->sim) ids.push_back(impl_->sim->switch_id());
  for (const std::size_t i : impl_->training_tables) ids.push_back(impl_->tables[i].switch_id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::string TrainingData::describe() const {
  std::ostringstream s;
  const DataOptions& o = impl_->opt;
  if (impl_->sim) {
    s << "simulator (" << structure_name(o.sim.specimen.structure) << ", specimen seed " << o.sim.specimen.seed
      << ", " << o.sim.locs_per_label_min << "-" << o.sim.locs_per_label_max << " localizations per label)";
  } else {
    std::size_t with_wf = 0;
    for (const auto& t : impl_->tables) with_wf += !t.widefield_sr.empty();
    s << impl_->tables.size() << (impl_->tables.size() == 1 ? " table (" : " tables (") << with_wf << " with widefield; " << impl_->training_tables.size()
      << " for training, " << (impl_->tables.size() >= 3 ? std::to_string(impl_->validation_tables.size()) + " held out" : "none held out")
      << " for validation), " << o.pairs_per_table << " pairs each";
  }
  s << ", crops " << o.crop_px << " px at " << o.pixel_nm << " nm";
  return s.str();
}

}  // namespace annamosaic::anet
