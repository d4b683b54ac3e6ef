#include "batch/campaign.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <numeric>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

#include "core/error.hpp"
#include "core/ini_text.hpp"
#include "core/numeric.hpp"
#include "core/input_file.hpp"
#include "core/text_list.hpp"
#include "imageio/tiff_io.hpp"
#include "loc/csv_reader.hpp"
#include "sim/grid.hpp"
#include "tiles/grid_fit.hpp"
#include "tiles/pairwise.hpp"
#include "tiles/tile_source.hpp"

namespace annamosaic {
namespace fs = std::filesystem;

namespace {
// campaign.ini holds one section, [campaign]; a key given twice or another section (a typo such as
// [Campaign]) is refused: the last value silently winning ran a campaign without its widefields.
std::map<std::string, std::pair<std::string, int>> read_ini_section(const std::string& path, const std::string& section) {
  require_regular_file(path, "campaign description");  // a pipe would block the open
  std::ifstream in(path);
  if (!in) {
    const int open_errno = errno;
    const fs::path dir = fs::path(path).parent_path();
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
      throw IoError(dir.string(), "is a file, not a campaign folder (the folder holding campaign.ini and positions.csv)");
    if (!fs::exists(dir, ec)) throw IoError(dir.string(), "no such campaign folder");
    if (!fs::exists(path, ec))
      throw IoError(path, "missing: every campaign folder has one (`annamosaic init-campaign " + dir.string() +
                              " ...` describes a folder of tables; `annamosaic simulate -o DIR` makes a campaign)");
    throw IoError(path, std::string("cannot open the campaign description: ") + std::strerror(open_errno));
  }
  const std::string text(std::istreambuf_iterator<char>(in), {});
  std::map<std::string, std::pair<std::string, int>> kv;
  for (const IniEntry& e : parse_ini_text(text, path)) {
    if (e.section != section)
      throw InputError(path, e.section.empty() ? "'" + e.key + "' before the [" + section + "] section"
                                               : "unknown section [" + e.section + "] (a campaign description has one: [" +
                                                     section + "])",
                       e.line);
    if (const auto it = kv.find(e.key); it != kv.end())
      throw InputError(path, fmt::format("'{}' is given twice (lines {} and {}): keep one", e.key, it->second.second, e.line),
                       e.line);
    kv[e.key] = {e.value, e.line};
  }
  return kv;
}
}  // namespace

std::string expand_pattern(const std::string& pattern, int id) {
  TileInfo t;
  t.id = id;
  return expand_tile_pattern(pattern, t);
}

std::string pattern_shared_by_fovs(const std::string& pattern, int rows, int cols) {
  if (static_cast<long long>(rows) * cols <= 1) return "";
  const bool has_id = pattern.find("{id") != std::string::npos, has_row = pattern.find("{row") != std::string::npos,
             has_col = pattern.find("{col") != std::string::npos;
  if (has_id || (has_row && has_col) || (has_row && cols == 1) || (has_col && rows == 1)) return "";
  return "'" + pattern + "' names " +
         (has_row || has_col ? std::string("one file for several FoVs (one per ") + (has_row ? "row" : "col") + ")"
                             : std::string("the same file for every FoV")) +
         ": use {id} (4 digits), {id:d}, or {row} and {col}";
}

std::string campaign_positions_path(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir + "/campaign.ini", ec)) {
    const CampaignInfo c = read_campaign(dir);  // its own errors, not a "missing" file it does not name
    return c.in_campaign(c.positions);
  }
  return dir + "/positions.csv";
}

