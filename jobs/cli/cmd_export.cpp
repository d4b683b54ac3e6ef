// `annamosaic export`: a pyramidal IMS mosaic to a pyramidal OME-TIFF (--ome-tiff), or a region
// of one level and channel to TIFF/PNG for quick looks (-o).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "batch/signals.hpp"
#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/process.hpp"
#include "core/progress.hpp"
#include "imageio/png_preview.hpp"
#include "imageio/tiff_io.hpp"
#include "pyramid/ims_reader.hpp"
#include "pyramid/ome_tiff.hpp"

namespace annamosaic::cli {
namespace {

// OUT.config.ini with only the last extension taken off: "mosaic.ome.tif" -> "mosaic.ome.config.ini",
// so that an export beside a stitched mosaic.ims leaves stitch's mosaic.config.ini alone; a PNG
// keeps its extension ("crop.png.config.ini"), so that the same region as crop.tif and crop.png
// keeps both records.
// A crop exported as mosaic.tif beside stitch's mosaic.ims, where mosaic.config.ini is another
// command's record (stitch's), keeps its extension too: mosaic.tif.config.ini (probe74: stitch's
// was replaced).
std::string export_config_path(const std::string& out) {
  const std::filesystem::path p(out);
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".png") return out + ".config.ini";
  const std::string short_name = (p.parent_path() / p.stem()).string() + ".config.ini";
  if (std::error_code ec; !std::filesystem::exists(short_name, ec)) return short_name;
  try {
    if (ini_section(short_name, "export")) return short_name;  // an earlier export's: replaced
  } catch (const std::exception&) {  // unreadable: not replaced either
  }
  return out + ".config.ini";
}
}  // namespace

namespace {

struct Region {
  std::size_t x = 0, y = 0, w = 0, h = 0;
};

Region parse_region(const std::string& spec) {
  Region r;
  std::size_t v[4];
  std::size_t start = 0;
  for (int i = 0; i < 4; ++i) {
    const std::size_t comma = spec.find(',', start);
    if ((comma == std::string::npos) != (i == 3))
      throw UsageError("--region '" + spec + "': expected X,Y,WIDTH,HEIGHT (level-0 pixels)");
    const std::string item = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    try {
      std::size_t used = 0;
      const long long n = std::stoll(item, &used);
      if (used != item.size() || n < 0) throw std::invalid_argument(item);
      v[i] = static_cast<std::size_t>(n);
    } catch (const std::exception&) {
      throw UsageError("--region '" + spec + "': '" + item + "' is not a non-negative integer");
    }
    start = comma + 1;
  }
  if (v[2] == 0 || v[3] == 0) throw UsageError("--region '" + spec + "': width and height must be > 0");
  r.x = v[0], r.y = v[1], r.w = v[2], r.h = v[3];
  return r;
}

std::size_t pick_channel(const ImsInfo& in, const std::string& spec) {
  for (std::size_t c = 0; c < in.channels.size(); ++c)
    if (in.channels[c].name == spec) return c;
  try {
    std::size_t used = 0;
    const unsigned long c = std::stoul(spec, &used);
    if (used == spec.size() && c < in.channels.size()) return c;
  } catch (const std::exception&) {
  }
  std::string names;
  for (std::size_t c = 0; c < in.channels.size(); ++c) names += (c ? ", " : "") + std::to_string(c) + " \"" + in.channels[c].name + "\"";
  throw UsageError("--channel '" + spec + "': no such channel (" + names + ")");
}

bool ends_with(const std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size()) return false;
  std::string tail = s.substr(s.size() - suffix.size());
  for (auto& ch : tail) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return tail == suffix;
}

void make_parent(const std::string& path) {
  const auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir);
}

