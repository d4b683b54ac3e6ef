// `annamosaic reconstruct`: runs a trained A-net on one FoV (pipeline/anet/reconstructor.hpp).
#include <fmt/format.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <thread>

#include "anet/reconstructor.hpp"
#include "cli/commands.hpp"
#include "cli/model_file.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "imageio/png_preview.hpp"
#include "imageio/tiff_io.hpp"
#include "imgproc/filters.hpp"
#include "loc/frame_window.hpp"
#include "register/widefield_registration.hpp"
#include "register/widefield_signal.hpp"
#include "render/render.hpp"

namespace annamosaic::cli {
namespace {

ImageF read_widefield_mean(const std::string& path, const std::string& frames) {
  std::string note;
  ImageF mean = read_tiff_mean_or_all(path, parse_page_range(frames), note);
  if (!note.empty()) spdlog::warn("{} (--widefield-frames {})", note, frames);
  if (const std::string repaired = repair_nonfinite(mean, path); !repaired.empty()) spdlog::warn("{}", repaired);
  return mean;
}

int run_reconstruct(const Command& self, const po::variables_map& vm) {
  page_range_option(vm, "widefield-frames");
  frame_base_option(vm);
  if (vm["switch"].as<int>() < 0)
    throw UsageError("--switch must be a structure id >= 0 (microtubules 0, nuclear pores 1), not " +
                     std::to_string(vm["switch"].as<int>()));
  anet::ReconstructorOptions ro;
  ro.device = device_option(vm);
  ro.precision = vm["precision"].as<std::string>();
  ro.channels_last = vm["channels-last"].as<bool>();
  ro.threads = cpu_threads(vm);
  ro.mode = vm["mode"].as<std::string>();
  // --anet-memory-mb as in `run`; --memory-budget-mb is its earlier name here, still taken.
  if (vm.count("anet-memory-mb") && vm.count("memory-budget-mb"))
    throw UsageError("--memory-budget-mb is the old name of --anet-memory-mb: give one of them");
  ro.memory_budget_mb = vm.count("memory-budget-mb") ? vm["memory-budget-mb"].as<std::size_t>()
                        : vm.count("anet-memory-mb")  ? vm["anet-memory-mb"].as<std::size_t>()
                                                      : 0;
  if (ro.memory_budget_mb > (std::size_t{1} << 30)) throw UsageError("--anet-memory-mb must be >= 0");
  ro.tile_px = vm["tile-px"].as<std::size_t>();
  ro.overlap_px = vm["overlap-px"].as<std::size_t>();
  const std::string model = resolve_model(vm["model"].as<std::string>());
  spdlog::info("model {}{}", std::filesystem::absolute(model).lexically_normal().string(),
               vm["model"].defaulted() ? " (the default, as run's: --model names another)" : "");
  check_model_switch(model, vm["switch"].as<int>(), "--switch");
  const anet::Reconstructor net = [&] {
    try {
      return anet::Reconstructor(model, ro);
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
  }();
  if (const std::string note = anet::checkpoint_note(net.info()); !note.empty()) spdlog::warn("{}", note);
  const double px = net.info().pixel_nm;
  const double cam_nm = vm["camera-pixel-nm"].as<double>();
  if (!(cam_nm > 0)) throw UsageError("--camera-pixel-nm must be > 0");
  const int switch_id = vm["switch"].as<int>();
  const bool has_table = vm.count("table"), has_sparse_tif = vm.count("sparse"), has_wf = vm.count("widefield");
  if (has_table && has_sparse_tif) throw UsageError("give --table or --sparse, not both");
  if (!has_table && !has_sparse_tif && !has_wf) throw UsageError("nothing to reconstruct: give --table/--sparse and/or --widefield");

  const std::string out = vm["output"].as<std::string>();
  const std::string stem = path_stem(out);
  {
    std::vector<std::string> inputs = {model}, outputs = {out, stem + ".q.tif", stem + ".config.ini"};
    for (const char* k : {"table", "sparse", "widefield"})
      if (vm.count(k)) inputs.push_back(vm[k].as<std::string>());
    if (has_wf) outputs.insert(outputs.end(), {stem + ".error.tif", stem + ".widefield-q.tif", stem + ".widefield.tif"});
    if (has_table || has_sparse_tif) outputs.push_back(stem + ".sparse.tif");
    if (!vm["no-preview"].as<bool>()) {
      outputs.push_back(stem + ".png");
      if (has_wf) outputs.push_back(stem + ".error.png");
    }
    require_tiff_name(out);  // before prepare_outputs, which makes the output's folder
    if (has_table) try {  // as is --frames' form (the window against the table's frames comes later)
        parse_frame_window(vm["frames"].as<std::string>(), FrameRange{0, 1000000}, 0);
      } catch (const std::exception& e) {
        throw UsageError(e.what());
      }
    refuse_config_as_record(stem + ".config.ini", vm);
    prepare_outputs(inputs, outputs);
  }
  // Checked before the A-net runs (minutes on a large field), not after.
  const std::string format = vm["format"].as<std::string>();
  if (format != "float32" && format != "uint16") throw UsageError("--format must be float32 or uint16, not '" + format + "'");

  ImageF wf_raw;
  if (has_wf) note_camera_pixel(vm["widefield"].as<std::string>(), vm);
  if (has_wf) wf_raw = read_widefield_mean(vm["widefield"].as<std::string>(), vm["widefield-frames"].as<std::string>());
  // A widefield of background alone: the A-net would invent filaments from its noise.
  bool use_wf = has_wf;
  // Why a widefield given is not used, said when nothing else is left to reconstruct from.
  std::string wf_unused = " (with a --widefield of this field the A-net reconstructs from it alone)";
  std::string wf_no_structure;  // the warning that the widefield is not used (no structure, or a model without Q)
  if (has_wf) {
    const WidefieldSignal signal = widefield_signal(wf_raw.view(), cam_nm);
    if (!signal.has_structure()) {
      const std::string what = signal.no_structure_text();
      if (!has_table && !has_sparse_tif)
        throw InputError(vm["widefield"].as<std::string>(), what + ": a reconstruction from it alone would be invented; give the "
                                                                  "localizations (--table)");
      // Said once the table is known to lie in its field: a widefield that is not the table's is
      // refused below, and "reconstructing from the localizations alone" first would be false (probe78).
      wf_no_structure = fmt::format("{}: {}: reconstructing from the localizations alone (no error map)",
                                    vm["widefield"].as<std::string>(), what);
      use_wf = false;
      wf_unused = " (and the widefield shows no structure)";
    }
  }
  if (use_wf && !net.info().trained_with_widefield) {
    if (!has_table && !has_sparse_tif)
      throw InputError(model, "was trained without widefields (its Q never trained): it cannot reconstruct from a widefield "
                              "alone; give the localizations (--table), or a model trained with widefields");
    // Said with the other (below), once the table is known to lie in the widefield's field (probe81).
    wf_no_structure = fmt::format("{} was trained without widefields (its Q never trained): reconstructing from the "
                                  "localizations alone, with no error map", model);
    use_wf = false;
    wf_unused = " (and the model was trained without widefields)";
  }
  if (use_wf)  // the camera's field is the reconstruction's (a widefield left out decides nothing)
    anet::require_memory_for_field(std::ceil(wf_raw.width() * cam_nm / px), std::ceil(wf_raw.height() * cam_nm / px), px,
                                   vm["widefield"].as<std::string>());
  ImageF sparse;
  // Where the image lies in the table's coordinates: a table's field, or what a --sparse image
  // says of its own; written into every output's description and origin.
  std::optional<Field> placed;
  if (has_table) {
    const std::string path = vm["table"].as<std::string>();
    const LocTable table = read_table_logged(path, vm);
    if (table.size() == 0 && !use_wf)
      throw InputError(path, "the table has no localizations: nothing to reconstruct" + wf_unused);
    if (table.size() == 0) spdlog::warn("{}: the table has no localizations: reconstructing from the widefield alone", path);
    if (table.size() > 0) {
      const TableStats st = compute_stats(table);
      RenderOptions r;
      r.pixel_nm = px;
      const FrameRange range = frame_range_logged(path, st, frame_base_option(vm));
      r.window = parse_frame_window(vm["frames"].as<std::string>(), range, vm["seed"].as<std::uint64_t>());
      log_frame_window(range, r.window);
      if (const std::string note = frame_window_note(vm["frames"].as<std::string>(), range, r.window); !note.empty())
        spdlog::warn("{}: {}", path, note);
      // A dense acquisition given whole: the A-net learnt from sparse windows (300-500 frames in
      // its training) and its input is then far denser than any it saw (probe96: 5,000 frames
      // reconstructed without a word).
      if (const std::int64_t frames = std::min<std::int64_t>(r.window.end, range.base + range.count) -
                                      std::max<std::int64_t>(r.window.first, range.base);
          frames > 3000)
        spdlog::warn("{}: the sparse image takes {} frames (--frames {}); the A-net was trained on sparse images of a "
                     "few hundred frames (ANNA-PALM's: 300-500 of a long acquisition), so this input is denser than any it "
                     "saw: for a long acquisition give e.g. --frames first:500 (or render it: it is already dense)",
                     path, frames, vm["frames"].as<std::string>());
      // With a widefield, the table shares the camera field's origin (the campaign layout): a
      // widefield that is not the table's is refused, used or not.
      const Field camera_field = has_wf ? Field{0, 0, wf_raw.width() * cam_nm, wf_raw.height() * cam_nm} : Field{};
      if (has_wf)
        if (const std::string why = widefield_field_mismatch(table, camera_field, cam_nm, path); !why.empty())
          throw InputError(vm["widefield"].as<std::string>(), why);
      // The table lies in the widefield's field: why that widefield is not used can be said now,
      // before what follows from it.
      if (!wf_no_structure.empty()) spdlog::warn("{}", wf_no_structure);
      wf_no_structure.clear();
      // Without a widefield used, the image is fitted to the table (a widefield left out decides
      // nothing: probe95, a rejected 221 um widefield made an 11060 x 11060 px reconstruction of a
      // 5 um table); a far outlier would make it mostly empty: refused, or with a widefield given
      // (which placed the table before), left out of the field, and said.
      TableStats fitted = st;
      if (!use_wf)
        if (const FarOutliers o = far_outliers(table); !o.rows.empty()) {
          if (!has_wf)
            throw InputError(path, far_outliers_message(table, o) +
                                       " Fix the table, or give its --widefield (the field is then the camera's)");
          LocTable kept;
          for (std::size_t i = 0, k = 0; i < table.size(); ++i) {
            if (k < o.rows.size() && o.rows[k] == i) {
              ++k;
              continue;
            }
            kept.frame.push_back(table.frame[i]), kept.x_nm.push_back(table.x_nm[i]), kept.y_nm.push_back(table.y_nm[i]);
          }
          fitted = compute_stats(kept);
          spdlog::warn("{}: {} The image is fitted to the others and leaves them out", path, far_outliers_message(table, o));
        }
      const Field field = use_wf ? camera_field : bounding_field(fitted, px);
      if (!use_wf) anet::require_memory_for_field(double(field_width_px(field, px)), double(field_height_px(field, px)), px, path);
      // A table of a small region in a whole camera field: the rest is reconstructed from the
      // widefield alone, at the cost of the whole field (probe95: 1% of it, 30 times the time).
      if (use_wf && st.rows > 0) {
        const double table_um2 = (st.x_max_nm - st.x_min_nm) * (st.y_max_nm - st.y_min_nm) / 1e6;
        const double field_um2 = field.width_nm * field.height_nm / 1e6;
        if (table_um2 < 0.1 * field_um2)
          spdlog::warn("{}: its localizations cover {:.1f} x {:.1f} um, {:.0f}% of the widefield's {:.1f} x {:.1f} um camera "
                       "field, which is what is reconstructed (the rest from the widefield alone); crop the widefield to the "
                       "table's region to reconstruct that alone", path, (st.x_max_nm - st.x_min_nm) / 1e3,
                       (st.y_max_nm - st.y_min_nm) / 1e3, 100 * table_um2 / field_um2, field.width_nm / 1e3,
                       field.height_nm / 1e3);
      }
      RenderStats rs;
      sparse = render(table, field, r, &rs);
      placed = field;
      // A frame window with nothing in it (a typo, the other frame base): the A-net would make
      // an image of nothing, or of the widefield alone.
      if (rs.in_image == 0 && rs.outside_window > 0) {
        const std::string why = fmt::format("no localization falls in the frame window --frames {} (the table's frames: "
                                            "{} to {})", vm["frames"].as<std::string>(), st.frame_min, st.frame_max);
        if (!use_wf) throw InputError(path, why + ": nothing to reconstruct");
        spdlog::warn("{}: {}: reconstructing from the widefield alone", path, why);
        sparse = ImageF();  // as a table without rows: widefield only, nothing to register it to
      }
      if (use_wf && rs.outside_field > 0)  // counted by the render, of the frame window's localizations
        spdlog::warn("{}: {} of its {} localizations lie outside the widefield's camera field ({:.1f} x {:.1f} um) and are "
                     "not used", path, rs.outside_field, rs.in_image + rs.outside_field, field.width_nm / 1e3,
                     field.height_nm / 1e3);
      // Under 16 px a side is no field of view, as for --sparse (probe93: a table of one
      // localization made a 1 x 1 px "reconstruction").
      if (!sparse.empty() && std::min(sparse.width(), sparse.height()) < 16)
        throw InputError(path, fmt::format("its localizations span {} x {} px at {:g} nm ({:.2g} x {:.2g} um): too small to be "
                                           "a field of view (16 px a side at least); a table of one or a few localizations?",
                                           sparse.width(), sparse.height(), px, sparse.width() * px / 1000.0,
                                           sparse.height() * px / 1000.0));
      if (!sparse.empty())
        spdlog::info("sparse image: {} localizations, {} x {} px at {} nm", rs.in_image, sparse.width(), sparse.height(), px);
    }
  } else if (has_sparse_tif) {
    const std::string path = vm["sparse"].as<std::string>();
    // The network only makes sense at the pixel size it was trained at.
    const TiffInfo info = read_tiff_info(path);
    const double file_nm = info.pixel_nm;
    if (file_nm > 0 && std::abs(file_nm - px) > 0.01 * px)
      throw InputError(path, "the sparse image has " + fmt::format("{:g}", file_nm) + " nm pixels (resolution tags) but the model " +
                                 "was trained at " + fmt::format("{:g}", px) + " nm: render it at " + fmt::format("{:g}", px) +
                                 " nm (annamosaic render --pixel-nm " + fmt::format("{:g}", px) + ")");
    if (file_nm <= 0) spdlog::warn("{}: no pixel size in the file; taking it to be the model's {} nm", path, px);
    anet::require_memory_for_field(double(info.width), double(info.height), px, path);
    // A stack here is no sparse image annamosaic writes: say which page is read, as stitch does.
    if (info.pages > 1)
      spdlog::warn("{}: {} pages; the first alone is the sparse image (render writes one page per image)", path, info.pages);
    // Under 16 px a side (0.32 um at 20 nm) is no field of view (probe73: a 3 x 3 image gave a
    // 3 x 3 "reconstruction" and a 1 x 1 Q).
    if (std::min(info.width, info.height) < 16)
      throw InputError(path, fmt::format("{} x {} px: too small to be a sparse image of a field (at {:g} nm, {:.2g} x {:.2g} um; "
                                         "16 px a side at least)", info.width, info.height, px, info.width * px / 1000.0,
                                         info.height * px / 1000.0));
    sparse = read_tiff(path);
    placed = field_in_description(info.description);  // render's images say where they lie
    if (const std::string repaired = repair_nonfinite(sparse, path); !repaired.empty()) spdlog::warn("{}", repaired);
    // Counts of localizations per pixel: a negative value is no histogram (a background-subtracted
    // or filtered image?). Used as it is, said.
    if (const std::size_t negative = static_cast<std::size_t>(std::count_if(sparse.begin(), sparse.end(), [](float v) { return v < 0; })))
      spdlog::warn("{}: {} of its {} pixels are negative (down to {:g}): a sparse image holds counts of localizations "
                   "(annamosaic render writes them); used as it is, the A-net never saw such input",
                   path, negative, sparse.size(), *std::min_element(sparse.begin(), sparse.end()));
    if (std::all_of(sparse.begin(), sparse.end(), [](float v) { return v == 0; })) {
      if (!use_wf)
        throw InputError(path, "every pixel is 0: no localizations, nothing to reconstruct" + wf_unused);
      spdlog::warn("{}: every pixel is 0 (no localizations): reconstructing from the widefield alone", path);
      sparse = ImageF();  // as a table without rows
    }
  }

  if (!wf_no_structure.empty()) spdlog::warn("{}", wf_no_structure);
  ImageF L;
  if (use_wf) {
    WidefieldRegistration reg;
    std::size_t W, H;
    // A --sparse image that says where it starts in its table's coordinates (render's field-nm;
    // the camera field's origin is the table's): the widefield from that camera pixel on, the
    // rest of a pixel left to the registration. Taken from the corner, a sub-field's widefield
    // lay further off than registration searches (probe51).
    ImageView<const float> wf_view = wf_raw.view();
    if (has_sparse_tif && !sparse.empty() && placed && (placed->x0_nm != 0 || placed->y0_nm != 0)) {
      const double ox = std::floor(placed->x0_nm / cam_nm), oy = std::floor(placed->y0_nm / cam_nm);
      if (ox >= 0 && oy >= 0 && ox < double(wf_raw.width()) && oy < double(wf_raw.height())) {
        const auto x0 = static_cast<std::size_t>(ox), y0 = static_cast<std::size_t>(oy);
        wf_view = wf_raw.view().region(x0, y0, wf_raw.width() - x0, wf_raw.height() - y0);
        spdlog::info("{}: starts at ({:g}, {:g}) nm of its table's field (field-nm): the widefield is read from camera pixel "
                     "({}, {}) on", vm["sparse"].as<std::string>(), placed->x0_nm, placed->y0_nm, x0, y0);
      } else {
        spdlog::warn("{}: starts at ({:g}, {:g}) nm of its table's field (field-nm), outside the widefield's camera field "
                     "({:.1f} x {:.1f} um): the widefield is taken to start where the image does",
                     vm["sparse"].as<std::string>(), placed->x0_nm, placed->y0_nm, wf_raw.width() * cam_nm / 1e3,
                     wf_raw.height() * cam_nm / 1e3);
      }
    }
    if (!sparse.empty()) {
      reg = register_widefield(sparse.view(), wf_view, px, cam_nm);
      W = sparse.width();
      H = sparse.height();
      spdlog::info("widefield registered to the sparse image: shift ({:.2f}, {:.2f}) camera px, confidence {:.2f}", reg.shift_x_px,
                   reg.shift_y_px, reg.confidence);
      // A widefield that matches the localizations this poorly may be another field's, or lie
      // further off than searched. run does not give such a one to the A-net; here it was chosen
      // by hand, so it is used unshifted, with this warning.
      if (reg.confidence < kMinWidefieldConfidence)
        spdlog::warn("{}: matches the sparse image poorly (registration confidence {:.2f} < {}; run would leave it out): is "
                     "it this table's field? If not, give the right one or leave --widefield out",
                     vm["widefield"].as<std::string>(), reg.confidence, kMinWidefieldConfidence);
    } else {
      // Widefield only: nothing to register to; the SR grid covers the camera field.
      W = static_cast<std::size_t>(std::ceil(wf_raw.width() * cam_nm / px - 1e-9));
      H = static_cast<std::size_t>(std::ceil(wf_raw.height() * cam_nm / px - 1e-9));
    }
    L = widefield_on_sr_grid(wf_view, reg, W, H, px, cam_nm);
  }

  const anet::ReconstructionResult r = net.run(sparse.view(), use_wf ? &L : nullptr, switch_id);
  const double mpx = static_cast<double>(r.reconstruction.size()) / 1e6;
  spdlog::info("A-net ({}): {} x {} px, {} in {:.2f} s ({:.2f} Mpx/s)",
               sparse.empty() ? "widefield only" : (use_wf ? "sparse + widefield" : "sparse only"), r.reconstruction.width(),
               r.reconstruction.height(), r.tiled ? std::to_string(r.tiles) + " tiles" : std::string("whole FoV"), r.seconds,
               mpx / std::max(r.seconds, 1e-9));

  // One set of outputs: an earlier reconstruct's to this name go first (a kill -9 while writing
  // then leaves some of the new files, never a mix of old and new), with what killed writers left.
  // The configuration, written last, marks a complete set.
  {
    namespace fs = std::filesystem;
    const fs::path dir = fs::path(out).has_parent_path() ? fs::path(out).parent_path() : fs::path(".");
    std::size_t replaced = 0, files = 0;
    std::uintmax_t bytes = 0;
    for (const std::string& path : {stem + ".config.ini", out, stem + ".q.tif", stem + ".error.tif", stem + ".widefield-q.tif",
                                    stem + ".widefield.tif", stem + ".sparse.tif", stem + ".png", stem + ".error.png"}) {
      std::error_code ec;
      if (fs::is_regular_file(path, ec) && fs::remove(path, ec)) ++replaced;
      const auto [n, b] = remove_abandoned_temporaries(dir.string(), /*only_dead_writers=*/true, fs::path(path).filename().string());
      files += n, bytes += b;
    }
    if (replaced) spdlog::info("replaced the {} output file(s) of an earlier reconstruct to {}", replaced, out);
    if (files) spdlog::info("removed {} temporary file(s) ({:.1f} MB) that killed writers left in {}", files, bytes / 1e6, dir.string());
  }
  // Every image says where it lies, on its own grid (1/4 size for Q's): one opened alone in Fiji
  // shows the table's coordinates too.
  const auto options = [&](double pixel_nm) {
    TiffWriteOptions o;
    o.pixel_nm = pixel_nm;
    o.description = "annamosaic reconstruct, model " + model;
    if (placed) {
      o.description += "; " + field_description(*placed, pixel_nm);
      o.origin_x_um = placed->x0_nm / 1e3;
      o.origin_y_um = placed->y0_nm / 1e3;
    }
    return o;
  };
  TiffWriteOptions wo = options(px);
  if (format == "uint16") {
    wo.pixel = TiffPixel::UInt16;
    wo.description += "; uint16 = round(A * 65535), A in [0, 1]";
    write_tiff(out, anet::reconstruction_to_u16(r.reconstruction.view()).view(), wo);
  } else {
    write_tiff(out, r.reconstruction.view(), wo);
  }
  const TiffWriteOptions fo = options(px * 4);  // Q grid
  // Q(A) only from a Q that trained (with widefields): an untrained Q's image is noise that reads as
  // a result (probe93: mean 0.52 over 0..1).
  const bool q_trained = net.info().trained_with_widefield;
  if (q_trained) write_tiff(stem + ".q.tif", r.q_of_a.view(), fo);
  if (use_wf) {
    write_tiff(stem + ".error.tif", r.error_map.view(), fo);
    write_tiff(stem + ".widefield-q.tif", r.widefield_q.view(), fo);
    write_tiff(stem + ".widefield.tif", L.view(), options(px));
  }
  if (!sparse.empty()) write_tiff(stem + ".sparse.tif", sparse.view(), options(px));
  if (!vm["no-preview"].as<bool>()) {
    write_preview_png(stem + ".png", r.reconstruction.view(), PreviewOptions{});
    if (use_wf) write_preview_png(stem + ".error.png", r.error_map.view(), PreviewOptions{});
  }
  // Every file written, named (probe93: .widefield-q.tif and the previews were left out).
  std::vector<std::string> also;
  if (q_trained) also.push_back(".q.tif");
  if (use_wf) also.insert(also.end(), {".error.tif", ".widefield-q.tif", ".widefield.tif"});
  if (!sparse.empty()) also.push_back(".sparse.tif");
  if (!vm["no-preview"].as<bool>()) also.push_back(".png");
  if (!vm["no-preview"].as<bool>() && use_wf) also.push_back(".error.png");
  spdlog::info("wrote {}{}{}", out, also.empty() ? "" : fmt::format(" (+ {})", fmt::join(also, ", ")),
               q_trained ? "" : "; no .q.tif: the model's Q never trained (no widefields in its training)");
  write_config_next_to(stem + ".config.ini", self, vm,
                       placed ? fmt::format("# field reconstructed: field-nm = {},{},{},{}\n", placed->x0_nm, placed->y0_nm,
                                            placed->width_nm, placed->height_nm)
                              : std::string());
  return 0;
}

}  // namespace

Command reconstruct_command() {
  Command c;
  c.name = "reconstruct";
  c.summary = "Run a trained A-net on one FoV: sparse and/or widefield in, reconstruction, Q(A) and error map out.";
  c.usage = "annamosaic reconstruct --model M.h5 (--table T.csv [--frames SPEC] | --sparse S.tif) [--widefield W.tif] -o OUT.tif";
  c.details =
      "Modes (the paper's three): sparse only (L = 0), widefield only (S = 0), or both. The widefield is registered\n"
      "to the sparse image (phase correlation) and resampled onto its grid; with a table and a widefield, the table\n"
      "shares the camera field's origin. The FoV runs whole (padded to a multiple of 256) when its estimated memory\n"
      "fits --anet-memory-mb, else in tiles (--tile-px, --overlap-px >= 64, cosine blending).\n"
      "Writes OUT.tif (A in [0,1] as float32, or uint16 = round(A * 65535)), OUT.q.tif (Q(A), 1/4 size;\n"
      "only from a model trained with widefields, whose Q trained),\n"
      "OUT.error.tif (error map, with widefield), the inputs echoed (OUT.sparse.tif, OUT.widefield.tif on the SR\n"
      "grid, OUT.widefield-q.tif), OUT.png and OUT.config.ini.";
  c.add_options = [](po::options_description& d) {
    d.add_options()
        ("model,m", po::value<std::string>()->default_value(kDefaultModel), "A-net model file (HDF5; a bare name is also looked for in $ANNAMOSAIC_MODELS and the models folder; the default is run's, the shipped microtubule model)")
        ("output,o", po::value<std::string>()->required(), "reconstruction TIFF")
        ("table", po::value<std::string>(), "localization table to render as the sparse input")
        ("frames", po::value<std::string>()->default_value("all"), "frame window of the table: all, first:N, ... as render's --frames (the first camera frame is 0 if the table has frame 0, else 1; --frame-base)")
        ("frame-base", po::value<long>()->default_value(-1), "number of the first camera frame, 0 or 1 (-1: 0 if the table has frame 0, else 1)")
        ("seed", po::value<std::uint64_t>()->default_value(0), "seed for random frame windows")
        ("sparse", po::value<std::string>(), "sparse image TIFF (already rendered at the model's pixel size)")
        ("widefield", po::value<std::string>(), "widefield TIFF (stack or single image)")
        ("widefield-frames", po::value<std::string>()->default_value("3-5"), "widefield pages averaged")
        ("switch", po::value<int>()->default_value(0), "structure id (microtubules 0, nuclear pores 1)")
        ("device", po::value<std::string>()->default_value("auto"), "auto (a GPU when one is visible, else the CPU), cpu, cuda or cuda:N")
        ("precision", po::value<std::string>()->default_value("fp32"), "fp32; on CUDA also tf32, bf16 or fp16")
        ("channels-last", po::bool_switch(), "CUDA: NHWC tensors (measured slower than NCHW for the A-net)")
        ("mode", po::value<std::string>()->default_value("auto"), "auto, whole or tiled")
        ("anet-memory-mb", po::value<std::size_t>(), "A-net pass memory: whole FoV if it fits, else strips/tiles (default 0: 4096 CPU, 16384 CUDA)")
        ("memory-budget-mb", po::value<std::size_t>(), "old name of --anet-memory-mb")
        ("tile-px", po::value<std::size_t>()->default_value(512), "tile size (multiple of 256)")
        ("overlap-px", po::value<std::size_t>()->default_value(128), "tile overlap (>= 64)")
        ("format", po::value<std::string>()->default_value("float32"), "float32 or uint16")
        ("no-preview", po::bool_switch(), "do not write PNG previews");
    add_table_options(d, 108.0);
  };
  c.run = [c](const po::variables_map& vm) { return run_reconstruct(c, vm); };
  return c;
}

}  // namespace annamosaic::cli
