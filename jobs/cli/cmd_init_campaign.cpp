// `annamosaic init-campaign DIR`: campaign.ini and positions.csv for a folder of real data.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <set>
#include <vector>

#include <fmt/ranges.h>

#include "batch/campaign.hpp"
#include "batch/campaign_init.hpp"
#include "cli/commands.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/input_file.hpp"
#include "core/log.hpp"
#include "imageio/tiff_io.hpp"
#include "loc/csv_reader.hpp"
#include "loc/loc_table.hpp"
#include "tiles/tile_source.hpp"

namespace annamosaic::cli {
namespace {
namespace fs = std::filesystem;

// The commonest mistakes with real data: tables in stage (slide) coordinates instead of each
// FoV's own, and a --fov-um smaller than the tables' field. Read a table and say so before hours
// of FoVs find it out one by one; a table wholly outside the field is refused (its FoV would fail,
// and so, most likely, would every other).
// A sample table wholly outside its field: the tables are in the stage's coordinates (refused).
struct OutsideTheField : InputError {
  using InputError::InputError;
};

struct SampleTable {
  bool unit_assumed = false;  // the header named no unit for x or y (read as nm)
  int frame_min = -1;         // its smallest frame number (-1: no rows)
  bool mostly_outside = false;  // more than half its localizations outside its field
};

// Reads one FoV's table as `run` will (the options given here, which campaign.ini carries to
// `run`) and throws what that throws; malformed rows are counted, not thrown (run's
// --skip-bad-rows decides).
SampleTable check_sample_table(const std::string& path, double fov_um, const TableReadOptions& read) {
  LocTable t;
  ReadReport report;
  TableReadOptions counting = read;
  counting.csv.skip_bad_rows = true;
  t = read_table(path, counting, &report);
  for (const std::string& w : report.warnings) spdlog::warn("{}", w);
  if (const std::string skipped = skipped_rows_message(path, report); !skipped.empty())
    spdlog::warn("{} (`run` stops at such a row unless given --skip-bad-rows)", skipped);
  if (t.empty()) {  // read, but a FoV of no localization fails in `run` (probe71: unsaid here)
    spdlog::warn("{}: no localizations{} (its FoV will fail as it is: a field where nothing blinked, or an export cut "
                 "short?)",
                 path, report.rows_skipped ? " (every row malformed)" : " (no rows)");
    return {report.xy_unit_assumed, -1};
  }
  const TableStats s = compute_stats(t);
  const double fov_nm = fov_um * 1000.0;
  const std::string span = fmt::format("localizations span x {:.0f}..{:.0f} nm, y {:.0f}..{:.0f} nm", s.x_min_nm, s.x_max_nm,
                                       s.y_min_nm, s.y_max_nm);
  if (s.x_min_nm > fov_nm || s.y_min_nm > fov_nm || s.x_max_nm < 0 || s.y_max_nm < 0)
    throw OutsideTheField(path, span + ", wholly outside its FoV's 0.." + fmt::format("{:.0f}", fov_nm) + " nm field");
  if (spans_a_corner(t.size(), s.x_max_nm - s.x_min_nm, s.y_max_nm - s.y_min_nm, fov_nm))
    spdlog::warn("{}: {}, a corner of the {:.0f} nm field: are the coordinates in nm (camera pixels or um read as nm)? "
                 "Check the table's units (table-info shows how its columns are read)",
                 path, span, fov_nm);
  else if (t.size() >= 100 && std::max(s.x_max_nm - s.x_min_nm, s.y_max_nm - s.y_min_nm) < fov_nm / 3)
    spdlog::warn("{}: {}, within a third of the {:.0f} nm field: is --fov-um {:g} right (the camera's field at the "
                 "sample: its width in px x the camera pixel)? Too large, the tiles are placed apart",
                 path, span, fov_nm, fov_um);
  std::size_t outside = 0;
  for (std::size_t i = 0; i < t.size(); ++i)
    outside += t.x_nm[i] < 0 || t.y_nm[i] < 0 || t.x_nm[i] >= fov_nm || t.y_nm[i] >= fov_nm;
  // A few localizations just past the edge are normal (fits of emitters at the border).
  if (static_cast<double>(outside) > 0.001 * static_cast<double>(t.size()))
    spdlog::warn("{}: {}; {:.1f}% of them lie outside the {:.0f} nm field (--fov-um {:g}) and would be dropped by `run`: "
                 "is --fov-um too small, or the table in the stage's coordinates?",
                 path, span, 100.0 * static_cast<double>(outside) / static_cast<double>(t.size()), fov_nm, fov_um);
  return {report.xy_unit_assumed, s.frame_min, 2 * outside > t.size()};
}

int run_init_campaign(const po::variables_map& vm) {
  const std::string dir = vm["input"].as<std::string>();
  if (!fs::is_directory(dir))
    throw IoError(dir, std::string(fs::exists(dir) ? "not a folder" : "no such folder") + " (give the folder that holds the FoVs' files)");
  // A pattern's file: under the folder, or as it is when absolute (data kept on another mount, as
  // `run` reads campaign.ini's patterns; probe99: the folder was put before "/data/...").
  const auto in_dir = [&dir](const std::string& file) { return fs::path(file).is_absolute() ? file : dir + "/" + file; };
  CampaignInitOptions o;
  fs::path abs = fs::absolute(dir).lexically_normal();
  if (abs.filename().empty()) abs = abs.parent_path();  // "data/run1/" names run1
  o.name = vm.count("name") ? vm["name"].as<std::string>() : abs.filename().string();
  if (o.name.empty()) o.name = "campaign";
  o.rows = vm["rows"].as<int>();
  o.cols = vm["cols"].as<int>();
  o.fov_um = vm["fov-um"].as<double>();
  o.overlap_um = vm["overlap-um"].as<double>();
  o.order = vm["order"].as<std::string>();
  o.frame_base = vm["frame-base"].as<int>();
  if (o.frame_base < -1 || o.frame_base > 1)
    throw UsageError("--frame-base must be 0 or 1 (the number the tables give the first camera frame), not " +
                     std::to_string(o.frame_base));
  o.structure = vm["structure"].as<std::string>();
  o.table_pattern = vm["table"].as<std::string>();
  o.widefield_pattern = vm["no-widefield"].as<bool>() ? "" : vm["widefield"].as<std::string>();
  o.widefield_frames = vm["widefield-frames"].as<std::string>();
  const PageRange wf_pages = page_range_option(vm, "widefield-frames");  // written to campaign.ini: checked first
  bool camera_given = !vm["camera-pixel-nm"].defaulted();
  o.camera_pixel_nm = vm["camera-pixel-nm"].as<double>();
  for (const auto& [key, dst] : {std::pair<const char*, std::string*>{"xy-unit", &o.xy_unit}, {"columns", &o.columns},
                                 {"delimiter", &o.delimiter}})
    if (vm.count(key)) *dst = vm[key].as<std::string>();
  // The sample tables are read as `run` will read them (and the options checked before anything is written).
  TableReadOptions read = table_read_options(o.xy_unit, o.columns, o.delimiter);
  // Written in their canonical spellings; "auto" is no choice.
  if (!o.xy_unit.empty()) o.xy_unit = xy_unit_name(read.csv.xy_unit);
  o.delimiter = read.csv.delimiter ? delimiter_name(read.csv.delimiter) : "";

  const std::string ini = dir + "/campaign.ini", positions = dir + "/positions.csv";
  if (!vm["force"].as<bool>())
    for (const std::string& f : {ini, positions})
      if (fs::exists(f))
        throw UsageError(f + " exists: this folder has a campaign description already (--force replaces campaign.ini and "
                             "positions.csv, nothing else)");

  // Ids written otherwise than {id}'s 4 digits from 0 (fov/0/, Pos001): the pattern that finds some
  // of the first FoVs' files, offered ("" when none does; probe71: the names alone were shown).
  const auto id_variant_that_finds = [&](const std::string& option, const std::string& pattern) -> std::string {
    if (pattern.find("{id}") == std::string::npos) return "";
    for (const char* alt : {"{id:d}", "{id:02d}", "{id:03d}", "{id+1:d}", "{id+1:02d}", "{id+1:03d}", "{id+1}"}) {
      std::string p = pattern;
      for (std::size_t at; (at = p.find("{id}")) != std::string::npos;) p.replace(at, 4, alt);
      for (int id = 0; id < 4; ++id) try {
          TileInfo t{};
          t.id = id;
          std::error_code ec;
          if (fs::is_regular_file(in_dir(expand_tile_pattern(p, t)), ec))
            return fmt::format(": {} '{}' finds some (ids {})", option, p,
                               std::string(alt).find("+1") != std::string::npos ? "counted from 1" : "not 4 digits");
        } catch (const std::exception&) {
        }
    }
    return "";
  };
  std::set<std::string> broken_links;  // a link to a share that is not mounted reads as "no file" otherwise
  std::set<std::string> not_files;     // there, but a folder or a named pipe
  CampaignInitPlan plan;
  FolderListing listing;  // most names tried are not there: no look-up each on a network share
  try {
    plan = plan_campaign_init(o, [&](const std::string& rel) {
      if (!listing.has(in_dir(rel))) return false;
      std::error_code ec;
      if (fs::is_regular_file(in_dir(rel), ec)) return true;
      if (dangling_link_target(in_dir(rel))) broken_links.insert(rel);
      else if (fs::exists(in_dir(rel), ec)) not_files.insert(rel);  // a folder, a pipe: no table either
      return false;
    });
  } catch (const NoTableFound& e) {
    // A pattern that finds nothing: show what the folder does hold, so the pattern can be written
    // from the real names.
    // Tables first (by extension), in name order, from up to three folders down.
    std::vector<std::string> tables, others;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator() &&
                                                              tables.size() + others.size() < 2000;
         it.increment(ec)) {
      if (it.depth() > 2) it.disable_recursion_pending();
      if (!it->is_regular_file(ec)) continue;
      std::string ext = it->path().extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      const bool table = ext == ".csv" || ext == ".tsv" || ext == ".txt" || ext == ".dat" || ext == ".hdf5" || ext == ".h5";
      (table ? tables : others).push_back(fs::relative(it->path(), dir, ec).string());
    }
    std::sort(tables.begin(), tables.end());
    std::sort(others.begin(), others.end());
    std::vector<std::string> some(tables.begin(), tables.begin() + std::min<std::size_t>(6, tables.size()));
    for (std::size_t i = 0; some.size() < 6 && i < others.size(); ++i) some.push_back(others[i]);
    // The pattern is at fault, not a file: exit 1 as for --widefield's (an option's value).
    throw InputError("--table", e.file() + ": " + e.message() + (some.empty() ? "; " + dir + " holds no files"
                                                            : fmt::format("; {} holds e.g. {}", dir, fmt::join(some, ", "))) +
                                   id_variant_that_finds("--table", o.table_pattern));
  }
  // A --widefield given that finds no file (a slip in the pattern): refused as a table pattern
  // is; before, every FoV ran without its widefield and the run said "finished" (probe72). The
  // default pattern finding nothing is warned about (a campaign without widefields).
  if (!vm["widefield"].defaulted() && !o.widefield_pattern.empty() && plan.widefields == 0) {
    TileInfo t{};
    t.id = plan.fovs.front().id, t.row = plan.fovs.front().row, t.col = plan.fovs.front().col;
    const std::string instead = id_variant_that_finds("--widefield", o.widefield_pattern);
    throw InputError("--widefield", fmt::format("'{}' finds no file (looked for {}, ...){}: give the widefield TIFFs' "
                                                "pattern, or --no-widefield if the campaign has none (or they are still to "
                                                "come: then set widefield = PATTERN in campaign.ini before the run); nothing "
                                                "was written",
                                                o.widefield_pattern, in_dir(expand_tile_pattern(o.widefield_pattern, t)),
                                                instead.empty() ? "" : instead));
  }
  for (const std::string& w : plan.warnings) spdlog::warn("{}", w);
  if (!broken_links.empty()) {
    const std::string first = in_dir(*broken_links.begin());
    spdlog::warn("{} of the FoVs' files are links to nothing, counted as missing: {} -> {}{} (a share not mounted?)",
                 broken_links.size(), first, dangling_link_target(first).value_or("?"), broken_links.size() > 1 ? ", ..." : "");
  }
  if (!not_files.empty()) {
    const std::string first = in_dir(*not_files.begin());
    std::error_code ec;
    spdlog::warn("{} of the FoVs' files are not files, counted as missing: {} is {}{}", not_files.size(), first,
                 fs::is_directory(first, ec) ? "a folder" : "a named pipe or device", not_files.size() > 1 ? ", ..." : "");
  }
  if (!plan.missing_tables.empty()) {
    std::string some;
    for (std::size_t i = 0; i < plan.missing_tables.size() && i < 5; ++i) some += (i ? ", " : "") + plan.missing_tables[i];
    spdlog::warn("{} of {} grid cells have no table and are left out ({}{}): the mosaic has holes there", plan.missing_tables.size(),
                 o.rows * o.cols, some, plan.missing_tables.size() > 5 ? ", ..." : "");
  }
  std::vector<WidefieldSize> sizes;  // as run checks them, from their TIFF headers
  std::vector<double> tags_nm;       // their resolution tags (0: none)
  std::vector<std::string> unusable_widefields;
  std::vector<std::string> unreadable_tiffs;  // said after the loop: all of them is a wrong pattern
  std::vector<std::string> size_files;        // the file of each entry of `sizes`
  std::size_t short_stacks = 0;               // fewer pages than --widefield-frames reaches
  std::string short_example;
  std::size_t widefield_files = 0;
  for (const InitFov& f : plan.fovs) {
    if (f.widefield.empty()) continue;
    ++widefield_files;
    try {
      const TiffInfo info = read_tiff_info(in_dir(f.widefield));
      // What run would ignore the widefield for, said now (the header tells it).
      if (const std::string why = tiff_unsupported_reason(info); !why.empty()) {
        unusable_widefields.push_back(in_dir(f.widefield) + ": " + why);
        continue;
      }
      if (const std::size_t channels = tiff_imagej_channels(info); channels > 1 && info.pages > 1 &&
                                                                     (wf_pages.last == 0 || wf_pages.last > wf_pages.first)) {
        unusable_widefields.push_back(fmt::format("{}: an ImageJ hyperstack of {} channels (averaging pages {} would mix "
                                                  "them; save the widefield's channel alone)",
                                                  in_dir(f.widefield), channels, o.widefield_frames));
        continue;
      }
      sizes.push_back({f.id, info.width, info.height, info.pixel_nm});
      size_files.push_back(in_dir(f.widefield));
      if ((info.pages < wf_pages.first || (wf_pages.last > 0 && info.pages < wf_pages.last)) && short_stacks++ == 0)
        short_example = fmt::format("{}: {} page(s)", in_dir(f.widefield), info.pages);
      tags_nm.push_back(info.pixel_nm);
    } catch (const std::exception& e) {
      unreadable_tiffs.push_back(e.what());
    }
  }
  // Not one widefield is a TIFF (the pattern names other files: tables, PNG previews): the
  // pattern is wrong, not the files. Refused before anything is written.
  if (widefield_files > 1 && unreadable_tiffs.size() == widefield_files)  // one damaged file alone is said below
    throw InputError("--widefield", fmt::format("none of the {} files '{}' names is a readable TIFF (the first: {}): give the "
                                                "widefield TIFFs' pattern, or --no-widefield; nothing was written",
                                                widefield_files, o.widefield_pattern, unreadable_tiffs.front()));
  for (const std::string& w : unreadable_tiffs) spdlog::warn("{}", w);
  // Said once here rather than per FoV by run: a single image is used as it is, first frames
  // (blurred by the stage still moving) included.
  if (short_stacks > 0)
    spdlog::warn("{} widefield(s) have fewer pages than --widefield-frames {} reaches (e.g. {}): run averages the pages of "
                 "the range there are, or all pages when none is (a single image as it is, motion-blurred first frames "
                 "included); give --widefield-frames to match the stacks",
                 short_stacks, o.widefield_frames, short_example);
  if (!unusable_widefields.empty())
    spdlog::warn("{} widefield(s) of a kind run cannot read, so it will reconstruct those FoVs from their localizations "
                 "alone: {}{}",
                 unusable_widefields.size(),
                 fmt::join(unusable_widefields.begin(), unusable_widefields.begin() + std::min<std::size_t>(3, unusable_widefields.size()), "; "),
                 unusable_widefields.size() > 3 ? "; ..." : "");
  // The widefields' own resolution tags, when they all agree, all images have one size and that
  // size spans the FoV, say the camera pixel better than a default nobody chose; when they would
  // not be used, or disagree with the pixel given, it is said why.
  const std::size_t tagged = static_cast<std::size_t>(std::count_if(tags_nm.begin(), tags_nm.end(), [](double v) { return v > 0; }));
  if (tagged > 0) {
    const std::size_t ref = static_cast<std::size_t>(
        std::find_if(tags_nm.begin(), tags_nm.end(), [](double v) { return v > 0; }) - tags_nm.begin());
    const double tag_nm = tags_nm[ref];
    bool agree = tagged == sizes.size();
    std::size_t odd = 0;  // the first widefield unlike the first tagged one (both files are named)
    for (std::size_t i = 0; i < sizes.size(); ++i)
      if (!(std::abs(tags_nm[i] - tag_nm) <= 0.01 * tag_nm && sizes[i].width_px == sizes[ref].width_px &&
            sizes[i].height_px == sizes[ref].height_px)) {
        agree = false, odd = i;
        break;
      }
    const auto described = [&](std::size_t i) {
      return fmt::format("{}: {} on {} x {} px", size_files[i], tags_nm[i] > 0 ? fmt::format("{:.4g} nm", tags_nm[i]) : "no tag",
                         sizes[i].width_px, sizes[i].height_px);
    };
    const double span_um = static_cast<double>(std::max(sizes[0].width_px, sizes[0].height_px)) * tag_nm / 1000.0;
    const bool fits = std::abs(span_um - o.fov_um) <= 0.1 * o.fov_um;
    if (!agree && !camera_given)
      spdlog::warn("{}: the widefields' resolution tags are not used for the camera pixel: {} of {} have one, and they or "
                   "the images' sizes differ ({}; {}); give --camera-pixel-nm",
                   dir, tagged, sizes.size(), described(ref), described(odd));
    else if (agree && !fits && !camera_given)
      spdlog::warn("{}: the widefields' resolution tags say {:g} nm, but then their {} x {} px span {:.3g} um, not --fov-um "
                   "{:g}: not used for the camera pixel (is --fov-um right?)",
                   dir, tag_nm, sizes[0].width_px, sizes[0].height_px, span_um, o.fov_um);
    else if (agree && camera_given && std::abs(tag_nm - o.camera_pixel_nm) > 0.01 * tag_nm)
      spdlog::warn("{}: --camera-pixel-nm {:g}, but all {} widefields' resolution tags say {:g} nm ({} x {} px: {:.3g} um "
                   "against --fov-um {:g}): which is right? The given value is used and written",
                   dir, o.camera_pixel_nm, sizes.size(), tag_nm, sizes[0].width_px, sizes[0].height_px, span_um, o.fov_um);
    if (agree && fits && !camera_given) {
      o.camera_pixel_nm = tag_nm;
      camera_given = true;
      const std::size_t at = plan.campaign_ini.find("camera-pixel-nm = ");
      plan.campaign_ini.replace(at, plan.campaign_ini.find('\n', at) - at,
                                fmt::format("# from the widefields' resolution tags (no --camera-pixel-nm given):\n"
                                            "camera-pixel-nm = {:g}", tag_nm));
      spdlog::info("camera-pixel-nm {:g}: from the {} widefields' resolution tags ({} x {} px span {:.3g} um, the FoV's "
                   "{:g} um); --camera-pixel-nm to give another",
                   tag_nm, sizes.size(), sizes[0].width_px, sizes[0].height_px, span_um, o.fov_um);
    }
  }
  read.csv.camera_pixel_nm = camera_given ? o.camera_pixel_nm : 0.0;  // px tables: the camera's pixel
  // The first, middle and last FoVs: stage coordinates hide in the first alone (its stage origin
  // is often 0, so its table looks FoV-local).
  std::string unit_assumed;  // the first sample table whose header names no unit
  const std::set<std::size_t> samples = {0, plan.fovs.size() / 2, plan.fovs.size() - 1};
  std::vector<std::string> unreadable;
  std::map<int, std::string> first_frames;  // the sampled tables' smallest frame numbers -> a table
  std::vector<OutsideTheField> outside;      // sampled tables wholly outside their field
  std::size_t mostly_outside = 0;            // other sampled tables with most localizations outside it
  for (const std::size_t i : samples) try {
      const SampleTable sample = check_sample_table(in_dir(plan.fovs[i].table), o.fov_um, read);
      if (sample.unit_assumed && unit_assumed.empty()) unit_assumed = in_dir(plan.fovs[i].table);
      if (sample.frame_min >= 0) first_frames.emplace(sample.frame_min, in_dir(plan.fovs[i].table));
      mostly_outside += sample.mostly_outside ? 1 : 0;
    } catch (const OutsideTheField& e) {
      outside.push_back(e);
    } catch (const InputError& e) {
      unreadable.push_back(e.what());
    } catch (const IoError& e) {
      unreadable.push_back(e.what());
    }
  // Stage coordinates put the tables of FoVs away from the stage's origin outside their fields,
  // wholly or mostly (the one next to it partly): refused when half the sampled tables or more are
  // so (probe81: a 3 x 3 grid, the middle FoV's 90% outside, was let through). One table wholly
  // outside among others in their fields (probe78: FoV 3 of 6) is that table's own problem: its FoV
  // will fail, said, the campaign written.
  if (!outside.empty() && 2 * (outside.size() + mostly_outside) >= samples.size())
    throw InputError(outside.front().file(),
                     outside.front().message() +
                         fmt::format(": {} of the {} tables sampled lie wholly or mostly outside their fields, as tables "
                                     "in the stage's coordinates do (every FoV but the one at the stage's origin would "
                                     "fail). The pipeline expects each table in its FoV's own coordinates (camera frame, "
                                     "0..fov-um), not the stage's: subtract each FoV's origin first (or is --fov-um "
                                     "wrong?). Nothing was written",
                                     outside.size() + mostly_outside, samples.size()));
  for (const OutsideTheField& e : outside)
    spdlog::warn("{}, while most tables sampled lie in their fields: its FoV will fail as it is (a table in the "
                 "stage's coordinates, or another FoV's?)",
                 e.what());
  // None of them read as `run` would read them: every FoV would fail. One of them (an empty
  // corner FoV's empty table, say) fails only its FoV.
  if (unreadable.size() == samples.size())
    throw InputError(unreadable.front(), fmt::format("{} table(s) sampled (the first, middle and last FoV's), none read: that "
                                                     "is how `run` would read them: give the options they need here "
                                                     "(--columns, --delimiter, --xy-unit; for tables in camera pixels, "
                                                     "--camera-pixel-nm), which are written to campaign.ini; nothing was written",
                                                     samples.size()));
  for (const std::string& why : unreadable) spdlog::warn("{} (its FoV will fail as it is)", why);
  const std::vector<std::string> size_warnings = widefield_size_warnings(sizes, o.camera_pixel_nm, o.fov_um, camera_given);
  for (const std::string& w : size_warnings) spdlog::warn("{}: {}", dir, w);
  // The default camera pixel taken for widefields that do not say theirs: said where it is taken,
  // not only in a comment of campaign.ini (probe99). When it does not fit, the warning above says so.
  if (!camera_given && !sizes.empty() && size_warnings.empty())
    spdlog::info("camera-pixel-nm {:g} assumed (the default: the widefields carry no usable resolution tags): their {} x {} "
                 "px then span {:.3g} um, the FoV's {:g} um; --camera-pixel-nm to give the camera's own",
                 o.camera_pixel_nm, sizes[0].width_px, sizes[0].height_px,
                 static_cast<double>(std::max(sizes[0].width_px, sizes[0].height_px)) * o.camera_pixel_nm / 1000.0, o.fov_um);
  if (!camera_given) {
    // Written as a comment: a px table must not be converted with a default nobody chose.
    const std::string key = "camera-pixel-nm = ";
    plan.campaign_ini.replace(plan.campaign_ini.find(key), key.size(),
                              std::string(o.widefield_pattern.empty()
                                              ? "# no widefields: only tables in camera pixels need it (then set it):\n# "
                                              : "# the default 108 nm was assumed for the widefield's pixel; set it (tables in "
                                                "px need it):\n# ") + key);
  }