CampaignInfo read_campaign(const std::string& dir) {
  const std::string path = dir + "/campaign.ini";
  auto kv = read_ini_section(path, "campaign");
  const auto given = kv;  // for the line of a key after get() took it
  const auto line_of = [&](const char* key) -> std::int64_t {
    const auto it = given.find(key);
    return it == given.end() ? 0 : it->second.second;
  };
  CampaignInfo c;
  c.dir = dir;
  // "fov_um", "FOV-um": the key meant, misspelt (said by its line, not as a missing key).
  const auto spelt_as = [&](const std::string& key) -> std::optional<std::pair<std::string, int>> {
    const auto plain = [](std::string k) {
      for (char& ch : k) ch = ch == '_' || ch == ' ' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      return k;
    };
    for (const auto& [k, v] : kv)
      if (k != key && plain(k) == key) return std::pair{k, v.second};
    return std::nullopt;
  };
  auto get = [&](const char* key, auto& dst, bool required) {
    auto it = kv.find(key);
    if (it == kv.end()) {
      if (const auto other = spelt_as(key))
        throw InputError(path, "'" + other->first + "': write it '" + key + "' (the keys are lower case, words joined by -)",
                         other->second);
      if (required) throw InputError(path, std::string("missing key '") + key + "' in [campaign]");
      return;
    }
    using T = std::decay_t<decltype(dst)>;
    if constexpr (std::is_same_v<T, std::string>) {
      dst = it->second.first;
    } else {
      std::istringstream s(it->second.first);
      if (!(s >> dst) || !(s >> std::ws).eof())
        throw InputError(path, std::string("bad value for '") + key + "': '" + it->second.first + "'", it->second.second);
    }
    kv.erase(it);
  };
  c.name.clear();
  get("name", c.name, false);
  if (c.name.empty()) {  // as init-campaign names it: the folder's name, not a generic "campaign"
    std::filesystem::path abs = std::filesystem::absolute(dir).lexically_normal();
    if (abs.filename().empty()) abs = abs.parent_path();
    c.name = abs.filename().empty() ? std::string("campaign") : abs.filename().string();
  }
  get("rows", c.rows, true);
  get("cols", c.cols, true);
  get("fov-um", c.fov_um, true);
  get("overlap-um", c.overlap_um, true);
  c.camera_pixel_nm_given = kv.count("camera-pixel-nm") > 0;
  get("camera-pixel-nm", c.camera_pixel_nm, false);
  get("structure", c.structure, false);
  get("switch-id", c.switch_id, false);
  get("frames", c.frames, false);
  if (const auto it = kv.find("frame-base"); it != kv.end() && it->second.first != "0" && it->second.first != "1")
    throw InputError(path, "frame-base must be 0 or 1 (the number the tables give the first camera frame), not '" +
                               it->second.first + "'", it->second.second);
  get("frame-base", c.frame_base, false);
  get("table", c.table_pattern, false);
  get("widefield", c.widefield_pattern, false);
  if (const auto it = kv.find("widefield-frames"); it != kv.end()) try {
      parse_page_range(it->second.first);  // a typo would make every FoV's widefield "ignored"
    } catch (const InputError& e) {
      throw InputError(path, "widefield-frames = " + it->second.first + ": " +
                                 e.message(), it->second.second);
    }
  get("widefield-frames", c.widefield_frames, false);
  get("positions", c.positions, false);
  // The table-reading keys, checked here (a typo found by the first FoV would fail them all).
  for (const auto& [key, dst] : {std::pair<const char*, std::string*>{"xy-unit", &c.xy_unit}, {"columns", &c.columns},
                                 {"delimiter", &c.delimiter}}) {
    const auto it = kv.find(key);
    if (it == kv.end()) continue;
    const auto [value, line] = it->second;
    // Kept in the canonical spelling (loc/csv_reader.hpp), so that "," here and --delimiter comma agree.
    *dst = value;
    if (std::string(key) == "xy-unit") {
      const auto unit = parse_xy_unit(value);
      if (!unit)
        throw InputError(path, "xy-unit must be nm, um or px (the unit of table coordinates whose header names none), not '" +
                                   value + "'", line);
      *dst = xy_unit_name(*unit);
    } else if (std::string(key) == "delimiter") {
      const auto d = parse_delimiter(value);
      if (!d) throw InputError(path, "delimiter must be auto, comma, tab or semicolon, not '" + value + "'", line);
      *dst = *d ? delimiter_name(*d) : "";  // auto: as if not given
    } else {
      try {
        parse_column_mapping(value);
      } catch (const InputError& e) {
        throw InputError(path, "columns: " + e.message(), line);
      }
    }
    kv.erase(it);
  }
  // An empty pattern names the campaign folder for every FoV, one without {id}/{row}/{col} one
  // file for all: every FoV would fail, or all reconstruct the same data (probe47: `widefield =`).
  for (const auto& [key, pattern] : {std::pair<const char*, const std::string*>{"table", &c.table_pattern},
                                     {"widefield", &c.widefield_pattern}}) {
    if (pattern->empty())
      throw InputError(path, std::string(key) + " is empty: give the pattern of each FoV's file (e.g. fov/{id}/" +
                                 (std::string(key) == "table" ? "locs.csv" : "widefield.tif") + ")" +
                                 (std::string(key) == "widefield" ? ", or none for a campaign without widefields" : ""),
                       line_of(key));
    if (std::string(key) == "widefield" && *pattern == "none") continue;
    try {
      expand_tile_pattern(*pattern, TileInfo{});  // an unknown field ({ID}) or an unmatched brace, by line
    } catch (const std::exception& e) {
      throw InputError(path, std::string(key) + " = " + *pattern + ": " + e.what(), line_of(key));
    }
    if (const std::string why = pattern_shared_by_fovs(*pattern, c.rows, c.cols); !why.empty())
      throw InputError(path, std::string(key) + " = " + why, line_of(key));
  }
  if (c.positions.empty()) throw InputError(path, "positions is empty: give the positions file (default positions.csv)", line_of("positions"));
  std::string order, off_grid;
  get("order", order, false);
  get("off-grid", off_grid, false);
  if (!kv.empty()) throw InputError(path, "unknown key '" + kv.begin()->first + "' in [campaign]", kv.begin()->second.second);
  if (c.rows < 1 || c.cols < 1) throw InputError(path, "rows and cols must be >= 1");
  // As init-campaign and simulate refuse them: past these the run would fail late (the QC report
  // of a 100,000 x 100,000 grid) or silently (an overlap as wide as the FoV blends to nothing).
  if (const long long n = static_cast<long long>(c.rows) * c.cols; n > kMaxGridFovs)
    throw InputError(path, fmt::format("rows x cols = {} x {} = {} FoVs, more than the {} a campaign may have", c.rows, c.cols, n,
                                       kMaxGridFovs), line_of("rows"));
  if (!(c.fov_um > 0) || c.fov_um > kMaxFovUm)
    throw InputError(path, fmt::format("fov-um must be > 0 and at most {:g} (um: a FoV's edge at the sample), not {:g}", kMaxFovUm, c.fov_um),
                     line_of("fov-um"));
  if (!(c.overlap_um >= 0) || !(c.overlap_um < c.fov_um))
    throw InputError(path, fmt::format("overlap-um must be >= 0 and less than fov-um ({:g} um), not {:g} (um, not nm or pixels)",
                                       c.fov_um, c.overlap_um), line_of("overlap-um"));
  if (c.camera_pixel_nm_given && !(c.camera_pixel_nm > 0 && std::isfinite(c.camera_pixel_nm)))
    throw InputError(path, fmt::format("camera-pixel-nm must be > 0 (the camera pixel at the sample, in nm: often 100-160), not {:g}",
                                       c.camera_pixel_nm), line_of("camera-pixel-nm"));
  if (const std::string slip = c.camera_pixel_nm_given ? camera_pixel_slip(c.camera_pixel_nm) : ""; !slip.empty())
    throw InputError(path, "camera-pixel-nm " + slip, line_of("camera-pixel-nm"));
  if (c.frames < 0) throw InputError(path, fmt::format("frames must be >= 0 (0: unknown), not {}", c.frames), line_of("frames"));
  if (!order.empty() && order != "raster" && order != "snake")
    throw InputError(path, "order must be raster or snake (how the FoVs were acquired; said, not used), not '" + order + "'",
                     line_of("order"));
  if (!off_grid.empty()) {
    std::string error;
    const std::optional<bool> place = off_grid_place(off_grid, &error);
    if (!place) throw InputError(path, error, line_of("off-grid"));
    c.place_off_grid = *place;
  }
  return c;
}

