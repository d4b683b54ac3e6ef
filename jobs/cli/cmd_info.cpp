// Shared table options, and `annamosaic table-info`.
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include <fmt/ranges.h>

#include "cli/commands.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/input_file.hpp"
#include "imageio/tiff_io.hpp"
#include "loc/frame_window.hpp"

namespace annamosaic::cli {

void add_table_options(po::options_description& d, double camera_pixel_default_nm) {
  d.add_options()
      ("columns", po::value<std::string>(), "column mapping ROLE=NAME,... (roles: frame,x,y,z,intensity,uncertainty)")
      ("xy-unit", po::value<std::string>()->default_value("nm"), "unit of coordinate columns whose name has none: nm, um or px")
      ("camera-pixel-nm", double_default(camera_pixel_default_nm),
       camera_pixel_default_nm > 0 ? "camera pixel at the sample: the widefield's pixel, and the unit of px table "
                                     "coordinates (for those, give it explicitly)"
                                   : "camera pixel size (for coordinates in px, Picasso files)")
      ("delimiter", po::value<std::string>()->default_value("auto"), "auto, comma, tab or semicolon")
      ("skip-bad-rows", po::bool_switch(), "count and report malformed rows instead of stopping");
}

TableReadOptions table_read_options(const std::string& xy_unit, const std::string& columns, const std::string& delimiter) {
  TableReadOptions o;
  if (!columns.empty()) o.csv.columns = parse_column_mapping(columns);
  o.csv.xy_unit_given = !xy_unit.empty();
  const auto unit = xy_unit.empty() ? XyUnit::Nanometre : parse_xy_unit(xy_unit);
  if (!unit) throw UsageError("--xy-unit must be nm, um or px, not '" + xy_unit + "'");
  o.csv.xy_unit = *unit;
  const auto d = parse_delimiter(delimiter);
  if (!d) throw UsageError("--delimiter must be auto, comma, tab or semicolon, not '" + delimiter + "'");
  o.csv.delimiter = *d;
  return o;
}

TableReadOptions table_options(const po::variables_map& vm) {
  TableReadOptions o = table_read_options(vm["xy-unit"].defaulted() ? "" : vm["xy-unit"].as<std::string>(),
                                          vm.count("columns") ? vm["columns"].as<std::string>() : "",
                                          vm["delimiter"].as<std::string>());
  // Only an explicit value is a table's px unit (see add_table_options).
  o.csv.camera_pixel_nm = vm["camera-pixel-nm"].defaulted() ? 0.0 : vm["camera-pixel-nm"].as<double>();
  if (o.csv.camera_pixel_nm < 0 || !std::isfinite(o.csv.camera_pixel_nm)) throw UsageError("--camera-pixel-nm must be >= 0");
  o.csv.skip_bad_rows = vm["skip-bad-rows"].as<bool>();
  return o;
}

void note_camera_pixel(const std::string& widefield_path, const po::variables_map& vm) {
  const double cam_nm = vm["camera-pixel-nm"].as<double>();
  const bool chosen = !vm["camera-pixel-nm"].defaulted();
  double tag_nm = 0;
  try {
    tag_nm = read_tiff_info(widefield_path).pixel_nm;
  } catch (const std::exception&) {  // the read that follows says what is wrong with the file
    return;
  }
  if (tag_nm > 0 && std::abs(tag_nm - cam_nm) > 0.01 * cam_nm)
    spdlog::warn("{}: its resolution tags say {:g} nm per pixel, --camera-pixel-nm is {:g}{}: using {:g} nm (give "
                 "--camera-pixel-nm {:g} if the tags are right)",
                 widefield_path, tag_nm, cam_nm, chosen ? "" : " (the default)", cam_nm, tag_nm);
  else if (!chosen && !(tag_nm > 0))
    spdlog::info("{}: its pixel taken to be {:g} nm at the sample (--camera-pixel-nm's default; the file does not say)",
                 widefield_path, cam_nm);
}

LocTable read_table_logged(const std::string& path, const po::variables_map& vm, ReadReport* report) {
  const TableReadOptions opt = table_options(vm);
  ReadReport rep;
  const auto t0 = std::chrono::steady_clock::now();
  LocTable t = read_table(path, opt, &rep);
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  struct stat st {};
  const double mb = ::stat(path.c_str(), &st) == 0 ? st.st_size / 1e6 : 0.0;
  // The unit assumed is said with the columns (probe106: only table-info said it; render told
  // nothing unless the span looked wrong).
  spdlog::info("read {}: {} rows in {:.3f} s ({:.0f} MB/s); columns {}{}", path, t.size(), dt, mb / std::max(dt, 1e-9),
               rep.columns, rep.xy_unit_assumed ? "; x and y read as nm (no unit in the header: --xy-unit says another)" : "");
  for (const auto& w : rep.warnings) spdlog::warn("{}", w);
  if (const std::string skipped = skipped_rows_message(path, rep); !skipped.empty()) spdlog::warn("{}", skipped);
  if (const std::string unit = assumed_unit_warning(path, rep, t); !unit.empty()) spdlog::warn("{}", unit);
  if (report) *report = std::move(rep);
  return t;
}

std::string device_option(const po::variables_map& vm) {
  const std::string d = vm["device"].as<std::string>();
  const bool cuda_n = d.size() > 5 && d.rfind("cuda:", 0) == 0 &&
                      std::all_of(d.begin() + 5, d.end(), [](unsigned char c) { return std::isdigit(c); });
  if (d != "cpu" && d != "auto" && d != "cuda" && !cuda_n)
    throw UsageError("--device must be cpu, auto (a GPU when one is visible), cuda or cuda:N, not '" + d + "'");
  // Said, so that a timing or a slow run is not put down to the wrong device.
  if (d == "auto") {
    const int gpus = cuda_device_count();
    spdlog::info("--device auto: {}", gpus > 0 ? fmt::format("the A-net runs on cuda:0 ({} GPU(s) visible)", gpus)
                                               : std::string("the A-net runs on the CPU (no CUDA device visible to this "
                                                             "LibTorch)"));
  }
  return d;
}

int cpu_threads(const po::variables_map& vm) {
  if (const std::size_t t = vm["threads"].as<std::size_t>(); t > 0) return static_cast<int>(t);
  if (const char* s = std::getenv("SLURM_CPUS_PER_TASK"); s && std::atoi(s) > 0) return std::atoi(s);
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

void require_tiff_name(const std::string& out) {
  std::string ext = std::filesystem::path(out).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext != ".tif" && ext != ".tiff")
    throw UsageError("-o " + out + ": the image is written as a TIFF, so name it .tif (its side files take the same stem)");
}

std::string path_stem(const std::string& path) {
  const auto slash = path.find_last_of('/');
  const auto dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return path;
  std::string stem = path.substr(0, dot);
  // "x.ome.tif" -> "x"
  if (stem.size() > 4 && stem.compare(stem.size() - 4, 4, ".ome") == 0) stem.resize(stem.size() - 4);
  return stem;
}

bool same_path(const std::string& a, const std::string& b) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
  const auto norm = [](std::string p) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    return fs::absolute(p).lexically_normal();
  };
  return norm(a) == norm(b);
}

