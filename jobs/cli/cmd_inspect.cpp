// `annamosaic inspect mosaic.ims`: levels, sizes, channels, pixel size, value ranges and the QC
// attributes of a pyramidal IMS file (any Imaris writer's; read as viewers read it).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "pyramid/ims_reader.hpp"

namespace annamosaic::cli {
namespace {

std::string um(double v) { return fmt::format("{:.6g}", v); }
// A stage position to the digits the file holds: 6 significant digits lost a pixel at 12 mm (probe94).
std::string stage_um(double v) { return fmt::format("{:.12g}", v); }

int run_inspect(const po::variables_map& vm) {
  const std::string input = vm["input"].as<std::string>();
  ImsReader reader(input);
  reader.open();
  const ImsInfo& in = reader.info();
  const ImsLevelInfo& l0 = in.levels[0];
  std::ostream& o = std::cout;
  o << input << ": Imaris file, " << in.channels.size() << " channel(s), " << in.levels.size() << " level(s), "
    << in.data_type << ", chunks " << l0.chunk_width << " x " << l0.chunk_height << " (x, y), filters: " << in.filters
    << "\n";
  if (in.pixel_um_x > 0)
    o << "pixel size: " << um(in.pixel_um_x) << " x " << um(in.pixel_um_y) << " " << (in.unit.empty() ? "um" : in.unit)
      << " (from ExtMin/ExtMax); level 0 covers " << um(in.pixel_um_x * double(l0.width)) << " x "
      << um(in.pixel_um_y * double(l0.height)) << " " << (in.unit.empty() ? "um" : in.unit) << " from ("
      << stage_um(in.origin_um_x) << ", " << stage_um(in.origin_um_y) << ") " << (in.unit.empty() ? "um" : in.unit)
      << " (ExtMin: the corner of pixel (0, 0) in stage coordinates)\n";
  else
    o << "pixel size: unknown (no ExtMin/ExtMax in /DataSetInfo/Image)\n";
  if (!in.name.empty()) o << "name: " << in.name << "\n";
  if (!in.description.empty()) o << "description: " << in.description << "\n";
  if (!in.recording_date.empty()) o << "recording date: " << in.recording_date << "\n";

  o << "levels:\n" << fmt::format("  {:>5}  {:>17}  {:>17}  {:>10}\n", "level", "size (x, y)", "stored (padded)", "pixel um");
  for (std::size_t r = 0; r < in.levels.size(); ++r) {
    const auto& L = in.levels[r];
    o << fmt::format("  {:>5}  {:>17}  {:>17}  {:>10}\n", r, fmt::format("{} x {}", L.width, L.height),
                     fmt::format("{} x {}", L.stored_width, L.stored_height),
                     // The whole factor between levels (4855 -> 2427 px is a 2 x 2 mean: 0.04 um, not 0.0400082)
                     in.pixel_um_x > 0 ? um(in.pixel_um_x * level_factors(in, r).first) : "?");
  }
  o << "channels:\n";
  for (std::size_t c = 0; c < in.channels.size(); ++c) {
    const auto& ch = in.channels[c];
    o << "  " << c << " \"" << ch.name << "\"";
    if (!ch.color.empty()) o << "  colour " << ch.color;
    if (!ch.color_range.empty()) o << "  display " << ch.color_range;
    o << "  scale " << ch.scale << "\n";
    if (!ch.description.empty() && ch.description != ch.name) o << "      " << ch.description << "\n";
    for (std::size_t r = 0; r < ch.hist_min.size(); ++r) {
      const bool has = ch.hist_min[r] != 0 || ch.hist_max[r] != 0 || !reader.histogram(r, c).empty();
      o << "      level " << r << ": values ";
      if (!has) {
        o << "n/a\n";
        continue;
      }
      o << ch.hist_min[r] << ".." << ch.hist_max[r];
      if (ch.scale != 1.0)
        o << fmt::format(" (value {:.6g}..{:.6g} = stored / scale)", ch.hist_min[r] / ch.scale, ch.hist_max[r] / ch.scale);
      o << "\n";
    }
  }
  for (const auto& [group, attrs] : in.info_groups) {
    if (attrs.empty()) continue;
    o << "/DataSetInfo/" << group << ":\n";
    for (const auto& [k, v] : attrs) o << "  " << k << ": " << v << "\n";
  }
  return 0;
}

}  // namespace

Command inspect_command() {
  Command c;
  c.name = "inspect";
  c.summary = "Describe a pyramidal mosaic (.ims): levels, channels, pixel size, value ranges, QC attributes.";
  c.usage = "annamosaic inspect MOSAIC.ims";
  c.details =
      "Reads the file as viewers do: true sizes from ImageSizeX/Y (padding cropped), pixel size\n"
      "from /DataSetInfo/Image ExtMin/ExtMax, value ranges from each level's HistogramMin/Max\n"
      "(divided by the channel's QuantisationScale for quantised channels such as the error map),\n"
      "and every other /DataSetInfo group (the writer's rules and QC attributes).";
  c.positional = {"input"};
  c.add_options = [](po::options_description& d) {
    d.add_options()("input", po::value<std::string>()->required(), "mosaic .ims file");
  };
  c.run = [](const po::variables_map& vm) { return run_inspect(vm); };
  return c;
}

}  // namespace annamosaic::cli