namespace {
// The positions must fit the campaign's grid and geometry: a FoV outside the declared rows and
// cols or positions in nm instead of um would give a wrong mosaic (errors); rows or cols that
// run against y or x are allowed (the stitcher uses the signed offsets) but said (warnings).
void check_grid(const std::string& path, const CampaignInfo& c, const std::vector<TileInfo>& tiles,
                std::vector<std::string>* warnings) {
  std::map<std::pair<int, int>, const TileInfo*> at;
  int min_row = INT_MAX, min_col = INT_MAX, max_row = INT_MIN, max_col = INT_MIN;
  for (const TileInfo& t : tiles)
    min_row = std::min(min_row, t.row), min_col = std::min(min_col, t.col), max_row = std::max(max_row, t.row),
    max_col = std::max(max_col, t.col);
  // Numbered from 1 (as a microscope's file names often are): said, with the fix.
  const bool from_one = min_row >= 1 && min_col >= 1 && max_row <= c.rows && max_col <= c.cols;
  for (const TileInfo& t : tiles) {
    if (t.row < 0 || t.row >= c.rows || t.col < 0 || t.col >= c.cols)
      throw InputError(path, fmt::format("FoV {} at row {} col {} is outside the campaign's {} x {} grid (campaign.ini rows, "
                                         "cols; rows and cols count from 0){}",
                                         t.id, t.row, t.col, c.rows, c.cols,
                                         from_one ? ": every row and col here is 1 or more, as if counted from 1; subtract 1 "
                                                    "from each"
                                                  : ""));
    at[{t.row, t.col}] = &t;
  }
  const double pitch_um = c.fov_um - c.overlap_um;
  std::vector<double> dist, dx, dy;  // grid neighbours: distance; steps along a row and down a column
  std::vector<double> across_row, across_col;  // the same steps' other component (|y| along a row)
  // Steps along a row and down a column, along the axis the pair overlaps on (the larger component:
  // a stage error across it does not narrow the overlap, as the diagonal did; a swapped grid's steps
  // still measure their overlap, its swap said below).
  std::vector<double> row_dist, col_dist;
  for (const auto& [cell, t] : at) {
    if (auto r = at.find({cell.first, cell.second + 1}); r != at.end()) {
      dx.push_back(r->second->x_um - t->x_um), dist.push_back(std::hypot(r->second->x_um - t->x_um, r->second->y_um - t->y_um));
      across_row.push_back(std::abs(r->second->y_um - t->y_um));
      row_dist.push_back(std::max(std::abs(dx.back()), across_row.back()));
    }
    if (auto d = at.find({cell.first + 1, cell.second}); d != at.end()) {
      dy.push_back(d->second->y_um - t->y_um), dist.push_back(std::hypot(d->second->x_um - t->x_um, d->second->y_um - t->y_um));
      across_col.push_back(std::abs(d->second->x_um - t->x_um));
      col_dist.push_back(std::max(std::abs(dy.back()), across_col.back()));
    }
  }
  if (dist.empty() || !(pitch_um > 0)) return;
  const double m = median(dist);
  // Beyond 3x either way no stage error explains it; camera pixels (65-160 nm) are 6-15x, nm 1000x.
  if (m > 3 * pitch_um || m < pitch_um / 3) {
    // One FoV's position mistyped in a small grid (28 for 2.8) moves the median of a 2 x 2 grid's
    // four steps: when every step without that FoV fits the pitch and each of its own is off by
    // more than 3x, it is named (probe99: the units were blamed).
    // The steps once: those that do not fit the pitch must all touch one FoV (at most 4 steps).
    struct Step {
      const TileInfo* a;
      const TileInfo* b;
      double um;
    };
    std::vector<Step> misfit;
    bool others_fit = true;  // the steps that are not misfits are all within 1.5x of the pitch
    for (const auto& [cell, t] : at)
      for (const auto& [dr, dc] : {std::pair{0, 1}, std::pair{1, 0}})
        if (const auto n = at.find({cell.first + dr, cell.second + dc}); n != at.end()) {
          const double d = std::max(std::abs(n->second->x_um - t->x_um), std::abs(n->second->y_um - t->y_um));
          if (d > 3 * pitch_um || d < pitch_um / 3) misfit.push_back({t, n->second, d});
          else others_fit = others_fit && d <= 1.5 * pitch_um && d >= pitch_um / 1.5;
        }
    if (others_fit && !misfit.empty() && misfit.size() <= 4 && misfit.size() < dist.size())
      for (const TileInfo* t : {misfit[0].a, misfit[0].b})
        if (std::all_of(misfit.begin(), misfit.end(), [&](const Step& st) { return st.a == t || st.b == t; })) {
          std::vector<double> own;
          for (const Step& st : misfit) own.push_back(st.um);
          throw InputError(path, fmt::format("FoV {} (row {}, col {}) at x {:g}, y {:g} um is {:.4g} um from its grid "
                                             "neighbours, while every other step is within 1.5x of fov-um - overlap-um = "
                                             "{:.4g} um: a mistyped position?",
                                             t->id, t->row, t->col, t->x_um, t->y_um, median(own), pitch_um));
        }
    throw InputError(path, fmt::format("neighbouring FoVs (by row and col) are a median {:.4g} um apart ({:.4g} x), but "
                                       "fov-um - overlap-um = {:.4g} um: positions in another unit (nm, or camera or "
                                       "stage pixels?), or wrong fov-um / overlap-um in campaign.ini",
                                       m, m / pitch_um, pitch_um));
  }
  std::string placed;
  if (const std::string refusal = misfit_refusal(tiles, grid_misfits(tiles), c.place_off_grid,
                                                 "set off-grid = place in " + c.dir + "/campaign.ini", &placed);
      !refusal.empty())
    throw InputError(path, refusal);
  if (!placed.empty() && warnings) warnings->push_back(path + ": " + placed);
  if (!warnings) return;
  // The overlap the positions give, against campaign.ini's: overlap-um sets the blending ramp
  // (0 made a flat 50/50 average with a step at each edge), and none at all leaves gaps. Said once
  // for the axes that agree.
  std::vector<std::string> gap_axes, other_axes;
  double gap_step = 0, other_step = 0;
  for (const auto& [steps, axis] : {std::pair{&row_dist, "along the rows"}, std::pair{&col_dist, "down the columns"}}) {
    if (steps->empty()) continue;
    const double step = median(*steps), given_um = c.fov_um - step;
    if (given_um <= 0 && (c.overlap_um > 0 || given_um < -0.1))
      gap_axes.push_back(axis), gap_step = std::max(gap_step, step);
    else if (given_um > 0 && overlaps_disagree(given_um, c.overlap_um))
      other_axes.push_back(axis), other_step = std::max(other_step, step);
  }
  if (!gap_axes.empty())
    warnings->push_back(fmt::format("{}: neighbouring FoVs are a median {:.4g} um apart {}, and a FoV is {:.4g} um wide: "
                                    "the positions leave no overlap (a gap of {:.3g} um): those neighbours register only "
                                    "where the stage's error made an overlap (looked for within --search-um, at full "
                                    "resolution), the others are placed by the stage alone, with gaps between them "
                                    "(campaign.ini's overlap-um: {:g})",
                                    path, gap_step, fmt::join(gap_axes, " and "), c.fov_um, gap_step - c.fov_um, c.overlap_um));
  if (!other_axes.empty())
    warnings->push_back(fmt::format("{}: neighbouring FoVs are a median {:.4g} um apart {}, an overlap of {:.3g} um, but "
                                    "campaign.ini's overlap-um is {:g}: registration looks where the positions say, blending "
                                    "ramps over overlap-um; set overlap-um = {:.3g} if the positions are right",
                                    path, other_step, fmt::join(other_axes, " and "), c.fov_um - other_step, c.overlap_um,
                                    c.fov_um - other_step));
  // A step to the next col that goes mostly in y (and to the next row mostly in x): the x_um and
  // y_um columns swapped, or rows and cols. Used as given: the overlaps are looked for where the
  // positions put them, which is right only if the positions are.
  std::vector<double> along_row, along_col;
  for (double v : dx) along_row.push_back(std::abs(v));
  for (double v : dy) along_col.push_back(std::abs(v));
  const bool row_in_y = !dx.empty() && median(across_row) > median(along_row);
  const bool col_in_x = !dy.empty() && median(across_col) > median(along_col);
  if ((row_in_y || dx.empty()) && (col_in_x || dy.empty()) && (row_in_y || col_in_x)) {
    warnings->push_back(fmt::format("{}: the step to the next {} goes mostly in {} (median {:.4g} um, against {:.4g} um in {}): "
                                    "x_um and y_um swapped, or rows and cols? Used as given (the mosaic follows the "
                                    "positions); if the overlaps then do not register, swap them",
                                    path, row_in_y ? "col" : "row", row_in_y ? "y" : "x",
                                    row_in_y ? median(across_row) : median(across_col),
                                    row_in_y ? median(along_row) : median(along_col), row_in_y ? "x" : "y"));
    return;  // the signs below are of the swapped axes: not worth a second warning
  }
  for (const auto& [steps, axis, along] : {std::tuple{&dx, "x_um", "col"}, std::tuple{&dy, "y_um", "row"}})
    if (!steps->empty() && median(*steps) < 0)
      warnings->push_back(fmt::format("{}: {} decreases as {} increases (median step {:.4g} um); the mosaic follows the "
                                      "positions, so this is fine if the stage axis points that way",
                                      path, axis, along, median(*steps)));
}
}  // namespace