  if (!unit_assumed.empty()) {
    // The commonest silent mistake with real tables (um or camera pixels read as nm): said, and
    // written where the next reader of campaign.ini sees it.
    spdlog::warn("{}: the tables' x and y columns name no unit: `run` reads them as nm. If they are um or camera "
                 "pixels, rerun with --force --xy-unit um (or px{})",
                 unit_assumed, camera_given ? "" : ", with --camera-pixel-nm");
    plan.campaign_ini += "# the tables' x and y name no unit: read as nm; if they are not, set xy-unit = um (or px)\n"
                         "# xy-unit = nm\n";
  }
  // The first frame's number, once for the campaign: guessed per table, windows (run --frames
  // first:K) of tables with and without a frame 0 would be a frame apart.
  int base_written = o.frame_base;
  std::vector<int> starts;  // the sampled tables' first frames, ascending
  for (const auto& [f, table] : first_frames) starts.push_back(f);
  if (o.frame_base >= 0) {
    plan.campaign_ini += fmt::format("frame-base = {}\n", o.frame_base);
  } else if (!starts.empty() && starts.front() <= 1) {
    // A table with frame 0 counts from 0; else one that starts at 1 most likely from 1.
    const auto& [first, table] = *first_frames.begin();
    base_written = first;
    plan.campaign_ini += fmt::format("# the sampled tables count frames from {} ({} starts at frame {}):\nframe-base = {}\n",
                                     first, table, first, first);
    spdlog::info("frame-base = {}: {} starts at frame {}{} (--frame-base {} if the software counts from {})", first, table,
                 first, starts.size() > 1 ? fmt::format("; the sampled tables start at frames {}", fmt::join(starts, ", ")) : "",
                 1 - first, 1 - first);
  } else if (!starts.empty()) {
    plan.campaign_ini += fmt::format("# the sampled tables start at frames {}: the first frame's number (0 or 1) is "
                                     "guessed per table; set it:\n# frame-base = 1\n", fmt::join(starts, ", "));
    spdlog::warn("the sampled tables start at frames {} (e.g. {}): whether the software counts frames from 0 or 1 is not "
                 "known; for frame windows (run --frames), rerun with --force --frame-base 0 (or 1)",
                 fmt::join(starts, ", "), first_frames.begin()->second);
  }
  // --force over a description: the earlier choices this one drops or changes are said (they
  // are not carried over; a forgotten --xy-unit would read every table otherwise).
  const bool replacing = fs::exists(ini), replacing_positions = fs::exists(positions);
  if (replacing) try {
      const CampaignInfo before = read_campaign(dir);
      std::vector<std::string> changed;
      const auto compare = [&](const char* key, const std::string& was, const std::string& now) {
        if (was != now) changed.push_back(fmt::format("{} {} -> {}", key, was.empty() ? "(not set)" : was, now.empty() ? "(not set)" : now));
      };
      compare("name", before.name, o.name);
      compare("xy-unit", before.xy_unit, o.xy_unit);
      compare("columns", before.columns, o.columns);
      // Measured positions named in campaign.ini (positions = stage.csv) give way to the nominal ones.
      if (before.positions != "positions.csv")
        changed.push_back("positions " + before.positions +
                          " -> positions.csv (the nominal grid's; the measured ones are no longer used)");
      if (before.place_off_grid) changed.push_back("off-grid place -> (not set: the nominal grid needs none)");
      compare("delimiter", before.delimiter, o.delimiter);
      compare("frame-base", before.frame_base >= 0 ? std::to_string(before.frame_base) : "",
              base_written >= 0 ? std::to_string(base_written) : "");
      compare("camera-pixel-nm", before.camera_pixel_nm_given ? fmt::format("{:g}", before.camera_pixel_nm) : "",
              camera_given ? fmt::format("{:g}", o.camera_pixel_nm) : "");
      if (!changed.empty())
        spdlog::warn("{}: replacing its description changes {} (earlier choices are not carried over: give them again "
                     "if they still hold)",
                     ini, fmt::join(changed, ", "));
    } catch (const std::exception&) {  // an unreadable earlier description: nothing to compare
    }
  // positions.csv first: campaign.ini, written last, marks a complete description. An earlier
  // campaign.ini (--force) goes before: a kill between the two would pair it with the new
  // positions.
  try {
    std::error_code ec;
    // Positions other than the nominal grid's (measured ones written into positions.csv by hand,
    // as --help once advised) are kept, not overwritten (probe65).
    // The earlier description's own nominal grid (a grid grown as FoVs arrive) is replaced as is.
    const auto earlier_nominal = [&] {
      try {
        const CampaignInfo earlier = read_campaign(dir);
        const double pitch_um = earlier.fov_um - earlier.overlap_um;
        for (const TileInfo& t : read_positions_csv(positions))
          if (std::abs(t.x_um - t.col * pitch_um) > 1e-3 || std::abs(t.y_um - t.row * pitch_um) > 1e-3) return false;
        return true;
      } catch (const std::exception&) {  // unreadable: kept, as positions nobody can vouch for
        return false;
      }
    };
    if (std::ifstream old(positions); old) {
      const std::string before(std::istreambuf_iterator<char>(old), {});
      if (before != plan.positions_csv && !earlier_nominal()) {
        const std::string kept =
            dir + "/positions." +
            earlier_file_suffix([&](const std::string& x) { return fs::exists(dir + "/positions." + x + ".csv"); }) + ".csv";
        fs::rename(positions, kept, ec);  // a read-only folder: said where positions.csv cannot be written
        if (!ec)
            spdlog::warn("{} held other positions than the nominal grid's (measured ones?): kept as {}; to use them, set "
                       "positions = {} in campaign.ini",
                       positions, kept, fs::path(kept).filename().string());
      }
    }
    fs::remove(ini, ec);  // where it cannot go, writing positions.csv says why
    write_file_atomic(positions, plan.positions_csv);
  } catch (const IoError&) {
    // A read-only share of acquired data: the description can live in a folder of its own.
    if (::access(dir.c_str(), W_OK) != 0)
      throw IoError(dir, std::string("cannot write here (") + std::strerror(errno) +
                             "): init-campaign writes campaign.ini and positions.csv into the folder it describes. For "
                             "a read-only folder, describe it from a writable folder beside it whose patterns reach "
                             "it: annamosaic init-campaign NEW_FOLDER ... --table '../" + abs.filename().string() + "/" +
                             o.table_pattern + "' (and --widefield likewise); nothing was written");
    throw;
  }
  write_file_atomic(ini, plan.campaign_ini);
  // Read back as `run` reads it: the same checks (geometry, duplicates, grid) apply now. A
  // description run would refuse is not left behind (a retry would need --force).
  std::vector<std::string> warnings;
  std::vector<FovEntry> fovs;
  try {
    fovs = plan_fovs(read_campaign(dir), &warnings);
  } catch (...) {
    fs::remove(ini);
    fs::remove(positions);
    throw;
  }
  for (const std::string& w : warnings) spdlog::warn("{}", w);
  const std::size_t unusable = unusable_widefields.size() + unreadable_tiffs.size();  // said above
  // Each file said as written or replaced (--force over one of them, or both).
  const std::string written =
      replacing_positions && replacing ? fmt::format("replaced the earlier {} and {}", positions, ini)
      : replacing_positions            ? fmt::format("replaced the earlier {} and wrote {}", positions, ini)
      : replacing                      ? fmt::format("wrote {} and replaced the earlier {}", positions, ini)
                                       : fmt::format("wrote {} and {}", positions, ini);
  std::cout << fmt::format("{}: {} FoV(s) on a {} x {} grid ({} with a widefield{}), nominal positions every {:g} um; {}\n"
                           "run it:  annamosaic run --campaign {} -o OUT\n",
                           dir, fovs.size(), o.rows, o.cols, plan.widefields,
                           unusable ? fmt::format(", {} of them not usable as said above", unusable) : std::string(),
                           o.fov_um - o.overlap_um, written, shell_quoted(dir));
  return 0;
}
}  // namespace

