#include "batch/fov_processor.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iterator>
#include <new>
#include <numeric>

#include "batch/input_stamp.hpp"
#include "batch/manifest.hpp"
#include "core/error.hpp"
#include "core/json_text.hpp"
#include "imageio/tiff_io.hpp"
#include "imgproc/filters.hpp"
#include "loc/csv_reader.hpp"
#include "loc/frame_window.hpp"
#include "register/widefield_registration.hpp"
#include "register/widefield_signal.hpp"
#include "render/render.hpp"

namespace annamosaic {
namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
constexpr double kOutsideWarnFraction = 0.01;  // of the localizations in the frame window
}  // namespace

std::string fov_result_name(int id) { return fmt::format("fov/{:04d}.h5", id); }

std::uint64_t fov_frames_seed(std::uint64_t seed, int fov_id) {
  // splitmix64 of (seed, id): neighbouring ids give unrelated streams.
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (static_cast<std::uint64_t>(fov_id) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A widefield whose brightest pixel is below this is not in camera counts (a camera's offset alone
// is ~100 ADU).
constexpr float kMinWidefieldCounts = 16.0f;
// A widefield shorter than this fraction of the FoV along an axis is not given to the A-net.
constexpr double kMinWidefieldCover = 0.9;

std::unique_ptr<FovWork> prepare_fov(const FovEntry& fov, const CampaignInfo& c, const FovOptions& opt) {
  auto w = std::make_unique<FovWork>();
  w->entry = fov;
  FovResult& r = w->result;
  r.id = fov.id;
  r.row = fov.row;
  r.col = fov.col;
  r.x_um = fov.x_um;
  r.y_um = fov.y_um;
  r.pixel_nm = opt.pixel_nm;
  const double fov_nm = c.fov_um * 1000.0;
  const Field field{0, 0, fov_nm, fov_nm};
  const std::size_t W = field_width_px(field, opt.pixel_nm), H = field_height_px(field, opt.pixel_nm);

  // No table there: a FoV not acquired yet (a campaign run while the microscope acquires; its
  // widefield, taken first, may be there: counted as failed, a probe's run mid-acquisition said "1
  // failed"), or a pattern that finds nothing. Recorded apart from failures (QC draws no cross,
  // status counts it apart), its place empty in every channel (a widefield-only tile looks like
  // data), redone once its files arrive.
  if (!table_acquired(fov)) {
    w->failed = true;
    w->not_acquired = true;
    w->reason = fov.table_path + (fov.widefield_path.empty() ? ": not acquired yet (neither it nor a widefield is there)"
                                                             : ": not acquired yet (its widefield is there, its table not yet)");
    r.sparse = ImageF(W, H);
    return w;
  }

  // Localizations -> S. Failures are recorded, not thrown: the widefield may still give a tile.
  auto t0 = Clock::now();
  try {
    // Stamped before reading: a table rewritten meanwhile is redone by the next run.
    if (nlohmann::json stamp = stamp_input(fov.table_path, c.dir); !stamp.is_null()) w->inputs["table"] = std::move(stamp);
    ReadReport report;
    const LocTable table = read_table(fov.table_path, opt.table, &report);
    if (std::string note = changed_while_read(w->inputs.value("table", nlohmann::json()), fov.table_path); !note.empty())
      w->warnings.push_back(std::move(note));
    for (std::string& warning : report.warnings) w->warnings.push_back(std::move(warning));
    // --skip-bad-rows drops them from this FoV, never silently: logged and flagged in qc/.
    if (std::string skipped = skipped_rows_message(fov.table_path, report); !skipped.empty())
      w->warnings.push_back(std::move(skipped));
    w->timings["read_s"] = since(t0);
    t0 = Clock::now();
    const TableStats stats = compute_stats(table);
    RenderOptions ro;
    ro.pixel_nm = opt.pixel_nm;
    FrameRange range = frame_range_of(stats, c.frame_base);
    // Said per FoV, for the campaign's verdict: guesses that differ between tables move their
    // windows by a frame against each other.
    if (c.frame_base < 0 && stats.rows > 0) w->frame_base_guessed = static_cast<int>(range.base);
    if (stats.rows > 0) w->table_frames[0] = stats.frame_min, w->table_frames[1] = stats.frame_max;
    if (c.frame_base == 1 && stats.rows > 0 && stats.frame_min == 0)
      w->warnings.push_back(fov.table_path + ": the table has frame 0, but campaign.ini says frame-base = 1: frame 0's "
                                             "localizations are before the acquisition's first frame, outside every window "
                                             "but `all` (if the software counts frames from 0, set frame-base = 0 there)");
    // campaign.ini's frames, when it says them: a FoV whose last frames detected nothing still
    // had them (random windows and the notes below count from the acquisition, not the table).
    if (c.frames > 0 && range.count > 0) range.count = std::max<std::int64_t>(range.count, c.frames);
    ro.window = parse_frame_window(opt.frames, range, fov_frames_seed(opt.frames_seed, fov.id));
    if (std::string note = frame_window_note(opt.frames, range, ro.window); !note.empty())
      w->warnings.push_back(fov.table_path + ": " + note);
    if (range.count > 0) {
      r.frames_first = std::max<long long>(ro.window.first, range.base);
      r.frames_end = std::min<long long>(ro.window.end, range.base + range.count);
      if (r.frames_end < r.frames_first) r.frames_end = r.frames_first;
      w->window_end = r.frames_end;
    }
    RenderStats rs;
    r.sparse = render(table, field, ro, &rs);
    r.localizations = static_cast<long long>(rs.in_image);
    w->timings["render_s"] = since(t0);
    const auto bounds = [&] {
      return fmt::format("x {:.0f}..{:.0f} nm, y {:.0f}..{:.0f} nm", stats.x_min_nm, stats.x_max_nm, stats.y_min_nm,
                         stats.y_max_nm);
    };
    const double in_window = static_cast<double>(rs.in_image + rs.outside_field);
    if (table.size() == 0) {
      w->failed = true;
      w->reason = fov.table_path + ": the table has no localizations" +
                  (report.rows_skipped ? fmt::format(" (all {} rows malformed, skipped)", report.rows_skipped)
                                       : std::string(" (no rows)"));
    } else if (rs.in_image == 0) {
      w->failed = true;
      w->reason = fov.table_path + ": no localizations in the field (0.." + fmt::format("{:.0f}", fov_nm) +
                  " nm; the table has " + bounds() + ": FoV-local coordinates are expected)";
    } else if (rs.outside_field > 0 && rs.outside_field >= kOutsideWarnFraction * in_window) {
      // Stage instead of FoV-local coordinates, another unit, or FoVs larger than fov-um.
      w->warnings.push_back(fmt::format(
          "{}: {} of {} localizations ({:.1f}%) lie outside the field (0..{:.0f} nm) and are not used; the table has {}",
          fov.table_path, rs.outside_field, static_cast<std::uint64_t>(in_window),
          100.0 * static_cast<double>(rs.outside_field) / in_window, fov_nm, bounds()));
      // A vote for the campaign's verdict only with enough localizations to say (a few strays are no sign).
      if (2.0 * static_cast<double>(rs.outside_field) > in_window && in_window >= 100) w->mostly_outside = w->warnings.back();
    } else if (rs.outside_field > 0) {
      // A few strays just past the edge are drift, not worth a word; one far from everything is a
      // corrupt row or another unit, named (a probe's 1 m coordinate went unsaid).
      if (const FarOutliers o = far_outliers(table); !o.rows.empty())
        w->warnings.push_back(fov.table_path + ": " + far_outliers_message(table, o) + " Not used (outside the field).");
    }
    if (rs.in_image >= 100)
      w->bounds_um[0] = stats.x_min_nm / 1000.0, w->bounds_um[1] = stats.x_max_nm / 1000.0,
      w->bounds_um[2] = stats.y_min_nm / 1000.0, w->bounds_um[3] = stats.y_max_nm / 1000.0;
    // Camera pixels or um read as nm: everything lands in a corner of the field.
    if (spans_a_corner(rs.in_image, stats.x_max_nm - stats.x_min_nm, stats.y_max_nm - stats.y_min_nm, fov_nm)) {
      w->cornered = fmt::format("{}: the localizations span only {} of a {:.0f} nm field: are the coordinates in nm (see "
                                "the table's units)?",
                                fov.table_path, bounds(), fov_nm);
      w->warnings.push_back(w->cornered);
    } else if (rs.in_image >= 100 && std::max(stats.x_max_nm - stats.x_min_nm, stats.y_max_nm - stats.y_min_nm) < fov_nm / 3) {
      // Not said per FoV (a small cell alone in its field is real): the campaign says it when most FoVs are so.
      w->narrow = fmt::format("{}: {}", fov.table_path, bounds());
    }
  } catch (const std::exception& e) {
    w->failed = true;
    w->reason = e.what();
    // A malformed row of the table (named by line): what to do next, beside the place (probe99).
    if (dynamic_cast<const MalformedRowError*>(&e))
      w->reason += " (fix that row and rerun: finished FoVs are kept; or leave malformed rows out, each counted, with "
                   "--skip-bad-rows into a new --output)";
    r.sparse = ImageF(W, H);
  }

  // Widefield -> registered L on the SR grid.
  if (opt.use_widefield && !fov.widefield_path.empty()) {
    t0 = Clock::now();
    try {
      const std::string pages = opt.widefield_pages.empty() ? c.widefield_frames : opt.widefield_pages;
      std::string note;
      TiffInfo wf_info;
      // Stamped before reading: a widefield that cannot be used is not retried by every rerun,
      // only once it has been replaced.
      if (nlohmann::json stamp = stamp_input(fov.widefield_path, c.dir); !stamp.is_null())
        w->inputs["widefield"] = std::move(stamp);
      ImageF wf = read_tiff_mean_or_all(fov.widefield_path, parse_page_range(pages), note, &wf_info);
      if (std::string changed = changed_while_read(w->inputs.value("widefield", nlohmann::json()), fov.widefield_path);
          !changed.empty())
        w->warnings.push_back(std::move(changed));
      if (!note.empty()) w->warnings.push_back(note);
      if (std::string repaired = repair_nonfinite(wf, fov.widefield_path); !repaired.empty())
        w->warnings.push_back(std::move(repaired));
      if (wf.empty()) throw InputError(fov.widefield_path, "empty image");
      // Binned, or from another camera: with its own tags' pixel it spans the FoV, with the
      // campaign's it does not (a probe's 2x2-binned widefield among unbinned ones was drawn at half
      // scale beside a black hole). This FoV's widefield is read at its tags' pixel, said.
      double camera_nm = c.camera_pixel_nm;
      const double tag_nm = wf_info.pixel_nm;
      const bool tag_differs = tag_nm > 0 && std::abs(tag_nm - c.camera_pixel_nm) > 0.01 * c.camera_pixel_nm;
      if (widefield_read_at_tag(wf.width(), wf.height(), tag_nm, c.camera_pixel_nm, c.fov_um)) {
        camera_nm = tag_nm;
        w->warnings.push_back(fmt::format("{}: read at its resolution tags' {:g} nm per pixel, a whole multiple of "
                                          "camera-pixel-nm {:g} (binned): with them its {} x {} px span the {:g} um FoV",
                                          fov.widefield_path, tag_nm, c.camera_pixel_nm, wf.width(), wf.height(), c.fov_um));
      }
      // Smaller than the FoV (another camera ROI or binning): said here, for this FoV's QC flag,
      // besides the campaign's note on sizes; the A-net sees the repeated edge as structure. Short
      // of 90% of the FoV it is not given to the A-net (a probe's 70 of 93 px, and a 2x binned
      // one, streaked the reconstruction beyond their edge); kept for the mosaic's channel.
      if (const double w_nm = static_cast<double>(wf.width()) * camera_nm,
          h_nm = static_cast<double>(wf.height()) * camera_nm;
          std::min(w_nm, h_nm) < fov_nm - camera_nm) {
        const std::string covers = fmt::format("{} x {} px at {:g} nm cover only {:.3g} x {:.3g} um of the {:g} um FoV",
                                               wf.width(), wf.height(), camera_nm, w_nm / 1000.0, h_nm / 1000.0, c.fov_um);
        w->widefield_partial = std::min(w_nm, h_nm) < kMinWidefieldCover * fov_nm;
        if (w->widefield_partial)
          w->warnings.push_back(fmt::format("widefield ignored: {}: {} (another camera ROI or binning?): {} (beyond its "
                                            "edge, repeated, it would take that for structure); kept in the mosaic's "
                                            "widefield channel",
                                            fov.widefield_path, covers,
                                            w->failed ? "not used for a widefield-only tile" : "the A-net used the localizations alone"));
        else
          w->warnings.push_back(fmt::format("{}: {}: used; beyond them the widefield's edge is repeated, which the A-net "
                                            "takes for structure (another camera ROI or binning?)",
                                            fov.widefield_path, covers));
      }
      // Larger than the FoV both ways by more than a tenth: a camera pixel too coarse (65 nm images
      // read at 108 nm), said per FoV so that status names the scale, not only the search its
      // poor registration then asks for (probe99). Used as scaled.
      if (const double w_nm = static_cast<double>(wf.width()) * camera_nm, h_nm = static_cast<double>(wf.height()) * camera_nm;
          std::min(w_nm, h_nm) > 1.1 * fov_nm) {
        // A pixel that fits is offered only for a square image, as the campaign's note does: no
        // one pixel fits both sides of another shape.
        const bool square = std::max(w_nm, h_nm) <= 1.1 * std::min(w_nm, h_nm);
        w->warnings.push_back(fmt::format("{}: {} x {} px at {:g} nm cover {:.3g} x {:.3g} um, more than the {:g} um FoV: is "
                                          "camera-pixel-nm right{}? A widefield out of scale registers poorly and misleads "
                                          "the A-net; no search fixes it",
                                          fov.widefield_path, wf.width(), wf.height(), camera_nm, w_nm / 1000.0, h_nm / 1000.0,
                                          c.fov_um,
                                          square ? fmt::format(" ({:.4g} nm would fit)",
                                                               fov_nm / static_cast<double>(std::max(wf.width(), wf.height())))
                                                 : std::string()));
      }
      const auto [lo_at, hi_at] = std::minmax_element(wf.begin(), wf.end());
      const float lo = *lo_at, top = *hi_at;
      if (lo == top) throw InputError(fov.widefield_path, fmt::format("every pixel is {:g}: a blank image", lo));
      if (top < kMinWidefieldCounts)
        // A float export scaled to 0..1 (or similar): the A-net scales its input and does not mind,
        // the mosaic's widefield channel stores whole counts and would show this tile black.
        w->warnings.push_back(fmt::format("{}: the widefield's values span {:.3g}..{:.3g}, not camera counts (ADU): the "
                                          "reconstruction is unaffected, but the mosaic's widefield channel stores whole "
                                          "counts and shows this tile (nearly) black",
                                          fov.widefield_path, lo, top));
      // Many pixels at exactly the maximum: a clipped (saturated) camera image, whose flat tops the
      // A-net takes for structure and the error map then flags. Said; used as it is.
      {
        const auto at_top = static_cast<std::size_t>(std::count(wf.begin(), wf.end(), top));
        if (at_top >= std::max<std::size_t>(10, wf.size() / 200))
          w->warnings.push_back(fmt::format("{}: {} of its {} pixels ({:.1f}%) sit at its maximum, {:g}: a saturated "
                                            "(clipped) widefield? Its flat tops reach the A-net as they are",
                                            fov.widefield_path, at_top, wf.size(), 100.0 * at_top / wf.size(), top));
      }
      if (tag_differs && camera_nm == c.camera_pixel_nm)
        w->warnings.push_back(fmt::format("{}: its resolution tags say {} nm per pixel, the campaign's camera-pixel-nm is "
                                          "{}{}: using {} nm",
                                          fov.widefield_path, tag_nm, c.camera_pixel_nm,
                                          !c.camera_pixel_nm_given ? " (the default: campaign.ini does not give it)"
                                          : c.camera_pixel_from != "campaign.ini" ? " (" + c.camera_pixel_from + ")"
                                                                                  : std::string(),
                                          c.camera_pixel_nm));
      const WidefieldSignal signal = widefield_signal(wf.view(), camera_nm);
      WidefieldRegistration reg;
      if (w->widefield_partial) {
        // said above; not registered (a part registers falsely more often than a whole)
      } else if (!signal.has_structure()) {
        // Said as "widefield ignored" (QC then does not also call the FoV one without a widefield file).
        w->widefield_without_structure = true;
        w->warnings.push_back(fmt::format("widefield ignored: {} {}: {} (from a widefield of background the A-net invents "
                                          "filaments)",
                                          fov.widefield_path, signal.no_structure_text(),
                                          w->failed ? "not used for a widefield-only tile" : "the A-net used the localizations alone"));
      } else if (!w->failed) {
        WidefieldRegOptions ro;
        if (opt.widefield_search_um > 0) ro.max_shift_camera_px = opt.widefield_search_um * 1000.0 / camera_nm;
        const double searched_um = ro.max_shift_camera_px * camera_nm / 1000.0;
        reg = register_widefield(r.sparse.view(), wf.view(), opt.pixel_nm, camera_nm, ro);
        if (reg.confidence < kMinWidefieldConfidence) {
          // Said as "widefield ignored", with the search it was given (a constant offset between the
          // widefield and the localizations beyond it is never found).
          w->widefield_unregistered = true;
          // Mirrored or turned against the localizations (a camera mounted otherwise)? Said, not undone.
          std::string turned;
          if (const WidefieldOrientation o = best_widefield_orientation(r.sparse.view(), wf.view(), opt.pixel_nm,
                                                                        camera_nm, ro);
              o.confidence >= 0.3 && o.confidence >= 3 * reg.confidence) {
            w->widefield_turned = o.name;
            turned = fmt::format("; it matches them {} (confidence {:.3f}): are the widefields {} against the tables' x "
                                 "and y? Fix one or the other",
                                 o.name, o.confidence, o.name);
          }
          w->warnings.push_back(fmt::format(
              "widefield ignored: {}: its registration to the localizations is uncertain (confidence {:.3f} < {}; searched "
              "+-{:.3g} um per axis, --widefield-search-um to search further, into a new --output){}: the A-net used the "
              "localizations alone (a widefield out of place misleads it more than none)",
              fov.widefield_path, reg.confidence, kMinWidefieldConfidence, searched_um, turned));
          const double confidence = reg.confidence;  // kept in the result file: it says why
          reg = WidefieldRegistration{};
          reg.confidence = confidence;
        } else if (std::max(std::abs(reg.shift_x_px), std::abs(reg.shift_y_px)) > 0.8 * ro.max_shift_camera_px) {
          // A match near the edge of the search: the true shift may lie beyond it, and this one be false.
          w->warnings.push_back(fmt::format(
              "{}: the widefield's shift ({:.2f}, {:.2f} um) lies near the edge of the +-{:.3g} um searched: the true shift "
              "may lie beyond it (then this match is false): --widefield-search-um to search further, into a new --output",
              fov.widefield_path, reg.shift_x_px * camera_nm / 1000.0, reg.shift_y_px * camera_nm / 1000.0,
              searched_um));
        }
      }
      r.wf_shift_x_px = reg.shift_x_px;
      r.wf_shift_y_px = reg.shift_y_px;
      r.wf_pixel_nm = camera_nm;
      r.wf_confidence = reg.confidence;
      r.widefield = widefield_on_sr_grid(wf.view(), reg, W, H, opt.pixel_nm, camera_nm);
      // Not given to the A-net, only to the mosaic's widefield channel: no data beyond its edge.
      if (w->widefield_partial) mark_beyond_widefield(r.widefield, wf.width(), wf.height(), reg, opt.pixel_nm, camera_nm);
      w->widefield_registered = !w->failed && !w->widefield_without_structure && !w->widefield_unregistered && !w->widefield_partial;
      w->timings["register_s"] = since(t0);
    } catch (const IoError& e) {
      // Not read at all (permissions, an I/O error): the environment's fault, not the data's. The
      // FoV fails, so that a rerun redoes it once that is fixed ("ignored", it would stay done
      // without its widefield: the file's stamp does not change with its permissions).
      const std::string why = std::string("its widefield could not be read: ") + e.what();
      w->reason = w->failed ? w->reason + "; " + why : why;
      w->failed = true;
      r.widefield = ImageF();
    } catch (const std::exception& e) {
      // A broken widefield does not fail the FoV if the localizations are fine.
      if (w->failed) w->reason += "; " + std::string(e.what());
      else w->result.reason = std::string("widefield ignored: ") + e.what();
      if (!w->failed) w->warnings.push_back(w->result.reason);
      r.widefield = ImageF();
    }
  }
  return w;
}

namespace {
// An exception from the A-net fails this FoV (recorded with the reason), not the rank.
void fail_reconstruction(FovWork& w, const std::exception& e) {
  w.job.reset();
  w.failed = true;
  w.anet_failed = true;
  w.failed_tile = "empty";
  // LibTorch's messages carry a C++ backtrace of ~40 frames: kept out of the manifest and logs.
  std::string what = e.what();
  for (const char* cut : {"\nException raised from", "\nframe #0"})
    if (const auto at = what.find(cut); at != std::string::npos) what.erase(at);
  w.anet_out_of_memory = dynamic_cast<const std::bad_alloc*>(&e) != nullptr || what.find("out of memory") != std::string::npos ||
                         what.find("DefaultCPUAllocator") != std::string::npos || what.find("alloc_cpu") != std::string::npos;
  if (w.anet_out_of_memory)
    what += " (out of memory: lower --anet-memory-mb or --in-flight, or give each rank more memory)";
  w.reason = (w.reason.empty() ? "" : w.reason + "; ") + "reconstruction failed: " + what;
  FovResult& r = w.result;
  r.status = "degraded";  // the documented result states: ok, degraded (empty here)
  r.reason = w.reason;
  r.reconstruction = ImageF(r.sparse.width(), r.sparse.height());
  r.q = ImageF();
  r.error_map = ImageF();
  r.error_score = std::numeric_limits<double>::quiet_NaN();
}
}  // namespace

void begin_reconstruction(FovWork& w, const ReconstructFn& reconstruct, int switch_id, const FovOptions& opt) {
  FovResult& r = w.result;
  const auto t0 = Clock::now();
  const ImageF* wf =
      r.widefield.empty() || w.widefield_without_structure || w.widefield_unregistered || w.widefield_partial ? nullptr : &r.widefield;
  if (w.failed) {
    r.status = "degraded";
    r.reason = w.reason;
    if (opt.failed_tile == "empty" || !wf) {
      r.reconstruction = ImageF(r.sparse.width(), r.sparse.height());
      w.failed_tile = "empty";
      return;
    }
    // The paper's widefield-only mode: S = zeros.
    r.sparse = ImageF(r.widefield.width(), r.widefield.height());
    w.failed_tile = "widefield-only";
  }
  try {
    w.job = reconstruct(r.sparse, wf, switch_id);
  } catch (const std::exception& e) {
    fail_reconstruction(w, e);
  }
  w.timings["anet_in_s"] = since(t0);
}

void run_reconstruction_networks(FovWork& w) {
  if (!w.job) return;
  const auto t0 = Clock::now();
  try {
    w.job->run_networks();
  } catch (const std::exception& e) {
    fail_reconstruction(w, e);
  }
  w.timings["infer_s"] = since(t0);  // the networks with their device copies: the serial stage
}

void end_reconstruction(FovWork& w) {
  if (!w.job) return;
  const auto t0 = Clock::now();
  FovResult& r = w.result;
  try {
    ReconstructionOut out = w.job->finish();
    w.job.reset();
    r.reconstruction = std::move(out.reconstruction);
    r.q = std::move(out.q);
    r.error_map = std::move(out.error_map);
    r.inference = std::move(out.inference);
    if (!r.error_map.empty())
      r.error_score = std::accumulate(r.error_map.begin(), r.error_map.end(), 0.0) / static_cast<double>(r.error_map.size());
    // NaN in an input (a float widefield TIFF) spreads through every output: a tile of NaN is not
    // a result.
    const auto not_finite = [](const ImageF& im) {
      return std::any_of(im.begin(), im.end(), [](float v) { return !std::isfinite(v); });
    };
    if (not_finite(r.reconstruction) || (!r.error_map.empty() && !std::isfinite(r.error_score)))
      throw std::runtime_error("the A-net's output is not finite (NaN or infinity in an input image?)");
  } catch (const std::exception& e) {
    fail_reconstruction(w, e);
  }
  w.timings["anet_out_s"] = since(t0);
}

std::string finish_fov(FovWork& w, const std::string& out_dir, int rank) {
  const auto t0 = Clock::now();
  const std::string rel = fov_result_name(w.entry.id);
  const std::string path = out_dir + "/" + rel;
  nlohmann::json rec = {{"id", w.entry.id}};
  // A failed FoV's tile (the widefield alone) has an error map, but its score is not comparable
  // with the others' (a widefield-only tile ranked second best of four); no registered widefield,
  // no shift nor confidence (0 read as a measured zero shift).
  if (w.failed) w.result.error_score = std::numeric_limits<double>::quiet_NaN();
  if (!w.widefield_registered)
    w.result.wf_shift_x_px = w.result.wf_shift_y_px = w.result.wf_confidence = std::numeric_limits<double>::quiet_NaN();
  try {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    write_fov_result(path, w.result);
    rec["file"] = rel;
    rec["checksum"] = file_checksum(path);
    rec["status"] = w.failed ? "failed" : "done";
    if (w.failed) rec["reason"] = w.reason;
  } catch (const std::exception& e) {
    rec["status"] = "failed";
    rec["reason"] = std::string("cannot write result: ") + e.what();
    if (dynamic_cast<const IoError*>(&e) || dynamic_cast<const std::filesystem::filesystem_error*>(&e))
      w.write_error = e.what();
  }
  w.timings["write_s"] = since(t0);
  const FovResult& r = w.result;
  rec["extra"] = {{"rank", rank},
                  {"row", r.row},
                  {"col", r.col},
                  {"localizations", r.localizations},
                  {"wf_shift_x_px", r.wf_shift_x_px},
                  {"wf_shift_y_px", r.wf_shift_y_px},
                  {"wf_confidence", r.wf_confidence},
                  {"wf_pixel_nm", r.wf_pixel_nm},
                  {"error_score", r.error_score},
                  {"status", r.status},
                  {"timings", w.timings}};
  // Without a registered widefield there is no shift nor confidence to report (0 would read as
  // "registration failed").
  if (r.error_map.empty() || w.failed) rec["extra"].erase("error_score");  // no (comparable) error map, no score (not a 0)
  rec["extra"]["widefield"] = w.widefield_registered;
  // "widefield": false says no registered widefield; what the mosaic shows in a failed FoV's place
  // is said apart (a widefield-only tile read as "no widefield" in qc.json).
  if (w.failed && rec.contains("file") && !w.failed_tile.empty()) rec["extra"]["tile"] = w.failed_tile;
  if (w.not_acquired) rec["extra"]["not_acquired"] = true, rec["extra"]["widefield_present"] = !w.entry.widefield_path.empty();
  if (rec.contains("checksum")) {  // written: its size, for `status` to see a file cut short without reading it
    std::error_code ec;
    if (const auto bytes = std::filesystem::file_size(path, ec); !ec) rec["extra"]["bytes"] = bytes;
  }
  if (!w.widefield_registered)
    for (const char* k : {"wf_shift_x_px", "wf_shift_y_px", "wf_confidence", "wf_pixel_nm"}) rec["extra"].erase(k);
  if (!w.warnings.empty()) rec["extra"]["warnings"] = w.warnings;
  // For the campaign's verdict (run).
  if (!w.cornered.empty()) rec["extra"]["cornered"] = w.cornered;
  if (!w.mostly_outside.empty()) rec["extra"]["mostly_outside"] = w.mostly_outside;
  if (std::isfinite(w.bounds_um[0]))
    rec["extra"]["bounds_um"] = {w.bounds_um[0], w.bounds_um[1], w.bounds_um[2], w.bounds_um[3]};
  if (!w.narrow.empty()) rec["extra"]["narrow"] = w.narrow;
  if (!w.widefield_turned.empty()) rec["extra"]["widefield_matches"] = w.widefield_turned;
  if (w.frame_base_guessed >= 0) rec["extra"]["frame_base_guessed"] = w.frame_base_guessed;
  if (w.table_frames[0] >= 0) rec["extra"]["table_frames"] = {w.table_frames[0], w.table_frames[1]};
  if (w.window_end >= 0) rec["extra"]["window_end"] = w.window_end;
  if (!w.result.inference.empty()) rec["extra"]["inference"] = w.result.inference;
  if (!w.inputs.empty()) rec["extra"]["inputs"] = w.inputs;
  return json_text(rec);
}

}  // namespace annamosaic