namespace {
// A pattern component ("r{row:02}_c{col:02}.csv") as a regular expression: its fields any number.
std::regex component_regex(const std::string& component) {
  std::string re;
  for (std::size_t i = 0; i < component.size(); ++i) {
    if (component[i] == '{') {
      const std::size_t close = component.find('}', i);
      if (close == std::string::npos) break;
      re += "-?[0-9]+";
      i = close;
    } else {
      if (std::string("\\^$.|?*+()[]{}").find(component[i]) != std::string::npos) re += '\\';
      re += component[i];
    }
  }
  return std::regex(re);
}
}  // namespace

std::vector<std::string> unlisted_tables(const CampaignInfo& c, const std::vector<FovEntry>& plan) {
  // Tables kept outside the campaign folder (an absolute pattern) are not searched for.
  if (!c.table_pattern.empty() && c.table_pattern[0] == '/') return {};
  std::vector<std::string> components;
  for (const auto& part : fs::path(c.table_pattern)) components.push_back(part.string());
  // Folders matched so far (relative to the campaign); bounded: a campaign folder holds the FoVs,
  // not a file system to search.
  constexpr std::size_t kMaxEntries = 200000;
  std::size_t seen = 0;
  std::vector<std::string> dirs = {""};
  for (std::size_t k = 0; k < components.size() && !dirs.empty(); ++k) {
    const std::string& comp = components[k];
    const bool last = k + 1 == components.size();
    std::vector<std::string> next;
    if (comp.find('{') == std::string::npos) {
      for (const std::string& d : dirs) next.push_back(d.empty() ? comp : d + "/" + comp);
    } else {
      const std::regex re = component_regex(comp);
      for (const std::string& d : dirs) {
        std::error_code ec;
        for (fs::directory_iterator it(c.dir + "/" + d, ec), end; !ec && it != end; it.increment(ec)) {
          if (++seen > kMaxEntries) return {};
          const std::string name = it->path().filename().string();
          std::error_code e2;
          if ((last ? it->is_regular_file(e2) : it->is_directory(e2)) && std::regex_match(name, re))
            next.push_back(d.empty() ? name : d + "/" + name);
        }
      }
    }
    dirs = std::move(next);
  }
  std::set<std::string> listed;
  for (const FovEntry& f : plan) listed.insert(fs::path(f.table_path).lexically_normal().string());
  std::vector<std::string> out;
  for (const std::string& rel : dirs) {
    std::error_code ec;
    if (!fs::is_regular_file(c.dir + "/" + rel, ec)) continue;
    if (!listed.count(fs::path(c.dir + "/" + rel).lexically_normal().string())) out.push_back(rel);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string unlisted_tables_warning(const CampaignInfo& c, const std::vector<std::string>& extra) {
  if (extra.empty()) return "";
  std::string names;
  for (std::size_t i = 0; i < extra.size() && i < 3; ++i) names += (i ? ", " : "") + extra[i];
  if (extra.size() > 3) names += ", ...";
  return fmt::format("{}: {} table(s) match the campaign's tables ({}) but {} lists no FoV for them, so they are not "
                     "run: {} (a FoV added after the campaign was made? add its row to {}, or rerun `annamosaic "
                     "init-campaign --force` with the grid's full --rows / --cols, or the other --order if the ids "
                     "follow it)",
                     c.dir, extra.size(), c.table_pattern, c.positions, names, c.positions);
}

bool table_acquired(const FovEntry& f) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(f.table_path, ec));
}