int run_export(const Command& self, const po::variables_map& vm) {
  const std::string input = vm["input"].as<std::string>();
  const bool to_ome = vm.count("ome-tiff") > 0, to_region = vm.count("output") > 0;
  if (to_ome == to_region) throw UsageError("give exactly one of --ome-tiff OUT.ome.tif or -o OUT.tif|OUT.png");
  // By value, not by whether given: the OUT.config.ini an export writes holds level 0 and channel 0.
  if (!to_region && (vm.count("region") || vm["level"].as<std::size_t>() != 0 || vm["channel"].as<std::string>() != "0"))
    throw UsageError("--region, --level and --channel go with -o (the OME-TIFF holds every level and channel)");
  const int deflate = vm["deflate"].as<int>();
  if (deflate < 1 || deflate > 9) throw UsageError("--deflate must be 1..9");
  if (to_region) {
    const std::string out = vm["output"].as<std::string>();
    if (!ends_with(out, ".png") && !ends_with(out, ".tif") && !ends_with(out, ".tiff"))
      throw UsageError("-o '" + out + "': the region goes to .tif/.tiff (uint16) or .png (preview)");
    // A region is a plain (ImageJ) TIFF: an .ome.tif name would promise OME metadata and a pyramid.
    if (ends_with(out, ".ome.tif") || ends_with(out, ".ome.tiff"))
      throw UsageError("-o '" + out + "': a region is a plain TIFF without OME metadata; name it .tif (--ome-tiff writes the OME-TIFF)");
  } else {
    const std::string out = vm["ome-tiff"].as<std::string>();
    if (!ends_with(out, ".ome.tif") && !ends_with(out, ".ome.tiff"))
      throw UsageError("--ome-tiff '" + out + "': name it .ome.tif or .ome.tiff (readers such as Bio-Formats look for it)");
  }

  ImsReader reader(input);
  reader.open();
  const ImsInfo& in = reader.info();
  {
    const std::string out = to_ome ? vm["ome-tiff"].as<std::string>() : vm["output"].as<std::string>();
    refuse_config_as_record(export_config_path(out), vm);
    prepare_outputs({input}, {out, export_config_path(out)});
  }

  if (to_ome) {
    const std::string out = vm["ome-tiff"].as<std::string>();
    make_parent(out);
    OmeTiffOptions opt;
    opt.deflate_level = deflate;
    try {
      opt.encoder = parse_deflate_encoder(vm["encoder"].as<std::string>());
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--encoder: ") + e.what());
    }
    // A long export stops cleanly on SIGTERM/SIGUSR1/Ctrl-C (exit 75, no temporary left), and
    // clears the temporaries of this output name that killed exports (kill -9) left.
    install_stop_handlers(/*also_interrupt=*/true,
                          "\nCtrl-C: stopping between steps; nothing new is written under the output's name. Ctrl-C again "
                          "quits at once (a temporary file may be left; the next export removes it)\n");
    opt.stop_requested = [] { return stop_requested(); };
    const std::filesystem::path dir = std::filesystem::path(out).has_parent_path() ? std::filesystem::path(out).parent_path() : std::filesystem::path(".");
    if (const auto [files, bytes] = remove_abandoned_temporaries(dir.string(), /*only_dead_writers=*/true,
                                                                 std::filesystem::path(out).filename().string());
        files)
      spdlog::info("removed {} temporary file(s) ({:.1f} MB) that killed writers left in {}", files, bytes / 1e6, dir.string());
    std::unique_ptr<Progress> progress;  // lines on a long export; "wrote ..." is the last
    opt.tiles_written = [&](std::size_t n, std::size_t total) {
      if (!progress) progress = std::make_unique<Progress>("export", total, "tiles");
      progress->advance(n);
    };
    const OmeTiffStats st = export_ome_tiff(reader, out, opt);
    progress.reset();
    spdlog::info("wrote {}: {} levels x {} channels, {} tiles, {:.1f} MB ({:.1f} MB raw) in {:.1f} s ({:.0f} MB/s raw)", out,
                 st.levels, in.channels.size(), st.tiles, st.file_bytes / 1e6, st.raw_bytes / 1e6, st.seconds,
                 st.raw_bytes / 1e6 / std::max(st.seconds, 1e-9));
    write_config_next_to(export_config_path(out), self, vm);
    return 0;
  }

  const std::string out = vm["output"].as<std::string>();
  const bool png = ends_with(out, ".png");
  if (!png && !ends_with(out, ".tif") && !ends_with(out, ".tiff"))
    throw UsageError("-o '" + out + "': the region goes to .tif/.tiff (uint16) or .png (preview)");
  const std::size_t level = vm["level"].as<std::size_t>();
  if (level >= in.levels.size())
    throw UsageError("--level " + (level > (std::size_t{1} << 20) ? std::string("must be >= 0") : std::to_string(level)) +
                     ": the file has levels 0.." + std::to_string(in.levels.size() - 1));
  const std::size_t channel = pick_channel(in, vm["channel"].as<std::string>());
  const auto& L0 = in.levels[0];
  const auto& L = in.levels[level];
  Region r{0, 0, L0.width, L0.height};
  if (vm.count("region")) r = parse_region(vm["region"].as<std::string>());
  if (r.x >= L0.width || r.y >= L0.height)
    throw UsageError("--region starts outside the mosaic (" + std::to_string(L0.width) + " x " +
                     std::to_string(L0.height) + " px at level 0)");
  if (vm.count("region") && (r.x + r.w > L0.width || r.y + r.h > L0.height))
    spdlog::warn("--region {},{},{},{} reaches beyond the mosaic ({} x {} px at level 0): exported clipped to {} x {} px "
                 "at level 0", r.x, r.y, r.w, r.h, L0.width, L0.height, std::min(r.w, L0.width - r.x),
                 std::min(r.h, L0.height - r.y));
  // Level-0 pixels -> level-L pixels: every level-L pixel touching the region, clipped.
  const auto [fx, fy] = level_factors(in, level);
  const std::size_t x0 = static_cast<std::size_t>(std::floor(double(r.x) / fx));
  const std::size_t y0 = static_cast<std::size_t>(std::floor(double(r.y) / fy));
  const std::size_t x1 = std::min(L.width, static_cast<std::size_t>(std::ceil(double(r.x + r.w) / fx)));
  const std::size_t y1 = std::min(L.height, static_cast<std::size_t>(std::ceil(double(r.y + r.h) / fy)));
  if (x1 <= x0 || y1 <= y0) throw UsageError("--region is empty at level " + std::to_string(level));
  const std::size_t w = x1 - x0, h = y1 - y0;
  if (double(w) * double(h) > double(std::size_t{1} << 32))
    throw UsageError("region of " + std::to_string(w) + " x " + std::to_string(h) +
                     " px is too large for one image; use a higher --level or a smaller --region (or --ome-tiff)");
  // What the export will hold in memory: the uint16 region, and for a PNG its float copy and the
  // preview's work (measured by a probe: ~3 and ~7 bytes per pixel). Refused beyond what this
  // node (or the job's cgroup) has free, rather than killed by the kernel partway.
  const double need_bytes = double(w) * double(h) * (png ? 7.0 : 3.0);
  if (const double free_bytes = available_memory_bytes(); free_bytes >= 0 && need_bytes > free_bytes)
    throw UsageError(fmt::format("a region of {} x {} px at level {} needs about {:.1f} GB to export as {}, and {:.1f} GB of "
                                 "memory is available here: use a higher --level or a smaller --region (or --ome-tiff, "
                                 "which streams)",
                                 w, h, level, need_bytes / 1e9, png ? "PNG" : "TIFF", free_bytes / 1e9));
  spdlog::info("level {} ({} x {}), channel {} \"{}\": pixels x [{}, {}), y [{}, {})", level, L.width, L.height, channel,
               in.channels[channel].name, x0, x1, y0, y1);
  const ImageU16 img = reader.read(level, channel, x0, y0, w, h);
  make_parent(out);
  if (png) {
    ImageF f(w, h);
    std::transform(img.begin(), img.end(), f.begin(), [](std::uint16_t v) { return static_cast<float>(v); });
    const PreviewOptions po;
    write_preview_png(out, f.view(), po);
    // A preview, not the data: said with its real size (a probe took a 4096 px region's PNG for
    // 4096 px, as the log said, while it held 2048).
    if (const std::size_t k = preview_block_factor(w, h, po.max_size_px); k > 1) {
      spdlog::info("wrote {}: a preview of the {} x {} px region, each {} x {} block shown by its maximum ({} x {} px, "
                   "colour map black-red-yellow-white); -o OUT.tif keeps every pixel and its value",
                   out, w, h, k, k, (w + k - 1) / k, (h + k - 1) / k);
      write_config_next_to(export_config_path(out), self, vm);
      return 0;
    }
  } else {
    TiffWriteOptions wo;
    wo.pixel = TiffPixel::UInt16;
    wo.pixel_nm = in.pixel_um_x > 0 ? in.pixel_um_x * 1000.0 * fx : 0;
    wo.description = "annamosaic export of " + input + ", level " + std::to_string(level) + ", channel " +
                     std::to_string(channel) + " (" + in.channels[channel].name + "), level pixels x " +
                     std::to_string(x0) + ".." + std::to_string(x1) + ", y " + std::to_string(y0) + ".." +
                     std::to_string(y1) + "; values: stored / " + fmt::format("{:g}", in.channels[channel].scale);
    // The crop's first pixel in stage um: the mosaic's origin plus the crop's offset.
    wo.origin_x_um = in.origin_um_x + static_cast<double>(x0) * wo.pixel_nm / 1000.0;
    wo.origin_y_um = in.origin_um_y + static_cast<double>(y0) * (in.pixel_um_y > 0 ? in.pixel_um_y * fy : wo.pixel_nm / 1000.0);
    write_tiff(out, img.view(), wo);
  }
  spdlog::info("wrote {} ({} x {} px)", out, w, h);
  write_config_next_to(export_config_path(out), self, vm);
  return 0;
}

}  // namespace

