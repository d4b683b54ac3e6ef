#include "anet/evaluation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <filesystem>
#include <random>

#include "anet/metrics.hpp"
#include "anet/plot.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "imageio/png_preview.hpp"
#include "imageio/tiff_io.hpp"
#include "imgproc/filters.hpp"
#include "loc/frame_window.hpp"
#include "loc/loc_content.hpp"
#include "register/widefield_registration.hpp"
#include "render/render.hpp"
#include "sim/geometry.hpp"

namespace annamosaic::anet {
namespace {

Score score(ImageView<const float> image, ImageView<const float> reference_unit, double quantile) {
  const ImageF a = normalise_to_unit(image, quantile);
  Score s;
  s.ms_ssim = ms_ssim_wang(a.view(), reference_unit);
  s.ssim = ssim(a.view(), reference_unit);
  s.psnr = psnr(a.view(), reference_unit);
  return s;
}

// The resolution of an FRC into s, marked when it is only the Nyquist bound.
void set_frc(Score& s, const FrcResult& r) {
  s.frc_nm = r.resolution_nm;
  s.frc_at_limit = !r.crossed && !std::isnan(r.resolution_nm);
}

void accumulate(Score& acc, const Score& s, double w) {
  acc.ms_ssim += w * s.ms_ssim;
  acc.ssim += w * s.ssim;
  acc.psnr += w * s.psnr;
  if (std::isnan(s.frc_nm)) {  // a half without localizations, or halves that never agree: not averaged in, counted
    ++acc.frc_undefined;
  } else {
    acc.frc_nm += w * s.frc_nm;
    acc.frc_weight += w;
    acc.frc_at_limit = acc.frc_at_limit || s.frc_at_limit;  // a mean with a bound in it is a bound
  }
}

// The FRC mean over the fields where it was defined.
void finish_frc(Score& acc) {
  acc.frc_nm = acc.frc_weight > 0 ? acc.frc_nm / acc.frc_weight : std::numeric_limits<double>::quiet_NaN();
}

std::vector<double> default_n() {
  std::vector<double> n;
  for (double e = 2.5; e <= 6.0 + 1e-9; e += 0.5) n.push_back(std::round(std::pow(10.0, e)));
  return n;
}

}  // namespace

std::string frc_text(const Score& s) {
  if (std::isnan(s.frc_nm)) return "";  // --no-frc, or undefined (see frc())
  return (s.frc_at_limit ? "<=" : "") + fmt::format("{:.1f}", s.frc_nm);
}

double equivalent_n(const std::vector<double>& n, const std::vector<double>& curve, double score, bool* lower_bound,
                    bool* upper_bound) {
  if (lower_bound) *lower_bound = false;
  if (upper_bound) *upper_bound = false;
  if (n.empty()) return 0;
  if (score <= curve.front()) {
    if (upper_bound) *upper_bound = true;
    return n.front();
  }
  for (std::size_t i = 1; i < n.size(); ++i)
    if (score <= curve[i]) {
      const double t = (score - curve[i - 1]) / std::max(1e-12, curve[i] - curve[i - 1]);
      return std::pow(10.0, std::log10(n[i - 1]) + t * (std::log10(n[i]) - std::log10(n[i - 1])));
    }
  if (lower_bound) *lower_bound = true;
  return n.back();
}

SimulatedEvaluation evaluate_simulated(const EvaluateOptions& opt) {
  const Reconstructor net(opt.model, opt.reconstructor);
  if (const std::string note = checkpoint_note(net.info()); !note.empty()) spdlog::warn("{}", note);
  // Its S + W and widefield-only columns, as the table protocol's --widefield says (probe93: silent here).
  if (!net.info().trained_with_widefield)
    spdlog::warn("{} was trained without widefields (its Q never trained): its S+W and widefield-only scores measure an "
                 "input it never saw", opt.model);
  const double px = net.info().pixel_nm, quantile = net.info().target_quantile;
  const FieldSimulator sim(opt.sim, px);
  const std::vector<double> ns = opt.n_values.empty() ? default_n() : opt.n_values;
  const std::size_t F = opt.field_px;
  const int switch_id = sim.switch_id();
  SimulatedEvaluation out;
  out.field_um = static_cast<double>(F) * px / 1000.0;
  out.rows.resize(ns.size());
  const double wfield = 1.0 / opt.fields;
  WarpOptions plain;  // held-out fields: a plain crop (no rotation, no elastic deformation)
  plain.rotate = false;
  plain.elastic_px = 0;
  for (int f = 0; f < opt.fields; ++f) {
    const SimulatedField field = sim.field(F, F, plain, true, mix_seed(opt.seed, 101, static_cast<std::uint64_t>(f)));
    const ImageF ref = normalise_to_unit(field.perfect.view(), quantile);
    if (opt.write_images && f == 0) {
      std::filesystem::create_directories(opt.output_dir);
      TiffWriteOptions wo;
      wo.pixel_nm = px;
      write_tiff(opt.output_dir + "/field0_perfect.tif", field.perfect.view(), wo);
    }
    const ImageF L = register_widefield_to(field.perfect.view(), field.widefield.view(), px, opt.sim.widefield.camera_pixel_nm);
    const ReconstructionResult wf_only = net.run(ImageView<const float>(), &L, switch_id);
    accumulate(out.widefield_only, score(wf_only.reconstruction.view(), ref.view(), quantile), wfield);
    for (std::size_t i = 0; i < ns.size(); ++i) {
      const std::uint64_t n = static_cast<std::uint64_t>(ns[i]);
      const std::uint64_t seed = mix_seed(opt.seed, 102, static_cast<std::uint64_t>(f), i);
      const ImageF S = sim.sparse(field, F, F, n, seed);
      EvalRow& row = out.rows[i];
      row.n = ns[i];
      row.locs_per_um2 = ns[i] / (out.field_um * out.field_um);
      Score h = score(S.view(), ref.view(), quantile);
      const ReconstructionResult as = net.run(S.view(), nullptr, switch_id);
      const ReconstructionResult asw = net.run(S.view(), &L, switch_id);
      Score s1 = score(as.reconstruction.view(), ref.view(), quantile);
      Score s2 = score(asw.reconstruction.view(), ref.view(), quantile);
      if (opt.frc) {
        // Two independent halves of the n localizations.
        const ImageF h1 = sim.sparse(field, F, F, n / 2, mix_seed(seed, 1)), h2 = sim.sparse(field, F, F, n / 2, mix_seed(seed, 2));
        set_frc(h, frc(h1.view(), h2.view(), px));
        const ImageF r1 = net.run(h1.view(), nullptr, switch_id).reconstruction;
        const ImageF r2 = net.run(h2.view(), nullptr, switch_id).reconstruction;
        set_frc(s1, frc(r1.view(), r2.view(), px));
        const ImageF q1 = net.run(h1.view(), &L, switch_id).reconstruction;
        const ImageF q2 = net.run(h2.view(), &L, switch_id).reconstruction;
        set_frc(s2, frc(q1.view(), q2.view(), px));
      }
      if (opt.write_images && f == 0) {
        TiffWriteOptions wo;
        wo.pixel_nm = px;
        const std::string stem = fmt::format("{}/field0_n{:.0f}", opt.output_dir, ns[i]);
        write_tiff(stem + "_histogram.tif", S.view(), wo);
        write_tiff(stem + "_anet_s.tif", as.reconstruction.view(), wo);
        write_tiff(stem + "_anet_sw.tif", asw.reconstruction.view(), wo);
      }
      accumulate(row.histogram, h, wfield);
      accumulate(row.anet_s, s1, wfield);
      accumulate(row.anet_sw, s2, wfield);
    }
    spdlog::info("evaluate: field {}/{} done ({} labels)", f + 1, opt.fields, field.labels_inside);
  }
  for (EvalRow& r : out.rows)
    for (Score* sc : {&r.histogram, &r.anet_s, &r.anet_sw}) {
      if (opt.frc) finish_frc(*sc);
      if (sc->frc_undefined > 0)
        // Which image's: the row's three are warned about apart (probe86 could not tell).
        spdlog::warn("evaluate: n = {:.0f}: the FRC of the {} is undefined in {} of {} fields (a half without "
                     "localizations, or halves that disagree even at the coarsest scale: too few localizations); the "
                     "mean is over the others",
                     r.n, sc == &r.histogram ? "histogram" : sc == &r.anet_s ? "A-net (S)" : "A-net (S + widefield)",
                     sc->frc_undefined, opt.fields);
    }
  std::vector<double> hist;
  for (const EvalRow& r : out.rows) hist.push_back(r.histogram.ms_ssim);
  // The histogram's curve must increase for the interpolation; it does up to noise, so use its
  // running maximum.
  for (std::size_t i = 1; i < hist.size(); ++i) hist[i] = std::max(hist[i], hist[i - 1]);
  for (EvalRow& r : out.rows) {
    r.equivalent_n_s = equivalent_n(ns, hist, r.anet_s.ms_ssim, &r.equivalent_s_lower_bound, &r.equivalent_s_upper_bound);
    r.equivalent_n_sw = equivalent_n(ns, hist, r.anet_sw.ms_ssim, &r.equivalent_sw_lower_bound, &r.equivalent_sw_upper_bound);
  }

  std::filesystem::create_directories(opt.output_dir);
  std::string csv =
      "# annamosaic evaluate (simulated): MS-SSIM = Wang pyramid vs the perfect image, images scaled by their " +
      fmt::format("{} quantile; {} field{} of {:.2f} um; model {}\n", quantile, opt.fields, opt.fields == 1 ? "" : "s",
                  out.field_um, opt.model) +
      "# FRC of the A-net's images (anet_*_frc_nm) is optimistic: both halves share the network's prior; FRC halves are "
      "two independent draws of n/2 localizations; \"<=X\": the FRC stayed above 1/7 up to Nyquist (in some field), X "
      "is an upper bound\n" +
      "n,locs_per_um2,hist_msssim,anet_s_msssim,anet_sw_msssim,hist_ssim,anet_s_ssim,anet_sw_ssim,hist_psnr,anet_s_psnr,"
      "anet_sw_psnr,hist_frc_nm,anet_s_frc_nm,anet_sw_frc_nm,hist_equiv_n_anet_s,gain_s,hist_equiv_n_anet_sw,gain_sw\n";
  // Without FRC (--no-frc) its cells are empty: 0 would read as a resolution.
  // ... and so are those of an undefined FRC (a half without localizations).
  const auto frc_cell = [&](const Score& sc) { return opt.frc ? frc_text(sc) : std::string(); };
  for (const EvalRow& r : out.rows)
    csv += fmt::format("{:.0f},{:.3f},{:.4f},{:.4f},{:.4f},{:.4f},{:.4f},{:.4f},{:.2f},{:.2f},{:.2f},{},{},{},{}{:.0f},{}{:.1f},{}{:.0f},{}{:.1f}\n",
                       r.n, r.locs_per_um2, r.histogram.ms_ssim, r.anet_s.ms_ssim, r.anet_sw.ms_ssim, r.histogram.ssim,
                       r.anet_s.ssim, r.anet_sw.ssim, r.histogram.psnr, r.anet_s.psnr, r.anet_sw.psnr, frc_cell(r.histogram),
                       frc_cell(r.anet_s), frc_cell(r.anet_sw), bound_mark(r.equivalent_s_lower_bound, r.equivalent_s_upper_bound),
                       r.equivalent_n_s, bound_mark(r.equivalent_s_lower_bound, r.equivalent_s_upper_bound), r.equivalent_n_s / r.n,
                       bound_mark(r.equivalent_sw_lower_bound, r.equivalent_sw_upper_bound), r.equivalent_n_sw,
                       bound_mark(r.equivalent_sw_lower_bound, r.equivalent_sw_upper_bound), r.equivalent_n_sw / r.n);
  csv += fmt::format("# widefield only (S = 0): MS-SSIM {:.4f}, SSIM {:.4f}, PSNR {:.2f}\n", out.widefield_only.ms_ssim,
                     out.widefield_only.ssim, out.widefield_only.psnr);
  out.csv_path = opt.output_dir + "/evaluate.csv";
  write_file_atomic(out.csv_path, csv);

  PlotSeries sh{"histogram", {110, 110, 110}, {}, {}}, s1{"A-net S", {30, 90, 200}, {}, {}}, s2{"A-net S+W", {210, 40, 40}, {}, {}};
  for (const EvalRow& r : out.rows) {
    sh.x.push_back(r.n), sh.y.push_back(r.histogram.ms_ssim);
    s1.x.push_back(r.n), s1.y.push_back(r.anet_s.ms_ssim);
    s2.x.push_back(r.n), s2.y.push_back(r.anet_sw.ms_ssim);
  }
  PlotSeries sw{"W only", {40, 150, 60}, {ns.front(), ns.back()}, {out.widefield_only.ms_ssim, out.widefield_only.ms_ssim}, true};
  PlotOptions po;
  po.x_label = "localizations n";
  po.y_label = "MS-SSIM";
  po.x_min = ns.front() / 1.5;
  po.x_max = ns.back() * 1.5;
  out.plot_path = opt.output_dir + "/evaluate.png";
  write_line_plot(out.plot_path, {sh, s1, s2, sw}, po);
  return out;
}

TableEvaluation evaluate_table(const EvaluateOptions& opt) {
  const Reconstructor net(opt.model, opt.reconstructor);
  const double px = net.info().pixel_nm, quantile = net.info().target_quantile;
  ReadReport report;
  const LocTable table = read_table(opt.table, opt.read, &report);
  for (const std::string& w : report.warnings) spdlog::warn("{}", w);
  if (const std::string skipped = skipped_rows_message(opt.table, report); !skipped.empty()) spdlog::warn("{}", skipped);
  if (table.empty()) throw InputError(opt.table, "table has no localizations");
  if (const std::string note = checkpoint_note(net.info()); !note.empty()) spdlog::warn("{}", note);
  const bool with_wf = !opt.widefield.empty();
  if (with_wf && !net.info().trained_with_widefield)
    spdlog::warn("{} was trained without widefields (its Q never trained): its S + widefield scores measure an input it "
                 "never saw", opt.model);
  ImageF wf_raw;
  if (with_wf) {
    std::string note;
    wf_raw = read_tiff_mean_or_all(opt.widefield, parse_page_range(opt.widefield_frames), note);
    if (!note.empty()) spdlog::warn("{} (--widefield-frames {})", note, opt.widefield_frames);
    if (const std::string repaired = repair_nonfinite(wf_raw, opt.widefield); !repaired.empty()) spdlog::warn("{}", repaired);
  } else if (const FarOutliers o = far_outliers(table); !o.rows.empty()) {
    throw InputError(opt.table, far_outliers_message(table, o) + " Fix the table: the images are fitted to its extent");
  }
  const TableStats st = compute_stats(table);
  const FrameRange range = frame_range_of(st);
  // With a widefield the images cover its camera field, which the table shares (its origin).
  const Field field = with_wf ? Field{0, 0, wf_raw.width() * opt.camera_pixel_nm, wf_raw.height() * opt.camera_pixel_nm}
                              : bounding_field(st, px);
  require_memory_for_field(double(field_width_px(field, px)), double(field_height_px(field, px)), px,
                           with_wf ? opt.widefield : opt.table);
  TableEvaluation out;
  out.content = content_fingerprint(table);
  out.frames = range.count;
  out.sparse_frames = std::max<std::int64_t>(1, std::llround(opt.sparse_fraction * static_cast<double>(range.count)));
  RenderOptions ro;
  ro.pixel_nm = px;
  RenderStats rs;
  const ImageF dense = render(table, field, ro, &rs);
  if (with_wf && rs.outside_field > rs.in_image)
    throw InputError(opt.table, fmt::format("{} of {} localizations lie outside the widefield's field ({:.0f} x {:.0f} nm from 0, "
                                            "--camera-pixel-nm {:g}): is {} of the same field, in its camera frame?",
                                            rs.outside_field, table.size(), field.width_nm, field.height_nm,
                                            opt.camera_pixel_nm, opt.widefield));
  // Fewer lost: scored without them, said (probe73: 15% dropped by a cropped widefield went unsaid);
  // a few strays past the edge (drift) are not worth a word.
  if (with_wf && rs.outside_field >= std::max<std::size_t>(10, table.size() / 1000))
    spdlog::warn("{}: {} of {} localizations ({:.1f}%) lie outside the widefield's field ({:.0f} x {:.0f} nm from 0, "
                 "--camera-pixel-nm {:g}) and are not scored: a widefield cropped smaller than the table's field?",
                 opt.table, rs.outside_field, table.size(), 100.0 * static_cast<double>(rs.outside_field) / table.size(),
                 field.width_nm, field.height_nm, opt.camera_pixel_nm);
  ro.window = FrameWindow{range.base, range.base + out.sparse_frames};
  const ImageF sparse_field = render(table, field, ro, &rs);
  // The scored region. With a widefield the images span its camera field, mostly empty around
  // the table's structure: scored there, whatever predicts empty background wins (the
  // histogram's zeros; a 1437 x 1161 px field turned the A-net's 0.91 against the histogram's
  // 0.83 into 0.88 against 0.99). So the table's bounding box (at least MS-SSIM's smallest side)
  // is scored, and written. The network sees that box too, as without a widefield: it normalises
  // its input as a whole, so camera field around the table changed its output (a widefield
  // padded with background to 2x its field: A-net+wf 0.96 -> 0.83 on the whole field, 0.58 with
  // a 32 px margin of that background; 0.96 on the box).
  std::size_t rx = 0, ry = 0, rw = dense.width(), rh = dense.height();
  if (with_wf) {
    const Field b = bounding_field(st, px);
    const auto span = [&](double origin_nm, std::size_t size_px, std::size_t limit, std::size_t& at, std::size_t& len) {
      const double lo = std::clamp(std::floor(origin_nm / px), 0.0, static_cast<double>(limit));
      const double hi = std::clamp(lo + static_cast<double>(size_px), lo, static_cast<double>(limit));
      at = static_cast<std::size_t>(lo), len = static_cast<std::size_t>(hi - lo);
      if (len < kMsSsimMinSidePx && limit >= kMsSsimMinSidePx) {  // grown about its centre, kept inside
        const double centre = at + len / 2.0;
        at = static_cast<std::size_t>(std::clamp(centre - kMsSsimMinSidePx / 2.0, 0.0, static_cast<double>(limit - kMsSsimMinSidePx)));
        len = kMsSsimMinSidePx;
      }
    };
    span(b.x0_nm, field_width_px(b, px), dense.width(), rx, rw);
    span(b.y0_nm, field_height_px(b, px), dense.height(), ry, rh);
    const std::size_t table_w = std::min(field_width_px(b, px), dense.width()), table_h = std::min(field_height_px(b, px), dense.height());
    if (rw < dense.width() || rh < dense.height())
      spdlog::info("scored on the table's region: {} x {} px from ({}, {}) of the widefield's {} x {} px field{}", rw, rh, rx, ry,
                   dense.width(), dense.height(),
                   rw > table_w || rh > table_h
                       ? fmt::format(" (the table spans {} x {} px, widened to MS-SSIM's smallest side, {} px)", table_w,
                                     table_h, kMsSsimMinSidePx)
                       : std::string());
  }
  const auto cut = [&](const ImageF& im) { return to_image(im.view().region(rx, ry, rw, rh)); };
  const auto sum = [](const ImageF& im) {
    double total = 0;
    for (std::size_t i = 0; i < im.size(); ++i) total += im.data()[i];
    return static_cast<std::uint64_t>(std::llround(total));
  };
  const ImageF sparse = cut(sparse_field);
  out.sparse_localizations = sum(sparse);
  out.dense_localizations = sum(cut(dense));
  out.width_px = rw;
  out.height_px = rh;
  if (out.sparse_localizations == 0)
    throw InputError(opt.table, fmt::format("no localization in the sparse window (the first {} of {} frames, from frame {}): "
                                            "nothing to score; a larger --sparse-fraction, or a table whose frames start "
                                            "at its acquisition's start",
                                            out.sparse_frames, out.frames, range.base));
  // MS-SSIM's five scales (as the simulated protocol's --field-px).
  if (std::min(out.width_px, out.height_px) < kMsSsimMinSidePx)
    throw InputError(opt.table, fmt::format("its image is {} x {} px at {} nm: MS-SSIM needs at least {} px on each side "
                                            "(a field of {:.1f} um)",
                                            out.width_px, out.height_px, px, kMsSsimMinSidePx, kMsSsimMinSidePx * px / 1000));
  // Odd/even frames of a window: two independent halves for the FRC.
  auto halves = [&](const FrameWindow& w, ImageF& a, ImageF& b) {
    LocTable odd, even;
    for (std::size_t i = 0; i < table.size(); ++i) {
      if (!w.contains(table.frame[i])) continue;
      LocTable& t = table.frame[i] % 2 ? odd : even;
      t.frame.push_back(table.frame[i]);
      t.x_nm.push_back(table.x_nm[i]);
      t.y_nm.push_back(table.y_nm[i]);
    }
    RenderOptions r2;
    r2.pixel_nm = px;
    a = render(odd, field, r2);
    b = render(even, field, r2);
  };
  const ImageF ref = normalise_to_unit(cut(dense).view(), quantile);
  out.histogram = score(sparse.view(), ref.view(), quantile);
  const ImageF anet_image = net.run(sparse.view(), nullptr, opt.switch_id).reconstruction;
  out.anet = score(anet_image.view(), ref.view(), quantile);
  ImageF L, a_wf;
  if (with_wf) {
    const WidefieldRegistration reg = register_widefield(sparse_field.view(), wf_raw.view(), px, opt.camera_pixel_nm);
    spdlog::info("widefield registered to S: shift ({:.2f}, {:.2f}) camera px, confidence {:.2f}", reg.shift_x_px, reg.shift_y_px,
                 reg.confidence);
    if (reg.confidence < kMinWidefieldConfidence)
      throw InputError(opt.widefield, fmt::format("matches the table's sparse image poorly (registration confidence {:.3f} < "
                                                  "{}): not this table's field, or another --camera-pixel-nm",
                                                  reg.confidence, kMinWidefieldConfidence));
    const ImageF L_field = widefield_on_sr_grid(wf_raw.view(), reg, sparse_field.width(), sparse_field.height(), px,
                                                opt.camera_pixel_nm);
    L = cut(L_field);
    a_wf = net.run(sparse.view(), &L, opt.switch_id).reconstruction;
    out.with_widefield = true;
    out.widefield_confidence = reg.confidence;
    out.anet_widefield = score(a_wf.view(), ref.view(), quantile);
    out.anet_widefield.frc_nm = std::numeric_limits<double>::quiet_NaN();
  }
  if (opt.frc) {
    ImageF d1, d2, s1, s2;
    halves(FrameWindow{}, d1, d2);
    halves(ro.window, s1, s2);
    Score dense;
    set_frc(dense, frc(cut(d1).view(), cut(d2).view(), px));
    out.dense_frc_nm = dense.frc_nm;
    out.dense_frc_at_limit = dense.frc_at_limit;
    set_frc(out.histogram, frc(cut(s1).view(), cut(s2).view(), px));
    const ImageF r1 = net.run(cut(s1).view(), nullptr, opt.switch_id).reconstruction,
                 r2 = net.run(cut(s2).view(), nullptr, opt.switch_id).reconstruction;
    set_frc(out.anet, frc(r1.view(), r2.view(), px));
  } else {
    out.dense_frc_nm = out.histogram.frc_nm = out.anet.frc_nm = std::numeric_limits<double>::quiet_NaN();
  }

  std::filesystem::create_directories(opt.output_dir);
  TiffWriteOptions wo;
  wo.pixel_nm = px;
  // Where the images lie in the table's coordinates (as render and reconstruct say it): to compare
  // them with other images of the table.
  const Field region{field.x0_nm + static_cast<double>(rx) * px, field.y0_nm + static_cast<double>(ry) * px,
                     static_cast<double>(rw) * px, static_cast<double>(rh) * px};
  wo.description = "annamosaic evaluate --table " + opt.table + "; " + field_description(region, px);
  wo.origin_x_um = region.x0_nm / 1e3;
  wo.origin_y_um = region.y0_nm / 1e3;
  write_tiff(opt.output_dir + "/sparse.tif", sparse.view(), wo);
  const ImageF dense_region = cut(dense);
  write_tiff(opt.output_dir + "/dense.tif", dense_region.view(), wo);
  write_tiff(opt.output_dir + "/anet.tif", anet_image.view(), wo);
  std::vector<std::pair<std::string, const ImageF*>> images = {{"sparse", &sparse}, {"dense", &dense_region}, {"anet", &anet_image}};
  if (with_wf) {
    write_tiff(opt.output_dir + "/widefield.tif", L.view(), wo);
    write_tiff(opt.output_dir + "/anet-widefield.tif", a_wf.view(), wo);
    images.insert(images.end(), {{"widefield", &L}, {"anet-widefield", &a_wf}});
  }
  for (const auto& [name, im] : images) write_preview_png(opt.output_dir + "/" + name + ".png", im->view(), PreviewOptions{});
  if (!with_wf)  // an earlier evaluation's with a widefield, into this folder: not this one's
    for (const char* stale : {"widefield.tif", "widefield.png", "anet-widefield.tif", "anet-widefield.png"}) {
      std::error_code ec;
      if (std::filesystem::remove(opt.output_dir + "/" + stale, ec))
        spdlog::info("removed {}/{}: an earlier evaluation's, which this one (no --widefield) does not make", opt.output_dir,
                     stale);
    }
  out.csv_path = opt.output_dir + "/evaluate-table.csv";
  Score dense_score;  // for its FRC text
  dense_score.frc_nm = out.dense_frc_nm;
  dense_score.frc_at_limit = out.dense_frc_at_limit;
  write_file_atomic(
      out.csv_path,
      fmt::format("# annamosaic evaluate --table {}: sparse = first {} of {} frames ({} localizations), reference = all frames "
                  "({} localizations), {} x {} px at {} nm; MS-SSIM = Wang pyramid; model {}\n"
                  "# FRC of the A-net's image is optimistic: both halves share the network's prior; FRC halves are the "
                  "odd and even frames; \"<=X\": the FRC stayed above 1/7 up to Nyquist, X = 2 pixels is an upper bound\n"
                  "{}"
                  "image,msssim,ssim,psnr,frc_nm\nhistogram,{:.4f},{:.4f},{:.2f},{}\nanet,{:.4f},{:.4f},{:.2f},{}\n"
                  "{}dense_reference,1,1,inf,{}\n",
                  opt.table, out.sparse_frames, out.frames, out.sparse_localizations, out.dense_localizations, out.width_px,
                  out.height_px, px, opt.model,
                  with_wf ? fmt::format("# widefield {} (pages {}, registration confidence {:.2f}); its FRC is left empty: both "
                                        "halves would share the widefield\n",
                                        opt.widefield, opt.widefield_frames, out.widefield_confidence)
                          : std::string(),
                  out.histogram.ms_ssim, out.histogram.ssim, out.histogram.psnr, frc_text(out.histogram), out.anet.ms_ssim,
                  out.anet.ssim, out.anet.psnr, frc_text(out.anet),
                  with_wf ? fmt::format("anet_widefield,{:.4f},{:.4f},{:.2f},\n", out.anet_widefield.ms_ssim,
                                        out.anet_widefield.ssim, out.anet_widefield.psnr)
                          : std::string(),
                  frc_text(dense_score)));
  return out;
}

}  // namespace annamosaic::anet