std::vector<FovEntry> plan_fovs(const CampaignInfo& c, std::vector<std::string>* warnings) {
  const std::string path = c.in_campaign(c.positions);
  const std::vector<TileInfo> tiles = read_positions_csv(path);  // header by name, duplicates refused
  check_grid(path, c, tiles, warnings);
  std::vector<FovEntry> out;
  for (const TileInfo& t : tiles) {
    FovEntry f;
    f.id = t.id, f.row = t.row, f.col = t.col, f.x_um = t.x_um, f.y_um = t.y_um;
    f.table_path = c.in_campaign(expand_tile_pattern(c.table_pattern, t));
    if (c.has_widefields()) {
      const std::string wf = c.in_campaign(expand_tile_pattern(c.widefield_pattern, t));
      if (fs::exists(wf)) f.widefield_path = wf;
    }
    std::error_code ec;
    const auto size = fs::file_size(f.table_path, ec);
    f.cost = ec ? 0 : size;
    out.push_back(f);
  }
  if (warnings)
    if (std::string w = unlisted_tables_warning(c, unlisted_tables(c, out)); !w.empty()) warnings->push_back(std::move(w));
  return out;
}

std::vector<std::size_t> largest_first(const std::vector<FovEntry>& fovs) {
  std::vector<std::size_t> idx(fovs.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
    return fovs[a].cost != fovs[b].cost ? fovs[a].cost > fovs[b].cost : fovs[a].id < fovs[b].id;
  });
  return idx;
}

