// `annamosaic stitch`: pairwise registration + global layout + block fusion of per-FoV images.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <functional>
#include <numeric>
#include <map>
#include <memory>
#include <sstream>

#include <fmt/ranges.h>

#include "batch/signals.hpp"
#include "cli/commands.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/ini_text.hpp"
#include "core/json_text.hpp"
#include "core/log.hpp"
#include "core/numeric.hpp"
#include "core/progress.hpp"
#include "core/text_list.hpp"
#include "imageio/png_preview.hpp"
#include "pyramid/ims_writer.hpp"
#include "tiles/bigtiff_sink.hpp"
#include "tiles/fusion.hpp"
#include "tiles/grid_fit.hpp"
#include "tiles/step_check.hpp"
#include "tiles/preview_sink.hpp"
#include "tiles/stitch.hpp"

namespace annamosaic::cli {
namespace {
namespace fs = std::filesystem;

// [campaign] keys of DIR/campaign.ini (written by `annamosaic simulate`); empty if absent.
std::map<std::string, std::string> read_campaign_ini(const std::string& dir) {
  std::map<std::string, std::string> kv;
  std::ifstream in(dir + "/campaign.ini");
  if (!in) return kv;
  const std::string text(std::istreambuf_iterator<char>(in), {});
  for (const IniEntry& e : parse_ini_text(text, dir + "/campaign.ini"))
    if (e.section == "campaign") kv[e.key] = e.value;
  return kv;
}

double parse_number(const std::string& s, const std::string& what) {
  try {
    std::size_t used = 0;
    const double v = std::stod(s, &used);
    if (used != s.size() || !std::isfinite(v)) throw std::invalid_argument(s);
    return v;
  } catch (const std::exception&) {
    throw UsageError(what + ": '" + s + "' is not a number");
  }
}

// NAME[:SCALE[:gauss|log|none[:SIGMA[:refine|coarse]]]]
RegistrationSignal parse_register_spec(const std::string& spec, const TileSource& src) {
  std::vector<std::string> f;
  std::stringstream ss(spec);
  for (std::string item; std::getline(ss, item, ':');) f.push_back(item);
  if (f.empty() || f.size() > 5 || f[0].empty())
    throw UsageError("--register '" + spec + "': expected CHANNEL[:SCALE[:gauss|log|none[:SIGMA[:refine|coarse]]]]");
  RegistrationSignal s;
  s.channel = channel_index(src, f[0], "--register");
  s.scale = default_registration_scale(thinner_axis_overlap_um(src) * 1000.0 / src.pixel_nm());
  if (f.size() > 1) {
    const double scale = parse_number(f[1], "--register " + spec);
    if (scale < 1 || scale != std::floor(scale) || scale > 64) throw UsageError("--register '" + spec + "': scale must be 1..64");
    s.scale = static_cast<std::size_t>(scale);
  }
  if (f.size() > 2) {
    if (f[2] == "gauss") s.prefilter = Prefilter::Gaussian;
    else if (f[2] == "log") s.prefilter = Prefilter::LaplacianOfGaussian;
    else if (f[2] == "none") s.prefilter = Prefilter::None;
    else throw UsageError("--register '" + spec + "': pre-filter must be gauss, log or none");
  }
  if (f.size() > 3) {
    s.prefilter_sigma_px = parse_number(f[3], "--register " + spec);
    if (!(s.prefilter_sigma_px > 0)) throw UsageError("--register '" + spec + "': sigma must be > 0");
  }
  if (f.size() > 4) {
    if (f[4] != "refine" && f[4] != "coarse") throw UsageError("--register '" + spec + "': last field must be refine or coarse");
    s.refine_full_resolution = f[4] == "refine";
  }
  return s;
}

// Quantisation scale for a channel. Tiles of uint8 or uint16 (camera counts): 1, their values
// kept exactly and never clamped. Others (float, int): 60000 / the maximum over up to 16 evenly
// spaced tiles (so the brightest structures keep headroom below 65535), 1 if they are all <= 0.
double auto_scale(const TiffTileSource& src, std::size_t channel) {
  if (const TiffInfo first = read_tiff_info(src.path(0, channel)); first.sample_format == 1 && first.bits_per_sample <= 16)
    return 1.0;
  const std::size_t n = std::min<std::size_t>(16, src.size());
  float hi = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const ImageF img = src.load(k * src.size() / n, channel);
    for (float v : img)
      if (std::isfinite(v)) hi = std::max(hi, v);
  }
  return hi > 0 ? 60000.0 / hi : 1.0;
}

// Interior points where four tiles meet (the middle of the overlap corner), for seam-check crops:
// up to `n` of them spread over the grid (a regular subsample of the corners).
std::vector<std::pair<std::size_t, std::size_t>> tile_corners(const TileSource& src, const MosaicPlan& plan, std::size_t n) {
  std::map<std::pair<int, int>, std::size_t> cell;
  for (std::size_t i = 0; i < src.size(); ++i) cell[{src.info(i).row, src.info(i).col}] = i;
  std::vector<std::pair<std::size_t, std::size_t>> all;
  for (const auto& [rc, i] : cell) {
    auto r = cell.find({rc.first, rc.second + 1}), d = cell.find({rc.first + 1, rc.second}),
         rd = cell.find({rc.first + 1, rc.second + 1});
    if (r == cell.end() || d == cell.end() || rd == cell.end()) continue;
    const TilePlacement& a = plan.tiles[i];
    const TilePlacement& c = plan.tiles[rd->second];
    const double x = (static_cast<double>(a.x0 + static_cast<long>(a.width)) + static_cast<double>(c.x0)) / 2;
    const double y = (static_cast<double>(a.y0 + static_cast<long>(a.height)) + static_cast<double>(c.y0)) / 2;
    all.push_back({static_cast<std::size_t>(std::max(0.0, x)), static_cast<std::size_t>(std::max(0.0, y))});
  }
  if (all.size() <= n) return all;
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (std::size_t k = 0; k < n; ++k) out.push_back(all[k * all.size() / n]);
  return out;
}

// Variance of an image: the crop with the most structure is the informative seam check.
double variance(const ImageF& img) {
  double s = 0, ss = 0;
  for (float v : img) s += v, ss += static_cast<double>(v) * v;
  const double n = std::max<double>(1, static_cast<double>(img.size()));
  return ss / n - (s / n) * (s / n);
}

int run_stitch(const Command& self, const po::variables_map& vm) {
  // Started by mpirun -n N, every process would do the whole stitch into the same files.
  if (const char* n = std::getenv("OMPI_COMM_WORLD_SIZE"); n && std::atoi(n) > 1)
    throw UsageError("stitch runs as one process (its threads: --threads); under mpirun -n " + std::string(n) +
                     " every rank would make the same mosaic into the same files. The stitch stage of `run` "
                     "(--stage stitch) is the one spread over ranks");
  // SIGTERM, SIGUSR1, SIGHUP or Ctrl-C: registration and fusion stop between rows of tiles or
  // columns of blocks, exit 75, nothing under the output's name (as run's stitch stage).
  install_stop_handlers(/*also_interrupt=*/true,
                        "\nCtrl-C: stopping between steps; nothing new is written under the output's name. Ctrl-C again "
                        "quits at once (a temporary file may be left; the next stitch removes it)\n");
  const std::string dir = vm["input"].as<std::string>();
  if (!fs::is_directory(dir))
    throw IoError(dir, std::string(fs::exists(dir) ? "not a folder" : "no such folder") + " (give the campaign or tile folder)");
  if (vm["layout-only"].as<bool>() && vm.count("from-layout"))
    throw UsageError("--layout-only registers and writes a layout, --from-layout fuses with a layout given: one or the other");
  const std::string output = vm["output"].as<std::string>();
  // .ims: the pyramidal mosaic viewers open (as `run` writes it; `export` and `inspect` read it);
  // .tif: a flat tiled BigTIFF.
  std::string ext = fs::path(output).extension().string();
  for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (ext != ".tif" && ext != ".tiff" && ext != ".ims")
    throw UsageError("-o '" + output + "': name the mosaic .ims (pyramidal HDF5, Imaris layout + BigDataViewer XML) or .tif "
                     "(flat BigTIFF)");
  const bool ims = ext == ".ims";
  refuse_config_as_record(path_stem(output) + ".config.ini", vm);
  const auto campaign = read_campaign_ini(dir);
  // Checked before any tile is read (a typo found after opening thousands would waste that).
  bool place_off_grid = false;
  if (std::string error; vm.count("off-grid")) {
    const std::optional<bool> place = off_grid_place(vm["off-grid"].as<std::string>(), &error);
    if (!place) throw UsageError("--" + error);
    place_off_grid = *place;
  } else if (const auto it = campaign.find("off-grid"); it != campaign.end()) {
    const std::optional<bool> place = off_grid_place(it->second, &error);
    if (!place) throw InputError(dir + "/campaign.ini", error);
    place_off_grid = *place;
  }

  std::vector<TileChannelSpec> channels;
  if (vm.count("tiles")) channels.push_back({"tiles", vm["tiles"].as<std::string>(), ""});
  if (vm.count("channel"))
    for (const auto& spec : vm["channel"].as<std::vector<std::string>>()) channels.push_back(parse_channel_spec(spec));
  if (channels.empty()) throw UsageError("no tiles: give --tiles PATTERN and/or --channel NAME=PATTERN");
  const auto option_of = [](const TileChannelSpec& c) { return c.name == "tiles" ? "--tiles " : "--channel " + c.name + "="; };
  // A pattern that cannot be expanded ({idx}, a brace left open) is the option's fault, exit 1 as
  // init-campaign's (probe102: it was 2, as bad data).
  for (const TileChannelSpec& c : channels) try {
      TileInfo any;
      any.file = "tile.tif";  // {file} needs the positions' names, which come later
      expand_tile_pattern(c.pattern, any);
    } catch (const InputError& e) {
      throw UsageError(option_of(c) + c.pattern + ": " + e.message());
    }
  const std::string positions = vm.count("positions") ? vm["positions"].as<std::string>() : dir + "/positions.csv";
  // --positions is a path like -o (from the working folder), unlike the tile patterns (inside DIR):
  // say so when a name that exists in DIR was meant.
  if (vm.count("positions") && !std::filesystem::exists(positions)) {
    const std::string in_dir = dir + "/" + positions;
    throw IoError(positions, std::filesystem::path(positions).is_relative() && std::filesystem::exists(in_dir)
                                    ? "not found from the working folder (--positions is a path, not a name inside DIR); "
                                      "did you mean --positions " + in_dir + " ?"
                                    : "not found (--positions is a path from the working folder)");
  }
  const double pixel_nm = vm["pixel-nm"].as<double>();
  if (pixel_nm < 0) throw UsageError("--pixel-nm must be > 0 (or 0: from the TIFF resolution tags)");
  const auto source = TiffTileSource::open(dir, positions, channels, pixel_nm, vm["skip-missing"].as<bool>());
  const TileSource& src = *source;
  for (const TileChannelSpec& c : channels)
    if (src.size() > 1 && c.pattern.find('{') == std::string::npos)
      throw UsageError(option_of(c) + c.pattern + " names the same file for " +
                       "every one of the " + std::to_string(src.size()) + " tiles: use the fields {id}, {row} or {col} " +
                       "(e.g. fov/{id}/widefield.tif, tile_{row+1:02d}_{col+1:02d}.tif)");
  if (source->positions_in_px())
    spdlog::info("{}: positions in tile pixels (x_px, y_px), at {:g} nm a pixel", positions, src.pixel_nm());
  // Positions in another unit than um (nm: a mosaic of 1.3 million px a side was being fused;
  // camera pixels of 65-200 nm: 5-15 tiles apart, a mostly empty one): grid neighbours a median
  // more than three tiles apart, or far less than one. Rows or cols that run against y or x are
  // placed as given, and said.
  {
    std::map<std::pair<int, int>, std::size_t> at;
    for (std::size_t i = 0; i < src.size(); ++i) at[{src.info(i).row, src.info(i).col}] = i;
    std::vector<double> dist, step_x, step_y;  // step_x: along a row (col + 1); step_y: down a column (row + 1)
    for (const auto& [cell, i] : at)
      for (const std::pair<int, int>& next : {std::pair{cell.first, cell.second + 1}, std::pair{cell.first + 1, cell.second}})
        if (const auto it = at.find(next); it != at.end()) {
          const double dx = src.info(it->second).x_um - src.info(i).x_um, dy = src.info(it->second).y_um - src.info(i).y_um;
          dist.push_back(std::hypot(dx, dy));
          (next.first == cell.first ? step_x : step_y).push_back(next.first == cell.first ? dx : dy);
        }
    std::size_t tile_px = 0;  // the largest tile's side (a cropped first tile must not shrink it)
    for (std::size_t i = 0; i < src.size(); ++i) tile_px = std::max({tile_px, src.info(i).width_px, src.info(i).height_px});
    const double tile_um = static_cast<double>(tile_px) * src.pixel_nm() / 1000.0;
    if (!dist.empty()) {
      const double m = median(dist);
      if (m > 3 * tile_um || m < 0.1 * tile_um)
        throw InputError(positions, fmt::format("grid neighbours are a median {:.4g} um apart, but a tile is {:.4g} um wide "
                                                "({} px at {:g} nm){}: x_um, y_um in another unit (nm? pixels?), or the "
                                                "wrong pixel size (--pixel-nm, the resolution tags)",
                                                m, tile_um, tile_px, src.pixel_nm(),
                                                m > 3 * tile_um ? ": no two could overlap, and the mosaic would be mostly empty" : ""));
    }
    const std::vector<TileInfo> infos = tile_infos(src);
    // (Cells numbered from the positions themselves fit them by construction, up to closed-up gaps.)
    std::string placed;
    if (!source->cells_from_positions())
      if (const std::string refusal = misfit_refusal(infos, grid_misfits(infos), place_off_grid, "give --off-grid place", &placed);
          !refusal.empty())
        throw InputError(positions, refusal);
    if (!placed.empty()) spdlog::warn("{}: {}", positions, placed);
    for (const auto& [steps, axis, along] : {std::tuple{&step_x, "x_um", "col"}, std::tuple{&step_y, "y_um", "row"}})
      if (!steps->empty() && median(*steps) < 0)
        spdlog::warn("{}: {} decreases as {} increases (median step {:.4g} um); the tiles are placed where the positions "
                     "say. If {} 0 is the {} one, the stage's {} axis points against the image's: negate {}",
                     positions, axis, along, median(*steps), along, axis[0] == 'x' ? "left" : "top",
                     axis[0] == 'x' ? "x" : "y", axis);
  }
  double overlap_um = vm["overlap-um"].as<double>();
  // -1, the default, is "not given" (as a written config.ini records it), not an overlap.
  if (overlap_um < 0 && overlap_um != -1.0)
    throw UsageError("--overlap-um must be >= 0 (or -1: from campaign.ini, else the stage positions)");
  const bool overlap_given = overlap_um >= 0;
  if (const double f = vm["feather-um"].as<double>(); f < 0 && f != -1.0)
    throw UsageError("--feather-um must be >= 0 (or -1: the overlap)");
  if (overlap_given && vm["feather-um"].as<double>() < 0) {
    const double tile_um = static_cast<double>(std::min(src.info(0).width_px, src.info(0).height_px)) * src.pixel_nm() / 1000.0;
    if (overlap_um >= tile_um)
      throw UsageError(fmt::format("--overlap-um {:g} is not less than a tile ({:.4g} um)", overlap_um, tile_um));
  }
  // The overlap the positions give: none leaves nothing to register (said whatever sets the
  // blending); one unlike campaign.ini's is said too (it sets the blending ramp).
  const double positions_overlap_um = nominal_overlap_um(src);
  const bool no_overlap = !grid_neighbours(src).empty() && !(positions_overlap_um > 0);
  if (no_overlap)
    spdlog::warn("the stage positions leave no overlap between neighbouring tiles (tiles of {:.4g} um at {:g} nm): only "
                 "overlaps the stage's error made can register, and the mosaic has gaps where tiles do not meet; is the "
                 "pixel size right (--pixel-nm, the resolution tags)?",
                 static_cast<double>(src.info(0).width_px) * src.pixel_nm() / 1000.0, src.pixel_nm());
  if (overlap_um < 0) {
    if (auto it = campaign.find("overlap-um"); it != campaign.end()) {
      overlap_um = parse_number(it->second, dir + "/campaign.ini: overlap-um");
      if (!no_overlap && overlaps_disagree(positions_overlap_um, overlap_um))
        spdlog::warn("{}/campaign.ini's overlap-um is {:g}, but the stage positions overlap neighbouring tiles by {:.3g} um: "
                     "registration looks where the positions say, blending ramps over {:g} um (--overlap-um sets it)",
                     dir, overlap_um, positions_overlap_um, overlap_um);
    } else if (vm["feather-um"].as<double>() < 0) {
      // Tiles without a campaign (--from-layout on exported tiles, say): the positions say it.
      overlap_um = positions_overlap_um;
      spdlog::info("overlap {:.3g} um from the stage positions (no campaign.ini here; --overlap-um sets it)", overlap_um);
    }
  }
  // Registration options are checked before any folder is made (a refusal left an empty one).
  const double search_um = non_negative_option(vm, "search-um");
  const double accept_quantile = fraction_option(vm, "accept-quantile");
  const double min_ncc_margin = non_negative_option(vm, "min-ncc-margin");
  if (min_ncc_margin >= 1)
    throw UsageError(fmt::format("--min-ncc-margin must be >= 0 and below 1 (a difference of NCCs), not {:g}", min_ncc_margin));
  const double max_residual_px = non_negative_option(vm, "max-residual-px");
  const double residual_ratio = positive_option(vm, "residual-ratio");
  std::vector<RegistrationSignal> register_signals;
  if (vm.count("register"))
    for (const auto& spec : vm["register"].as<std::vector<std::string>>()) register_signals.push_back(parse_register_spec(spec, src));
  // Fusion options are checked before the registration, which can take long.
  const std::size_t block_px = vm["block-px"].as<std::size_t>();
  if (block_px == 0 || block_px % 16) throw UsageError("--block-px must be a positive multiple of 16");
  if (ims && block_px % 1024) throw UsageError("--block-px must be a multiple of 1024 for an .ims mosaic (its chunks are 1024 x 512)");
  std::map<std::string, double> scales;
  if (vm.count("scale"))
    for (const auto& spec : vm["scale"].as<std::vector<std::string>>()) {
      const auto eq = spec.find('=');
      if (eq == std::string::npos) throw UsageError("--scale '" + spec + "': expected NAME=FACTOR");
      channel_index(src, spec.substr(0, eq), "--scale");
      const double v = parse_number(spec.substr(eq + 1), "--scale " + spec);
      if (!(v > 0)) throw UsageError("--scale '" + spec + "': factor must be > 0");
      scales[spec.substr(0, eq)] = v;
    }
  const BlendMode blend = parse_blend_mode(vm["blend"].as<std::string>());
  std::size_t other_size = 0;
  for (std::size_t i = 1; i < src.size(); ++i)
    other_size += src.info(i).width_px != src.info(0).width_px || src.info(i).height_px != src.info(0).height_px;
  // A tile of another size among equal ones (a cropped export) leaves gaps or extra overlap in
  // the grid: named, since its neighbours' positions assume the common size.
  if (other_size > 0 && other_size * 2 < src.size())
    for (std::size_t i = 1, said = 0; i < src.size() && said < 5; ++i)
      if (src.info(i).width_px != src.info(0).width_px || src.info(i).height_px != src.info(0).height_px)
        ++said, spdlog::warn("{}: {} x {} px, the other tiles {} x {} px", source->path(i, 0), src.info(i).width_px, src.info(i).height_px,
                     src.info(0).width_px, src.info(0).height_px);
  spdlog::info("{} tiles of {} x {} px{} at {} nm, channels: {}", src.size(), src.info(0).width_px, src.info(0).height_px,
               other_size ? fmt::format(" ({} of another size)", other_size) : std::string(), src.pixel_nm(), [&] {
                 std::string s;
                 for (std::size_t c = 0; c < src.channels(); ++c) s += (c ? ", " : "") + src.channel_name(c);
                 return s;
               }());

  std::vector<std::string> tile_paths;  // an output over an input tile is refused, not written
  for (std::size_t i = 0; i < source->size(); ++i)
    for (std::size_t c = 0; c < source->channels(); ++c) tile_paths.push_back(source->path(i, c));
  const fs::path out_dir = fs::path(output).parent_path();
  const std::string layout_path =
      vm.count("layout") ? vm["layout"].as<std::string>() : (out_dir.empty() ? std::string("layout.json") : (out_dir / "layout.json").string());
  tile_paths.push_back(positions);
  // A campaign's own data (its tables and widefields, wherever its campaign.ini patterns put them,
  // and campaign.ini itself) are inputs too: an output or --layout over one is refused like one
  // over a tile (a stitch -o over a raw widefield, --layout over a table, replaced them).
  for (const char* key : {"table", "widefield"})
    if (const auto it = campaign.find(key); it != campaign.end() && !it->second.empty() && it->second != "none")
      for (std::size_t i = 0; i < source->size(); ++i) try {
          const std::string rel = expand_tile_pattern(it->second, source->info(i));
          tile_paths.push_back(!rel.empty() && rel[0] == '/' ? rel : dir + "/" + rel);
        } catch (const InputError&) {  // a pattern run would refuse: not this command's to judge
        }
  if (!campaign.empty()) tile_paths.push_back(dir + "/campaign.ini");
  // (One over an input is said as such by prepare_outputs.)
  if (fs::path(layout_path).extension() != ".json" &&
      std::none_of(tile_paths.begin(), tile_paths.end(), [&](const std::string& in) { return same_path(layout_path, in); }))
    throw UsageError("--layout " + layout_path + ": the layout is JSON: name it .json");
  // --from-layout FILE: a copy as layout.json next to the mosaic (unless it is that file), so the
  // output folder describes its mosaic.
  bool copy_layout = false;
  if (vm.count("from-layout")) {
    const std::string from = vm["from-layout"].as<std::string>();
    if (std::error_code ec; !fs::exists(from, ec)) throw IoError(from, "cannot open the layout file (--from-layout)");
    tile_paths.push_back(from);
    std::error_code ec;
    copy_layout = !fs::equivalent(from, layout_path, ec);
  }
  std::vector<std::string> outputs = {output, path_stem(output) + ".config.ini", path_stem(output) + ".png",
                                      path_stem(output) + ".corner.png"};
  if (!vm.count("from-layout") || copy_layout) outputs.push_back(layout_path);
  if (ims) outputs.push_back(bdv_xml_path(output));
  // A `run` output folder's own files (its layout, mosaic, manifest, summaries) are that run's
  // record: never replaced by a stitch (one over mosaic.ims left the run's status "out of date").
  // Checked before prepare_outputs, which makes folders.
  // (An output over an input is said as such by prepare_outputs.)
  const bool over_an_input = std::any_of(outputs.begin(), outputs.end(), [&](const std::string& out) {
    return std::any_of(tile_paths.begin(), tile_paths.end(), [&](const std::string& in) { return same_path(out, in); });
  });
  for (const std::string& path : over_an_input ? std::vector<std::string>() : outputs) {
    const fs::path p(path), dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
    const std::string name = p.filename().string();
    if (std::find(std::begin(kRunFolderFiles), std::end(kRunFolderFiles), name) != std::end(kRunFolderFiles) &&
        fs::exists(dir / "manifest.jsonl"))
      throw UsageError(path + " belongs to the run in " + dir.string() +
                       " (it has a manifest.jsonl): write the stitch elsewhere (-o in another folder, or another name" +
                       (name == "layout.json" ? ", or --layout FILE)" : ")"));
    // A campaign's fov/ and ground_truth/ folders hold its raw data (a stitch -o there replaced a
    // FoV's widefield stack that this stitch did not read).
    const fs::path abs = fs::absolute(dir).lexically_normal();
    for (fs::path up = abs; up.has_relative_path(); up = up.parent_path())
      if ((up.filename() == "fov" || up.filename() == "ground_truth") && fs::exists(up.parent_path() / "campaign.ini"))
        throw UsageError(path + " is inside the campaign " + up.parent_path().string() + " (its " + up.filename().string() +
                         "/ folder holds the campaign's data): write the stitch elsewhere");
  }
  prepare_outputs(tile_paths, outputs, /*inputs_may_be_missing=*/true);
  {  // what stitches killed before they could commit left beside these outputs (a mosaic-sized .tmp)
    std::size_t files = 0;
    std::uintmax_t bytes = 0;
    for (const std::string& path : outputs) {
      const fs::path dir = fs::path(path).has_parent_path() ? fs::path(path).parent_path() : fs::path(".");
      const auto [n, b] = remove_abandoned_temporaries(dir.string(), /*only_dead_writers=*/true, fs::path(path).filename().string());
      files += n, bytes += b;
    }
    if (files) spdlog::info("removed {} temporary file(s) ({:.1f} MB) that killed stitches left", files, bytes / 1e6);
  }
  const bool replaces_mosaic = [&] {  // an earlier mosaic of this name, whose OME-TIFF export would go stale
    std::error_code ec;
    return fs::exists(output, ec);
  }();
  {  // An earlier stitch's files of these names are replaced (each as it is written): said.
    std::vector<std::string> earlier;
    const bool layout_only = vm["layout-only"].as<bool>();  // writes the layout and its config alone
    for (const std::string& path : outputs)
      if (std::error_code ec; fs::exists(path, ec) && (!layout_only || path == layout_path || path == outputs[1]))
        earlier.push_back(fs::path(path).filename().string());
    if (!earlier.empty())
      spdlog::info("replacing {} file(s) of an earlier stitch: {}", earlier.size(), fmt::join(earlier, ", "));
    // That stitch's mosaic under another name (NAME.tif, now NAME.ims) stays, its record and
    // previews taken over (probe105: said at info level only).
    try {
      std::error_code ec;
      if (const auto earlier_config = ini_section(outputs[1], "stitch"); earlier_config && earlier_config->count("output"))
        if (const std::string other = earlier_config->at("output");
            !same_path(other, output) && fs::exists(other, ec) && fs::path(other).stem() == fs::path(output).stem())
          spdlog::warn("{} and the previews beside it described {}, which stays: they will describe {} (another -o name "
                       "keeps both sets)",
                       outputs[1], other, output);
    } catch (const std::exception&) {  // an unreadable record: nothing to say about it
    }
  }

  std::vector<double> xs, ys;
  // Written once the mosaic is: a stitch killed while fusing leaves the earlier layout.json beside
  // the earlier mosaic it describes, not a new one beside an old mosaic.
  std::string layout_text;
  bool registered = false;  // layout_text is this stitch's registration (not a --from-layout copy)
  const auto write_layout = [&] {
    if (layout_text.empty()) return;
    write_file_atomic(layout_path, layout_text);
    registered = false;  // kept under its own name now: nothing for a later failure to keep
    spdlog::info("wrote {}", layout_path);
  };
  if (vm.count("from-layout")) {
    const std::string from = vm["from-layout"].as<std::string>();
    std::tie(xs, ys) = read_layout_positions(from, src);
    spdlog::info("positions from {}", from);
    if (copy_layout) {
      std::ifstream in(from);
      layout_text.assign(std::istreambuf_iterator<char>(in), {});
    }
  } else {
    StitchOptions so;
    auto& r = so.registration;
    r.search_um = search_um;
    if (const std::string slip = search_um_slip(search_um, shorter_grid_step_um(tile_infos(src)), "tiles"); !slip.empty())
      spdlog::warn("{}", slip);
    r.signals = register_signals;
    if (r.signals.empty()) {
      RegistrationSignal sig;
      const double overlap_px = thinner_axis_overlap_um(src) * 1000.0 / src.pixel_nm();
      sig.scale = default_registration_scale(overlap_px);
      if (sig.scale == 1)
        spdlog::info("registering at full resolution: {} (--register CHANNEL:SCALE chooses)", full_resolution_reason(overlap_px));
      r.signals.push_back(sig);
    }
    // One axis only (overlapping rows, a gap down the columns; the median over both is positive):
    // said too, as run says it.
    if (const double thinner_um = thinner_axis_overlap_um(src); !no_overlap && thinner_um * 1000.0 / src.pixel_nm() <= -0.5)
      spdlog::warn("along one axis the stage positions leave a gap of {:.3g} um between neighbouring tiles (the median): "
                   "those pairs register only where the stage's error made an overlap (looked for within --search-um{}); the "
                   "others are placed by the stage alone",
                   -thinner_um,
                   std::all_of(r.signals.begin(), r.signals.end(), [](const RegistrationSignal& g) { return g.scale == 1; })
                       ? ", at full resolution"
                       : "");
    r.random_pairs = vm["random-pairs"].as<std::size_t>();
    r.accept_quantile = accept_quantile;
    r.min_ncc = vm["min-ncc"].as<double>();
    r.min_ncc_margin = min_ncc_margin;
    r.seed = vm["seed"].as<std::uint64_t>();
    r.stop_requested = stop_requested;
    so.layout.max_residual_px = max_residual_px;
    so.layout.residual_ratio = residual_ratio;
    Progress progress("register", 0, "pairs");
    r.signal_started = [&](std::size_t, std::size_t pairs) { progress.add_to_total(pairs); };
    const StitchLayout L = compute_layout(src, so, [&] { progress.advance(); });
    progress.finish();
    layout_text = layout_json(src, L, so);
    registered = true;
    if (!source->missing_ids().empty()) {  // the holes, said where the layout is read, not only in the log
      nlohmann::json j = nlohmann::json::parse(layout_text);
      j["missing_tiles"] = source->missing_ids();
      layout_text = json_text(j, 1) + "\n";
    }
    std::size_t valid = 0, accepted = 0;
    for (const auto& p : L.registration.pairs) valid += p.valid, accepted += p.accepted;
    for (const auto& c : L.registration.calibration) {
      spdlog::info("{}", calibration_text(c, src, r.accept_quantile));
      if (const std::string w = calibration_warning(c, r.min_ncc); !w.empty())
        spdlog::warn("signal {}/{}: {}", src.channel_name(c.channel), c.scale, w);
    }
    const LayoutSolution& s = L.solution;
    spdlog::info("{} neighbour pairs: {} matched, {} accepted, {} dropped by the solver; {} component(s), {} tile(s) placed "
                 "by the stage only; link residuals RMS {:.2f} px, max {:.2f} px (register {:.1f} s, solve {:.3f} s)",
                 L.pairs.size(), valid, accepted, s.dropped, s.components, s.isolated_tiles, s.rms_residual_px,
                 s.max_residual_px, L.register_seconds, L.solve_seconds);
    if (const std::string w = implausible_links_warning(L, src); !w.empty()) spdlog::warn("{}", w);
    if (const std::string w = search_range_warning(L, r.search_um, src.pixel_nm(), false, &src); !w.empty()) spdlog::warn("{}", w);
    // The positions' steps against the images' (a wrong overlap-um, or positions from one, misleads every pair).
    const auto t_steps = std::chrono::steady_clock::now();
    const StepCheck steps = check_steps(src, L.registration.pairs, r.signals.front().channel);
    spdlog::debug("{} ({:.1f} s)", step_check_text(steps),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t_steps).count());
    if (const std::string w = step_check_warning(steps, r.search_um, src.pixel_nm()); !w.empty()) spdlog::warn("{}", w);
    // Tiles no registered overlap holds: where the stage put them, off by its error. Named, with
    // the likely causes (a stage error beyond --search-um moved one by 32 px in a user's test).
    if (s.components > 1 && s.component.size() == src.size()) {
      std::map<int, std::size_t> members;
      for (int c : s.component) ++members[c];
      const int main_group = std::max_element(members.begin(), members.end(), [](const auto& a, const auto& b) {
                               return a.second < b.second;
                             })->first;
      std::vector<int> apart;
      for (std::size_t i = 0; i < src.size(); ++i)
        if (s.component[i] != main_group) apart.push_back(src.info(i).id);
      // Tiles that no chain of grid neighbours joins to the main group (an empty column or row of
      // cells between): nothing was there to register, whatever the structure (probe68: a
      // TileConfiguration with a column left out was said to hold "too little structure").
      std::vector<std::size_t> root(src.size());
      std::iota(root.begin(), root.end(), std::size_t{0});
      const std::function<std::size_t(std::size_t)> find = [&](std::size_t i) { return root[i] == i ? i : root[i] = find(root[i]); };
      for (const TilePair& p : L.pairs) root[find(p.a)] = find(p.b);
      std::size_t main_tile = 0;
      while (main_tile < src.size() && s.component[main_tile] != main_group) ++main_tile;
      std::size_t unreachable = 0;
      for (std::size_t i = 0; i < src.size(); ++i) unreachable += s.component[i] != main_group && find(i) != find(main_tile);
      // Every pair of one direction failed while the other's matched: that axis of the positions is
      // likely against the images' (a stage y pointing up). None matched: the pixel size, if given.
      std::size_t along_row = 0, down_col = 0, along_row_ok = 0, down_col_ok = 0;
      // Pairs of the tiles apart that matched well but had a second offset nearly as good: the
      // margin rule, not the search range, kept them out.
      const AmbiguousPairs ambiguous = ambiguous_pairs(L.registration, r.min_ncc_margin, [&](const PairResult& p) {
        return s.component[p.pair.a] != main_group || s.component[p.pair.b] != main_group;
      });
      for (const auto& p : L.registration.pairs) {
        const bool row = src.info(p.pair.a).row == src.info(p.pair.b).row;
        (row ? along_row : down_col) += 1;
        (row ? along_row_ok : down_col_ok) += p.accepted ? 1 : 0;
      }
      std::string hint;
      if (no_overlap)
        ;  // said above: a pair that registered overlaps by the stage's error alone
      else if (down_col > 0 && down_col_ok == 0 && along_row_ok > 0)
        hint = " No pair down a column registered while pairs along the rows did: is y_um's direction the image rows' "
               "(rows grow downwards; a stage y axis pointing up needs y_um negated)?";
      else if (along_row > 0 && along_row_ok == 0 && down_col_ok > 0)
        hint = " No pair along a row registered while pairs down the columns did: is x_um's direction the image columns' "
               "(they grow rightwards)?";
      else if (const double tagged = source->tagged_pixel_nm(0);
               accepted == 0 && tagged > 0 && std::abs(tagged - src.pixel_nm()) > 1e-3 * tagged)
        hint = fmt::format(" No pair registered: is --pixel-nm {:g} the tiles' pixel size (their resolution tags say {:g} nm)?",
                           src.pixel_nm(), tagged);
      if (ambiguous.count > 0)
        hint += fmt::format(" {} of their pairs matched (NCC up to {:.2f}) but another offset of the same overlap matched "
                            "nearly as well ({:.2f}; --min-ncc-margin {:g}): a repetitive or smooth overlap. A smaller "
                            "--min-ncc-margin accepts such matches, at the risk of a wrong one (layout.json: their "
                            "\"rejected\", second_dx_px, second_dy_px).",
                            ambiguous.count, ambiguous.best_ncc, ambiguous.its_second, r.min_ncc_margin);
      if (apart_by_positions(L.registration.pairs, s.component))
        spdlog::warn("{}", apart_by_positions_warning(apart, "tile(s)"));
      else if (unreachable == apart.size())
        spdlog::warn("{} tile(s) are not joined to the main group by any registered overlap (ids {}): placed by their "
                     "positions, off by the stage's error. No grid neighbour joins them to it: an empty row or column of "
                     "cells lies between (nothing there to register)",
                     apart.size(), first_items(apart, 10));
      else
        spdlog::warn("{} tile(s) are not joined to the main group by any registered overlap (ids {}): placed by their stage "
                     "positions, off by the stage's error. If the stage may be off by more than --search-um ({:g} um), "
                     "stitch again with a larger one; else their overlaps hold too little structure.{}",
                     apart.size(), first_items(apart, 10), r.search_um, hint);
    }
    xs = s.x_px, ys = s.y_px;
  }
  if (vm["layout-only"].as<bool>()) {
    write_layout();
    write_config_next_to(path_stem(output) + ".config.ini", self, vm);
    return 0;
  }