Command export_command() {
  Command c;
  c.name = "export";
  c.summary = "Export a mosaic (.ims) to a pyramidal OME-TIFF, or a region of one level to TIFF/PNG.";
  c.usage = "annamosaic export MOSAIC.ims --ome-tiff OUT.ome.tif | -o OUT.tif|OUT.png [--region X,Y,W,H] [--level L]";
  c.details =
      "--ome-tiff: BigTIFF, one IFD per channel with the reduced levels as SubIFDs, 512 x 512 tiles,\n"
      "  deflate + horizontal predictor, OME-XML with the pixel size (QuPath, OMERO, Fiji, napari).\n"
      "-o: one channel (--channel, index or name) of one level (--level, 0 = full resolution);\n"
      "  --region is in level-0 pixels (default: everything) and is mapped onto the level;\n"
      "  .tif keeps the uint16 values and the pixel size, .png is a contrast-stretched preview.\n"
      "Examples: annamosaic export mosaic.ims --ome-tiff mosaic.ome.tif\n"
      "          annamosaic export mosaic.ims --level 4 -o overview.png\n"
      "          annamosaic export mosaic.ims --region 10000,8000,2048,2048 --channel \"error map\" -o crop.tif";
  c.positional = {"input"};
  c.add_options = [](po::options_description& d) {
    d.add_options()
        ("input", po::value<std::string>()->required(), "mosaic .ims file")
        ("ome-tiff", po::value<std::string>(), "write a pyramidal OME-TIFF here")
        ("output,o", po::value<std::string>(), "write one region/level/channel here (.tif or .png)")
        ("region", po::value<std::string>(), "X,Y,WIDTH,HEIGHT in level-0 pixels (with -o)")
        ("level", po::value<std::size_t>()->default_value(0), "pyramid level (with -o)")
        ("channel", po::value<std::string>()->default_value("0"), "channel index or name (with -o)")
        ("deflate", po::value<int>()->default_value(2), "OME-TIFF deflate level 1..9 (higher: smaller, slower)")
        ("encoder", po::value<std::string>()->default_value("libdeflate"),
         "OME-TIFF deflate encoder: libdeflate (fastest), zlib-rle (zlib's Z_RLE strategy) or zlib (zlib's "
         "default strategy, as libtiff writes); standard deflate with any");
  };
  c.run = [c](const po::variables_map& vm) { return run_export(c, vm); };
  return c;
}

}  // namespace annamosaic::cli