std::string camera_pixel_slip(double nm) {
  if (!(nm > 0) || (nm >= 10.0 && nm <= 10000.0)) return "";  // <= 0: refused as such where read
  if (nm < 10.0)
    return fmt::format("{:g} is below 10 nm, finer than any camera pixel at the sample (the finest are ~30 nm): is the value "
                       "in um? Give nm ({:g} um is {:g} nm)",
                       nm, nm, nm * 1000.0);
  // Most often the sensor's own pixel (6.5-24 um) not divided by the magnification.
  return fmt::format("{:g} is above 10000 nm (10 um), coarser than a camera pixel at the sample even behind a 4x objective "
                     "(~1600 nm): is it the sensor's own pixel? Divide it by the magnification at the camera (e.g. "
                     "{:g} / 100 = {:g} nm){}",
                     nm, nm, nm / 100.0,
                     nm >= 1e5 ? fmt::format("; or is the value in pm ({:g} pm is {:g} nm)?", nm, nm / 1000.0) : std::string());
}

std::string widefield_extent_mismatch(std::size_t width_px, std::size_t height_px, double camera_pixel_nm, double fov_um,
                                      bool camera_pixel_nm_given) {
  const double w_um = static_cast<double>(width_px) * camera_pixel_nm / 1000.0;
  const double h_um = static_cast<double>(height_px) * camera_pixel_nm / 1000.0;
  const auto off = [&](double um) { return std::abs(um - fov_um) > 0.1 * fov_um; };
  if (!(fov_um > 0) || (!off(w_um) && !off(h_um))) return "";
  // Under 90% of the FoV a widefield is not given to the A-net at all (fov_processor).
  const std::string unused = std::min(w_um, h_um) < 0.9 * fov_um
                                 ? ": so short of the FoV, none is registered nor given to the A-net (each FoV says "
                                   "'widefield ignored')"
                                 : "";
  // Not square while the FoVs are: no camera pixel fits both sides, so none is suggested.
  const double aspect = static_cast<double>(std::max(width_px, height_px)) / static_cast<double>(std::max<std::size_t>(1, std::min(width_px, height_px)));
  if (aspect > 1.1)
    return fmt::format("widefield images of {} x {} px at camera-pixel-nm {}{} cover {:.3g} x {:.3g} um, but the FoVs are "
                       "square, {:.3g} um a side (fov-um): a camera ROI cropped on one side? The widefield is taken to cover "
                       "its size from the FoV's origin, and the rest of the field has none (registration may fail: QC then "
                       "flags the FoVs){}",
                       width_px, height_px, camera_pixel_nm, camera_pixel_nm_given ? "" : " (the default)", w_um, h_um, fov_um,
                       unused);
  return fmt::format("widefield images of {} x {} px at camera-pixel-nm {}{} cover {:.3g} x {:.3g} um, the FoVs {:.3g} um "
                     "(fov-um): check camera-pixel-nm (campaign.ini, or run's --camera-pixel-nm: the camera pixel at the sample: {:.4g} nm would fit), "
                     "fov-um, or how the widefield was cropped. A widefield scaled wrongly registers poorly or falsely, and "
                     "one given to the A-net out of scale misleads it: fix the scale, then run into a new output folder{}",
                     width_px, height_px, camera_pixel_nm, camera_pixel_nm_given ? "" : " (the default)", w_um, h_um, fov_um,
                     fov_um * 1000.0 / static_cast<double>(std::max(width_px, height_px)), unused);
}