  // A fusion that fails or is stopped (a full disk, a bad option, SIGTERM) keeps the registration,
  // the long part of a large stitch, under another name than layout.json: fused later with
  // --from-layout, without registering again.
  struct KeepRegistration {
    std::function<void()> save;
    int exceptions = std::uncaught_exceptions();
    ~KeepRegistration() {
      if (std::uncaught_exceptions() > exceptions) save();
    }
  } keep{[&] {
    if (!registered) return;
    const std::string kept = path_stem(layout_path) + ".unfused.json";
    try {
      write_file_atomic(kept, layout_text);
      spdlog::warn("the fusion did not finish; the registered layout is kept in {}: `--from-layout {}` fuses it without "
                   "registering again",
                   kept, kept);
    } catch (const std::exception& e) {
      spdlog::warn("the fusion did not finish, and the registered layout could not be kept either: {}", e.what());
    }
  }};
  const MosaicPlan plan = plan_mosaic(src, xs, ys);
  MosaicInfo info;
  info.name = campaign.count("name") ? campaign.at("name") : fs::path(dir).filename().string();
  info.width_px = plan.width_px;
  info.height_px = plan.height_px;
  info.pixel_nm = src.pixel_nm();
  info.origin_x_um = plan.origin_x_px * info.pixel_nm / 1000.0;
  info.origin_y_um = plan.origin_y_px * info.pixel_nm / 1000.0;
  info.block_px = block_px;
  std::vector<std::size_t> fuse_channels;
  for (std::size_t c = 0; c < src.channels(); ++c) {
    fuse_channels.push_back(c);
    const std::string& name = src.channel_name(c);
    const double scale = scales.count(name) ? scales[name] : auto_scale(*source, c);
    info.channels.push_back({name, c == 0 ? "1 1 1" : (c == 1 ? "0 1 0" : "1 0 1"), scale,
                             fmt::format("{}: value = stored / {:.6g}", name, scale)});
    spdlog::info("channel '{}': stored uint16 = value x {:.6g}", name, scale);
  }
  FuseOptions fo;
  fo.mode = blend;
  const double feather_um = vm["feather-um"].as<double>();
  fo.feather_px = (feather_um >= 0 ? feather_um : overlap_um) * 1000.0 / src.pixel_nm();
  fo.cache_mb = vm["cache-mb"].as<std::size_t>();
  fo.stop_requested = stop_requested;  // a stop leaves no file under the output's name (the sinks remove theirs)
  const double width_um = info.width_px * info.pixel_nm * 1e-3, height_um = info.height_px * info.pixel_nm * 1e-3;
  spdlog::info("mosaic {} x {} px ({}), {} blocks of {} px, blend {}", info.width_px, info.height_px,
               std::max(width_um, height_um) >= 1000 ? fmt::format("{:.2f} x {:.2f} mm", width_um / 1000, height_um / 1000)
                                                     : fmt::format("{:.1f} x {:.1f} um", width_um, height_um),
               info.blocks_x() * info.blocks_y(), info.block_px, blend_mode_name(fo.mode));