std::string shell_quoted(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./-+:=@%,") ==
                        std::string::npos)
    return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

void prepare_outputs(const std::vector<std::string>& inputs, const std::vector<std::string>& outputs,
                     bool inputs_may_be_missing) {
  namespace fs = std::filesystem;
  if (!inputs_may_be_missing)
    for (const std::string& in : inputs) {
      std::error_code ec;
      if (!in.empty() && !fs::exists(in, ec)) {
        require_regular_file(in, "input");  // a link to nothing: where it points
        throw IoError(in, "cannot open: " + (ec ? ec.message() : std::string("No such file or directory")));
      }
    }
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    for (const std::string& in : inputs)
      if (same_path(outputs[i], in))
        throw UsageError("output " + outputs[i] + " would overwrite the input " + in + ": choose another output name");
    for (std::size_t j = 0; j < i; ++j)
      if (same_path(outputs[i], outputs[j]))
        throw UsageError("two outputs would be written to " + outputs[i] +
                         " (e.g. a .png output name is the preview's): choose a .tif output name, or leave the preview out (--no-preview)");
  }
  for (const std::string& out : outputs) {
    if (fs::is_directory(out))
      throw IoError(out, "is a folder, and the output file is to be written under this name: choose another name");
    const fs::path parent = fs::path(out).parent_path();
    const fs::path dir = parent.empty() ? fs::path(".") : parent;
    std::error_code ec;
    if (!parent.empty()) fs::create_directories(dir, ec);
    if (ec) throw IoError(dir.string(), "cannot create the output folder: " + ec.message());
    // A read-only mount or folder is said now, not after the work (a stitch registers for minutes).
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
      throw IoError(dir.string(), std::string("cannot write in the output folder (") + std::strerror(errno) +
                                      "): nothing was written");
  }
}

PageRange page_range_option(const po::variables_map& vm, const std::string& key) {
  const std::string spec = vm[key].as<std::string>();
  try {
    return parse_page_range(spec);
  } catch (const InputError& e) {
    throw UsageError("--" + key + " " + spec + ": " + e.message());
  }
}

long frame_base_option(const po::variables_map& vm) {
  const long base = vm["frame-base"].as<long>();
  if (base < -1 || base > 1)
    throw UsageError("--frame-base must be 0 or 1 (the number the localization software gives the first camera frame; "
                     "-1: guessed), not " + std::to_string(base));
  return base;
}

FrameRange frame_range_logged(const std::string& path, const TableStats& stats, long base) {
  if (base == 1 && stats.rows > 0 && stats.frame_min == 0)
    spdlog::warn("{}: the table has frame 0, but --frame-base is 1: frame 0's localizations are before the first frame, "
                 "outside every window but `all`", path);
  return frame_range_of(stats, base);
}

