#include <fmt/format.h>

#include <chrono>
#include <filesystem>

#include "cli/commands.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "imageio/png_preview.hpp"
#include "imageio/tiff_io.hpp"
#include "render/render.hpp"

namespace annamosaic::cli {
namespace {

Field parse_field(const std::string& spec) {
  Field f;
  double v[4];
  std::size_t start = 0;
  for (int i = 0; i < 4; ++i) {
    const std::size_t comma = spec.find(',', start);
    const std::string item = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    try {
      std::size_t used = 0;
      v[i] = std::stod(item, &used);
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw UsageError("--field-nm '" + spec + "': expected X0,Y0,WIDTH,HEIGHT in nm");
    }
    if ((comma == std::string::npos) != (i == 3))
      throw UsageError("--field-nm '" + spec + "': expected exactly 4 numbers X0,Y0,WIDTH,HEIGHT");
    start = comma + 1;
  }
  if (!(v[2] > 0 && v[3] > 0)) throw UsageError("--field-nm '" + spec + "': width and height must be > 0");
  f.x0_nm = v[0], f.y0_nm = v[1], f.width_nm = v[2], f.height_nm = v[3];
  return f;
}

int run_render(const Command& self, const po::variables_map& vm) {
  const std::string input = vm["input"].as<std::string>();
  const std::string output = vm["output"].as<std::string>();
  const double pixel_nm = vm["pixel-nm"].as<double>();
  if (!(pixel_nm > 0)) throw UsageError("--pixel-nm must be > 0");
  const std::string format = vm["format"].as<std::string>();
  if (format != "float32" && format != "uint16") throw UsageError("--format must be float32 or uint16, not '" + format + "'");
  const long frame_base = frame_base_option(vm);

  const bool preview = !vm["no-preview"].as<bool>();
  const std::string preview_path = vm.count("preview") ? vm["preview"].as<std::string>() : path_stem(output) + ".png";
  std::vector<std::string> outputs = {output, path_stem(output) + ".config.ini"};
  if (preview) outputs.push_back(preview_path);
  // The options' own form, before prepare_outputs makes the output's folder (probe102: --frames
  // foo left an empty one); the window against the table's frames comes later.
  try {
    parse_frame_window(vm["frames"].as<std::string>(), FrameRange{0, 1000000}, 0);
  } catch (const std::exception& e) {
    throw UsageError(e.what());
  }
  if (vm.count("field-nm")) parse_field(vm["field-nm"].as<std::string>());
  require_tiff_name(output);
  refuse_config_as_record(path_stem(output) + ".config.ini", vm);
  prepare_outputs({input}, outputs);

  const LocTable table = read_table_logged(input, vm);
  const TableStats stats = compute_stats(table);
  const FrameRange range = frame_range_logged(input, stats, frame_base);
  RenderOptions ro;
  ro.pixel_nm = pixel_nm;
  ro.window = parse_frame_window(vm["frames"].as<std::string>(), range, vm["seed"].as<std::uint64_t>());
  if (const std::string note = frame_window_note(vm["frames"].as<std::string>(), range, ro.window); !note.empty())
    spdlog::warn("{}: {}", input, note);
  if (!vm.count("field-nm"))
    if (const FarOutliers o = far_outliers(table); !o.rows.empty())
      throw InputError(input, far_outliers_message(table, o) +
                                  " Fix the table, or render a region with --field-nm X0,Y0,WIDTH,HEIGHT (nm)");
  const Field field = vm.count("field-nm") ? parse_field(vm["field-nm"].as<std::string>()) : bounding_field(stats, pixel_nm);
  const std::size_t W = field_width_px(field, pixel_nm), H = field_height_px(field, pixel_nm);
  if (W == 0 || H == 0) throw InputError(input, "nothing to render: the table has no localizations");
  // Past 4 gigapixels, or an edge past 2^20 px (21 mm at 20 nm: no field of view is that wide,
  // while a thin strip of 5e8 x 1 px passed the area test and then took gigabytes).
  if (W * H > (std::size_t{1} << 32) || W > (std::size_t{1} << 20) || H > (std::size_t{1} << 20)) {
    if (vm.count("field-nm"))
      throw UsageError("--field-nm gives an image of " + std::to_string(W) + " x " + std::to_string(H) +
                       " px, too large; use a smaller field or a larger --pixel-nm");
    // The table's own extent: most likely an outlier. Name the rows that set it.
    std::size_t x_lo = 0, x_hi = 0, y_lo = 0, y_hi = 0;
    for (std::size_t i = 0; i < table.size(); ++i) {
      if (table.x_nm[i] < table.x_nm[x_lo]) x_lo = i;
      if (table.x_nm[i] > table.x_nm[x_hi]) x_hi = i;
      if (table.y_nm[i] < table.y_nm[y_lo]) y_lo = i;
      if (table.y_nm[i] > table.y_nm[y_hi]) y_hi = i;
    }
    throw InputError(input, fmt::format("the localizations span {:.4g} x {:.4g} um (x from {:.6g} nm, data row {}, to {:.6g} nm, "
                                        "row {}; y from {:.6g} nm, row {}, to {:.6g} nm, row {}): {} x {} px at {} nm is too "
                                        "large to render. An outlier or a wrong unit? Fix the table, or render a region with "
                                        "--field-nm X0,Y0,WIDTH,HEIGHT",
                                        field.width_nm / 1e3, field.height_nm / 1e3, table.x_nm[x_lo], x_lo + 1,
                                        table.x_nm[x_hi], x_hi + 1, table.y_nm[y_lo], y_lo + 1, table.y_nm[y_hi], y_hi + 1, W,
                                        H, pixel_nm));
  }
  log_frame_window(range, ro.window);
  spdlog::info("field: x0 {:.1f} nm, y0 {:.1f} nm, {:.1f} x {:.1f} nm -> {} x {} px at {} nm", field.x0_nm,
               field.y0_nm, field.width_nm, field.height_nm, W, H, pixel_nm);

  RenderStats rs;
  const auto t0 = std::chrono::steady_clock::now();
  ImageU32 counts = render_counts(table, field, ro, &rs);
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("rendered {} localizations ({} outside the field, {} outside the frame window) in {:.3f} s ({:.1f} M/s)",
               rs.in_image, rs.outside_field, rs.outside_window, dt, table.size() / std::max(dt, 1e-9) / 1e6);
  if (rs.in_image == 0 && rs.outside_window > 0)
    spdlog::warn("no localization falls in the frame window --frames {} (the table's frames: {} to {}): the image is empty",
                 vm["frames"].as<std::string>(), stats.frame_min, stats.frame_max);
  if (rs.outside_field > 0 && vm.count("field-nm"))
    spdlog::warn("{} localizations fall outside --field-nm and are not in the image", rs.outside_field);

  TiffWriteOptions wo;
  wo.pixel_nm = pixel_nm;
  // Where the image lies in the table's coordinates, for overlays and reproduction (the log alone
  // would lose it): column i covers x0 + i px .. x0 + (i+1) px, rows are y, growing downwards.
  const std::string field_nm = fmt::format("{},{},{},{}", field.x0_nm, field.y0_nm, field.width_nm, field.height_nm);  // exact: reusable
  wo.description = "annamosaic render of " + input + "; " + field_description(field, pixel_nm);
  // Fiji then shows the table's coordinates (in um) under the cursor, not the image's.
  wo.origin_x_um = field.x0_nm / 1e3;
  wo.origin_y_um = field.y0_nm / 1e3;
  ImageF as_float(W, H);
  std::transform(counts.begin(), counts.end(), as_float.begin(), [](std::uint32_t v) { return static_cast<float>(v); });
  if (format == "uint16") {
    ImageU16 u16;
    const std::size_t sat = counts_to_u16(counts, u16);
    if (sat) spdlog::warn("{} pixels exceed 65535 counts and were saturated in the uint16 output", sat);
    wo.pixel = TiffPixel::UInt16;
    write_tiff(output, u16.view(), wo);
  } else {
    write_tiff(output, as_float.view(), wo);
  }
  spdlog::info("wrote {}", output);
  if (preview) {
    write_preview_png(preview_path, as_float.view(), PreviewOptions{});
    spdlog::info("wrote {}", preview_path);
  }
  // With the field the table's extent gave: --field-nm with it renders the same image.
  write_config_next_to(path_stem(output) + ".config.ini", self, vm,
                       vm.count("field-nm") ? std::string() : "# field rendered (from the table's extent): field-nm = " + field_nm + "\n");
  return 0;
}

}  // namespace

Command render_command() {
  Command c;
  c.name = "render";
  c.summary = "Render a localization table into a super-resolution image (2D histogram of counts).";
  c.usage = "annamosaic render TABLE [--pixel-nm 20] [--frames SPEC] -o OUT.tif";
  c.details =
      "Frame windows (--frames), relative to the acquisition's first frame:\n"
      "  all | A:B | first:K | random:L | sparse-paper (300-500 frames in the first half) |\n"
      "  dense-paper (95% of the frames)\n"
      "Writes OUT.tif (pixel size in the resolution tags), OUT.png (contrast-stretched preview)\n"
      "and OUT.config.ini (the effective configuration).\n"
      "Example: annamosaic render table.csv --pixel-nm 20 --frames 0:1000 -o sparse.tif";
  c.positional = {"input"};
  c.add_options = [](po::options_description& d) {
    d.add_options()
        ("input", po::value<std::string>()->required(), "localization table (.csv/.tsv or Picasso .hdf5)")
        ("output,o", po::value<std::string>()->required(), "output TIFF")
        ("pixel-nm", double_default(20.0), "super-resolution pixel size in nm")
        ("frames", po::value<std::string>()->default_value("all"), "frame window (see below)")
        ("seed", po::value<std::uint64_t>()->default_value(0), "seed for random frame windows")
        ("frame-base", po::value<long>()->default_value(-1), "number of the first camera frame, 0 or 1 (-1: 0 if the table has frame 0, else 1)")
        ("field-nm", po::value<std::string>(), "X0,Y0,WIDTH,HEIGHT of the rendered field in nm (default: bounding box)")
        ("format", po::value<std::string>()->default_value("float32"), "float32 or uint16 (saturating)")
        ("preview", po::value<std::string>(), "preview PNG path (default: OUT with .png)")
        ("no-preview", po::bool_switch(), "do not write a preview PNG");
    add_table_options(d);
  };
  c.run = [c](const po::variables_map& vm) { return run_render(c, vm); };
  return c;
}

}  // namespace annamosaic::cli