bool widefield_read_at_tag(std::size_t width_px, std::size_t height_px, double tag_nm, double camera_pixel_nm, double fov_um) {
  const double fov_nm = fov_um * 1000.0;
  const auto spans = [&](double px_nm) {
    return std::abs(static_cast<double>(width_px) * px_nm - fov_nm) <= 0.05 * fov_nm &&
           std::abs(static_cast<double>(height_px) * px_nm - fov_nm) <= 0.05 * fov_nm;
  };
  // Binned: the tags' pixel a whole multiple of camera-pixel-nm. Tags that disagree otherwise (the
  // pixel given against the tags for every widefield) leave the given pixel in force.
  const double ratio = camera_pixel_nm > 0 ? tag_nm / camera_pixel_nm : 0;
  const double k = std::round(ratio);
  const bool binned = k >= 2 && k <= 8 && std::abs(ratio - k) < 0.02 * k;
  return tag_nm > 0 && binned && spans(tag_nm) && !spans(camera_pixel_nm);
}

std::vector<std::string> widefield_size_warnings(const std::vector<WidefieldSize>& all_sizes, double camera_pixel_nm,
                                                 double fov_um, bool camera_pixel_nm_given) {
  std::vector<std::string> out;
  // Those read at their tags' pixel span the FoV: said apart, not judged by camera-pixel-nm.
  std::vector<WidefieldSize> sizes;
  std::vector<std::string> at_tag;
  for (const WidefieldSize& s : all_sizes)
    if (widefield_read_at_tag(s.width_px, s.height_px, s.tag_nm, camera_pixel_nm, fov_um))
      at_tag.push_back(fmt::format("FoV {} ({} x {} at {:g} nm)", s.id, s.width_px, s.height_px, s.tag_nm));
    else
      sizes.push_back(s);
  if (!at_tag.empty())
    out.push_back(fmt::format("{} widefield(s) are read at their resolution tags' pixel, with which they span the FoV, "
                              "a whole multiple of camera-pixel-nm {:g} (binned): {}",
                              at_tag.size(), camera_pixel_nm, first_items(at_tag, 10)));
  if (sizes.empty()) return out;
  std::map<std::pair<std::size_t, std::size_t>, std::size_t> count;
  for (const WidefieldSize& s : sizes) ++count[{s.width_px, s.height_px}];
  const auto common = std::max_element(count.begin(), count.end(), [](const auto& a, const auto& b) { return a.second < b.second; })->first;
  if (std::string w = widefield_extent_mismatch(common.first, common.second, camera_pixel_nm, fov_um, camera_pixel_nm_given); !w.empty())
    out.push_back(count.size() == 1 ? "every FoV's " + w
                                    : fmt::format("the widefields of {} of the {} FoVs: {}", count[common], sizes.size(), w));
  std::vector<std::string> odd;
  for (const WidefieldSize& s : sizes)
    if (std::make_pair(s.width_px, s.height_px) != common)
      odd.push_back(fmt::format("FoV {} ({} x {})", s.id, s.width_px, s.height_px));
  if (!odd.empty()) {
    out.push_back(fmt::format("{} of {} widefields are not {} x {} px like the others ({}): another camera ROI or binning? "
                              "Each is taken to cover its size x camera-pixel-nm from the FoV's origin (its tags' pixel where "
                              "that spans the FoV); one that covers under 90% of the FoV is not given to the A-net",
                              odd.size(), sizes.size(), common.first, common.second, first_items(odd, 10)));
  }
  return out;
}

}  // namespace annamosaic