void log_frame_window(const FrameRange& range, const FrameWindow& window) {
  // The window as used: a window past the table's last frame ends there.
  const std::int64_t table_end = static_cast<std::int64_t>(range.base) + static_cast<std::int64_t>(range.count);
  if (window.first >= table_end && range.count > 0) {  // probe78: was "window [31, 31) (asked up to 41 ...)"
    spdlog::info("frames: base {}, {} frames in the table; the window starts at frame {}, after the table's last "
                 "frame ({}): no frame of the table is in it",
                 range.base, range.count, window.first, table_end - 1);
    return;
  }
  const std::int64_t used_end = std::max<std::int64_t>(window.first, std::min<std::int64_t>(window.end, table_end));
  spdlog::info("frames: base {}, {} frames in the table; window [{}, {}){}", range.base, range.count, window.first, used_end,
               window.end > table_end && window.end != INT64_MAX
                   ? fmt::format(" (asked up to {}: the table's last frame is {})", window.end, table_end - 1)
                   : std::string());
}

void write_config_next_to(const std::string& path, const Command& cmd, const po::variables_map& vm, const std::string& note) {
  write_file_atomic(path, effective_config(cmd, vm) + note);
  spdlog::debug("wrote {}", path);
}

void refuse_config_as_record(const std::string& record, const po::variables_map& vm) {
  if (!vm.count("config") || !same_path(record, vm["config"].as<std::string>())) return;
  std::ifstream in(record);
  std::string first;
  std::getline(in, first);
  // An earlier record of this kind (a rerun from it) is replaced as any earlier output is.
  if (!in || first.rfind(kEffectiveConfigHeader, 0) == 0) return;
  throw UsageError("--config " + vm["config"].as<std::string>() + " is where this command writes its record of the settings (" +
                   record + "): it would be replaced. Give -o another name, or keep the file under another name");
}

void refuse_campaign_file(const std::string& campaign_dir) {
  namespace fs = std::filesystem;
  if (std::error_code ec; !fs::is_regular_file(campaign_dir, ec)) return;
  const fs::path parent = fs::path(campaign_dir).parent_path();
  throw UsageError("--campaign " + campaign_dir + " is a file: give the campaign's folder (the one holding campaign.ini and "
                   "positions.csv)" +
                   (fs::path(campaign_dir).filename() == "campaign.ini"
                        ? ": --campaign " + (parent.empty() ? std::string(".") : parent.string())
                        : std::string()));
}

namespace {
int run_table_info(const po::variables_map& vm) {
  const std::string input = vm["input"].as<std::string>();
  ReadReport rep;
  const LocTable t = read_table_logged(input, vm, &rep);
  const TableStats s = compute_stats(t);
  const FrameRange r = frame_range_of(s);
  // What render would refuse (it sizes the image by the table), said here as a warning.
  if (const FarOutliers o = far_outliers(t); !o.rows.empty()) spdlog::warn("{}: {}", input, far_outliers_message(t, o));
  const std::string assumed = rep.xy_unit_assumed ? "   (no unit in the header: read as nm; --xy-unit)" : "";
  std::cout << "file          " << input << "\n"
            << "rows          " << s.rows << "\n";
  if (s.rows) {
    // The span is what a frame window counts in; frames without a localization are normal (sparse blinking).
    // One bit per frame of the span (a copy of the column would double a large table's memory).
    std::size_t with_locs = 0;
    {
      std::vector<bool> seen(static_cast<std::size_t>(static_cast<std::int64_t>(s.frame_max) - s.frame_min + 1));
      for (const std::int32_t f : t.frame) {
        const auto k = static_cast<std::size_t>(static_cast<std::int64_t>(f) - s.frame_min);
        with_locs += !seen[k];
        seen[k] = true;
      }
    }
    std::vector<std::string> optional;
    if (t.has_z()) optional.push_back("z");
    if (t.has_intensity()) optional.push_back("intensity");
    if (t.has_uncertainty()) optional.push_back("uncertainty");
    std::cout << "frames        " << s.frame_min << " .. " << s.frame_max << " (base " << r.base << ": a span of " << r.count
              << " frames, " << with_locs << " of them with localizations)\n"
              << "x [nm]        " << s.x_min_nm << " .. " << s.x_max_nm << assumed << "\n"
              << "y [nm]        " << s.y_min_nm << " .. " << s.y_max_nm << assumed << "\n"
              << "optional      "
              << (optional.empty() ? std::string("none (z, intensity, uncertainty)") : fmt::format("{}", fmt::join(optional, " ")))
              << "\n";
  }
  return 0;
}
}  // namespace

Command table_info_command() {
  Command c;
  c.name = "table-info";
  c.summary = "Read a localization table strictly and print its size and ranges.";
  c.usage = "annamosaic table-info TABLE [options]";
  c.positional = {"input"};
  c.add_options = [](po::options_description& d) {
    d.add_options()("input", po::value<std::string>()->required(), "localization table");
    add_table_options(d);
  };
  c.run = run_table_info;
  return c;
}

}  // namespace annamosaic::cli