Command init_campaign_command() {
  Command c;
  c.name = "init-campaign";
  c.summary = "Describe a folder of real FoVs as a campaign (campaign.ini, positions.csv) for `run`.";
  c.usage = "annamosaic init-campaign DIR --rows R --cols C --fov-um F --overlap-um O [--table PATTERN] [--widefield PATTERN]";
  c.positional = {"input"};
  c.details =
      "Patterns name each FoV's files inside DIR: {id} (4 digits, 0003), {id:d} (3), {row}, {col}, {row:02d}, {col+1:03d},\n"
      "{id+1:03d} (Pos001 for id 0).\n"
      "ids follow the grid in --order (raster: row by row; snake: every other row backwards), as the microscope\n"
      "acquired them. Grid cells without a table are left out (holes in the mosaic), FoVs without a widefield are\n"
      "reconstructed from their localizations alone. Positions are nominal: col x (fov-um - overlap-um) and\n"
      "row x (fov-um - overlap-um) um; the stitch stage registers the overlaps. For measured stage positions,\n"
      "write them to a file of their own and name it in campaign.ini (positions = stage.csv; README \"Your own\n"
      "data as a campaign\"): --force rewrites positions.csv (other positions there are kept under another name).\n"
      "Example: annamosaic init-campaign data/run1 --rows 33 --cols 33 --fov-um 55.3 --overlap-um 5 \\\n"
      "           --table 'tables/r{row+1:02d}_c{col+1:02d}.csv' --widefield 'wf/r{row+1:02d}_c{col+1:02d}.tif'\n"
      "(names counted from 1: {row+1}; the grid counts from 0)";
  c.add_options = [](po::options_description& d) {
    d.add_options()
        ("input", po::value<std::string>()->required(), "the campaign folder")
        ("rows", po::value<int>()->required(), "grid rows")
        ("cols", po::value<int>()->required(), "grid columns")
        ("fov-um", po::value<double>()->required(), "side of each FoV's square field (um)")
        ("overlap-um", po::value<double>()->required(), "overlap between neighbouring FoVs (um)")
        ("order", po::value<std::string>()->default_value("raster"), "acquisition order of the ids: raster or snake")
        ("table", po::value<std::string>()->default_value("fov/{id}/locs.csv"), "localization table of each FoV (pattern)")
        ("widefield", po::value<std::string>()->default_value("fov/{id}/widefield.tif"), "widefield TIFF of each FoV (pattern)")
        ("no-widefield", po::bool_switch(), "the campaign has no widefield images")
        ("widefield-frames", po::value<std::string>()->default_value("3-5"), "widefield pages averaged")
        ("frame-base", po::value<int>()->default_value(-1), "the number the tables give the first camera frame, 0 or 1 "
                                                           "(-1: from the sampled tables, when they show it)")
        ("camera-pixel-nm", double_default(108.0), "camera pixel at the sample: the widefield's pixel, the unit of px "
                                                   "tables. Not given: the widefields' resolution tags when they fit "
                                                   "--fov-um, else 108 assumed for the widefield only (px tables need it given)")
        ("structure", po::value<std::string>()->default_value("microtubules"), "microtubules or nuclear-pores (the A-net's switch)")
        ("xy-unit", po::value<std::string>(), "unit of the tables' x, y when their header names none: nm, um or px "
                                              "(written to campaign.ini; default: nm)")
        ("columns", po::value<std::string>(), "the tables' column mapping ROLE=NAME,... (written to campaign.ini)")
        ("delimiter", po::value<std::string>(), "the tables' delimiter: auto, comma, tab or semicolon (written to campaign.ini)")
        ("name", po::value<std::string>(), "campaign name (default: the folder's)")
        ("force", po::bool_switch(), "replace an existing campaign.ini and positions.csv");
  };
  c.run = run_init_campaign;
  return c;
}

}  // namespace annamosaic::cli