  std::unique_ptr<BlockSink> sink;
  // The holes --skip-missing left, recorded in the file itself (a viewer shows the description).
  const std::string holes = source->missing_ids().empty()
                                ? std::string()
                                : fmt::format("tiles left out (no file): ids {}", fmt::join(source->missing_ids(), ", "));
  if (ims) {
    ImsWriterOptions wo;
    wo.description = "annamosaic stitch of " + dir;
    if (!holes.empty()) wo.description += "; " + holes;
    // An OME-TIFF exported from the mosaic being replaced (`export OUT.ims --ome-tiff`) would stay
    // beside the new one looking current (probe74: a 1425 x 1434 one beside a new 2313 x 2300
    // mosaic), as `run` removes its own: as the new file replaces the old, not before (a stop keeps
    // both old ones) nor after (a failure then would leave it beside the new one).
    if (replaces_mosaic)
      wo.before_replacing = [output] {
        std::error_code ec;
        if (!fs::remove(path_stem(output) + ".ome.tif", ec)) return;
        bool with_config = fs::remove(path_stem(output) + ".ome.config.ini", ec);
        with_config = fs::remove(path_stem(output) + ".ome.tif.config.ini", ec) || with_config;  // where that name was taken
        spdlog::info("removed {}.ome.tif{}: it showed the earlier mosaic this stitch replaces (`annamosaic export {} "
                     "--ome-tiff {}.ome.tif` makes it anew)",
                     path_stem(output), with_config ? " and its .ome.config.ini" : "", output, path_stem(output));
      };
    auto writer = std::make_unique<ImsWriter>(output, info, wo);
    writer->open();
    sink = std::move(writer);
  } else {
    BigTiffSinkOptions to;
    to.note = holes;
    sink = BigTiffSink::create(output, info, to);
  }
  const std::size_t crop_px = vm["corner-crop-px"].as<std::size_t>();
  std::vector<PixelRect> crops;
  if (crop_px > 0)
    for (const auto& [x, y] : tile_corners(src, plan, 16))
      crops.push_back({x > crop_px / 2 ? x - crop_px / 2 : 0, y > crop_px / 2 ? y - crop_px / 2 : 0, crop_px, crop_px});
  PreviewSink preview(sink.get(), info, 0, 2048, crops);
  Progress progress("fuse", info.blocks_x() * info.blocks_y(), "blocks");
  const FuseStats st = fuse_mosaic(src, plan, fuse_channels, info, preview, fo, [&] { progress.advance(); });
  preview.finish();
  progress.finish();
  for (std::size_t c = 0; c < st.not_finite.size(); ++c)
    if (st.not_finite[c])
      spdlog::warn("channel '{}': {} tile pixels are NaN or infinite: left out as no data (an overlapping tile fills "
                   "them; elsewhere the mosaic is 0 there)", src.channel_name(c), st.not_finite[c]);
  for (std::size_t c = 0; c < st.saturated.size(); ++c)
    if (st.saturated[c])
      // Which end: --scale only multiplies, so it cannot lift negatives (probe98: "see --scale"
      // for a background-subtracted tile's negative pixels).
      spdlog::warn("channel '{}': {} pixels outside 0..65535 after scaling were clamped: {} below 0 set to 0{}, {} above "
                   "65535 set to 65535{}",
                   src.channel_name(c), st.saturated[c], st.below_zero[c],
                   st.below_zero[c] ? " (negative values, e.g. a subtracted background: --scale cannot lift them)" : "",
                   st.saturated[c] - st.below_zero[c],
                   st.saturated[c] > st.below_zero[c] ? " (a smaller --scale keeps them)" : "");
  spdlog::info("fused {} blocks in {:.1f} s: {} tile loads, at most {} tiles ({:.0f} MB) cached; wrote {}{}", st.blocks, st.seconds,
               st.tile_loads, st.peak_cached_tiles, st.peak_cached_bytes / 1e6, output,
               ims ? " and " + bdv_xml_path(output) : std::string());
  const bool registered_here = registered;  // write_layout() disarms the keeper
  write_layout();
  // An earlier fusion's kept registration is out of date once this one has registered and fused.
  if (std::error_code ec; registered_here && fs::remove(path_stem(layout_path) + ".unfused.json", ec))
    spdlog::info("removed {} (an earlier stitch's registration, replaced by {})", path_stem(layout_path) + ".unfused.json",
                 layout_path);
  if (!vm["no-preview"].as<bool>()) {
    PreviewOptions po;
    po.colormap = Colormap::Gray;
    po.max_size_px = 0;
    write_preview_png(path_stem(output) + ".png", preview.overview().view(), po);
    spdlog::info("wrote {} (1:{} overview)", path_stem(output) + ".png", preview.factor());
    if (preview.crops() > 0) {
      std::size_t best = 0;
      for (std::size_t k = 1; k < preview.crops(); ++k)
        if (variance(preview.crop(k)) > variance(preview.crop(best))) best = k;
      const PixelRect& r = preview.crop_rect(best);
      write_preview_png(path_stem(output) + ".corner.png", preview.crop(best).view(), po);
      spdlog::info("wrote {} (full resolution, {} x {} px at mosaic x {} y {}: the tile corner with the most structure, "
                   "for seam checks)",
                   path_stem(output) + ".corner.png", r.width, r.height, r.x0, r.y0);
    }
  }
  write_config_next_to(path_stem(output) + ".config.ini", self, vm);
  return 0;
}

}  // namespace

Command stitch_command() {
  Command c;
  c.name = "stitch";
  c.summary = "Register neighbouring tiles, solve the global layout and fuse the mosaic (.ims pyramid or BigTIFF).";
  c.usage = "annamosaic stitch DIR --tiles PATTERN [--channel NAME=PATTERN[@PAGES]]... -o OUT.ims|OUT.tif";
  c.details =
      "DIR holds the tiles and positions.csv (id,row,col,x_um,y_um: nominal stage position of each tile's\n"
      "top-left corner; or x_px,y_px in tile pixels); a campaign folder (campaign.ini) also gives --overlap-um (else the stage\n"
      "positions give it). Patterns are relative to\n"
      "DIR: {id} = id with 4 digits (fov/0003), {id:d}, {row}, {col}, {row:02d}. Channel 0 (--tiles, else the\n"
      "first --channel) sets the tile grid; other channels of another size are resampled onto it using the\n"
      "TIFF pixel sizes (e.g. widefield=fov/{id}/widefield.tif@3-5: frames 3-5 averaged, 108 -> 20 nm).\n"
      "\n"
      "Registration: every pair of grid neighbours on the overlap strip predicted by the stage, widened\n"
      "by --search-um on each side, at 1/SCALE resolution, then refined at full resolution by NCC\n"
      "(--register CHANNEL[:SCALE[:gauss|log|none[:SIGMA[:refine|coarse]]]], repeatable: later signals are\n"
      "tried for pairs the earlier ones rejected; default: channel 0, scale 2 (1 where neighbours overlap by\n"
      "under 32 px along either axis), Gaussian sigma 1, refine;\n"
      "use coarse for images without full-resolution detail, e.g. widefield:5:log:1:coarse). Accepted when the NCC\n"
      "reaches the --accept-quantile of random non-adjacent pairs, --min-ncc and 0.6 x the median NCC of the pairs\n"
      "above those two, beats every other interpretation by --min-ncc-margin, and the overlap it implies is at\n"
      "least 4 px thick. Layout: weighted least\n"
      "squares over accepted pairs plus weak stage priors; the worst link is dropped while its residual\n"
      "exceeds max(--max-residual-px, --residual-ratio x mean).\n"
      "\n"
      "Writes OUT.ims (pyramidal HDF5 in the Imaris layout + OUT.xml for BigDataViewer, as `run` writes its\n"
      "mosaic: `export` and `inspect` read it) or OUT.tif (flat tiled BigTIFF), uint16, one plane per channel,\n"
      "stored = value x scale (--scale NAME=S; default 1 for uint8/uint16 tiles, their counts kept, else 60000 / max of 16 sample tiles); layout.json next to it (--layout: positions, every\n"
      "edge with shift, NCC, weight, accepted/used, residual, and a summary), OUT.png (overview of channel\n"
      "0), OUT.corner.png (full-resolution crop of channel 0 at the tile corner with the most structure:\n"
      "seam check) and OUT.config.ini.\n"
      "Example: annamosaic stitch out/demo/campaign --tiles 'ground_truth/dense/{id}.tif' -o out/dense/mosaic.ims";
  c.positional = {"input"};
  c.add_options = [](po::options_description& d) {
    d.add_options()
        ("input", po::value<std::string>()->required(), "campaign or tile folder")
        ("output,o", po::value<std::string>()->required(), "output mosaic: .ims (pyramid, Imaris/BigDataViewer) or .tif (BigTIFF)")
        ("tiles", po::value<std::string>(), "file pattern of the tiles (channel 'tiles')")
        ("channel", po::value<std::vector<std::string>>()->composing(), "NAME=PATTERN[@PAGES]: a (further) channel; repeatable")
        ("positions", po::value<std::string>(), "positions CSV (default DIR/positions.csv)")
        ("skip-missing", po::bool_switch(), "tiles whose file is missing are left out (holes), not an error")
        ("off-grid", po::value<std::string>(), "refuse or place: a tile more than half a step from its row and col's place (a copied line, a typo; or a brick layout) (default: campaign.ini's off-grid, else refuse)")
        ("pixel-nm", double_default(0.0), "tile pixel size (0: from the TIFF resolution tags)")
        ("overlap-um", double_default(-1.0), "nominal overlap, the feather width (-1: campaign.ini, else the stage positions)")
        ("search-um", double_default(2.5), "largest stage error between neighbours, per axis")
        ("register", po::value<std::vector<std::string>>()->composing(), "CHANNEL[:SCALE[:gauss|log|none[:SIGMA[:refine|coarse]]]]; repeatable")
        ("random-pairs", po::value<std::size_t>()->default_value(200), "non-adjacent pairs calibrating the threshold")
        ("accept-quantile", double_default(0.99), "quantile of the random pairs' NCC to beat")
        ("min-ncc", double_default(0.1), "lowest acceptance threshold")
        ("min-ncc-margin", double_default(0.12), "NCC margin over other interpretations")
        ("seed", po::value<std::uint64_t>()->default_value(1), "choice of the random pairs")
        ("max-residual-px", double_default(2.0), "links with larger residuals are dropped...")
        ("residual-ratio", double_default(2.5), "...if also above this x the mean residual (or missing what the other links predict by this x their mean miss)")
        ("blend", po::value<std::string>()->default_value("linear"), "linear (feather), overlay or max")
        ("feather-um", double_default(-1.0), "linear blending ramp (-1: the overlap)")
        ("block-px", po::value<std::size_t>()->default_value(1024), "output block and TIFF tile size")
        ("cache-mb", po::value<std::size_t>()->default_value(1024), "tile cache during fusion")
        ("scale", po::value<std::vector<std::string>>()->composing(), "NAME=FACTOR: stored uint16 = value x FACTOR; repeatable (default: 1 for uint8/uint16 tiles, their counts kept; else 60000 / the brightest of 16 sampled tiles)")
        ("layout", po::value<std::string>(), "layout JSON to write (default: layout.json next to OUT)")
        ("from-layout", po::value<std::string>(), "fuse with the positions of this layout.json (no registration)")
        ("layout-only", po::bool_switch(), "register and write the layout, do not fuse")
        ("corner-crop-px", po::value<std::size_t>()->default_value(512), "size of the seam-check crop (0: none)")
        ("no-preview", po::bool_switch(), "do not write the PNG previews");
  };
  c.run = [c](const po::variables_map& vm) { return run_stitch(c, vm); };
  return c;
}

}  // namespace annamosaic::cli
