#include "batch/campaign_init.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "batch/campaign.hpp"
#include "core/error.hpp"
#include "core/ini_text.hpp"
#include "sim/grid.hpp"
#include "sim/specimen.hpp"
#include "tiles/tile_source.hpp"

namespace annamosaic {
namespace {
// The same name with another common extension of its kind (table or image), when the folder has it
// (FoV_002.tiff beside a pattern's FoV_002.tif; acquisition software is not always consistent): ""
// otherwise.
std::string under_another_extension(const std::string& path, const std::function<bool(const std::string&)>& exists,
                                    bool other_letters_too) {
  const std::size_t dot = path.find_last_of('.'), slash = path.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  const std::string stem = path.substr(0, dot), ext = path.substr(dot);
  // Within one family: a table's name with an image's extension is its widefield, not a table.
  const std::vector<std::string> tables = {".csv", ".txt", ".tsv", ".dat", ".CSV", ".TXT"},
                                  images = {".tif", ".tiff", ".TIF", ".TIFF"};
  const auto lower = [](std::string x) {
    for (char& ch : x) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return x;
  };
  for (const auto* family : {&tables, &images})
    if (std::find(family->begin(), family->end(), ext) != family->end())
      for (const std::string& e : *family)
        // The pattern's own extension in other letters only where its file is missing: beside it,
        // on a case-insensitive share, it is that same file.
        if (e != ext && (other_letters_too || lower(e) != lower(ext)) && exists(stem + e)) return stem + e;
  return "";
}

// "N ... (a for b, ...)": up to 3 pairs.
std::string pairs_text(const std::vector<std::pair<std::string, std::string>>& pairs, const char* link) {
  std::string out;
  for (std::size_t i = 0; i < pairs.size() && i < 3; ++i) out += (i ? ", " : "") + pairs[i].first + link + pairs[i].second;
  return out + (pairs.size() > 3 ? ", ..." : "");
}
}  // namespace

CampaignInitPlan plan_campaign_init(const CampaignInitOptions& o, const std::function<bool(const std::string&)>& exists) {
  GridOptions g;
  g.rows = o.rows, g.cols = o.cols, g.fov_um = o.fov_um, g.overlap_um = o.overlap_um;
  g.order = parse_grid_order(o.order);
  g.jitter_um = 0;
  const std::vector<FovPlacement> grid = make_grid(g);  // refuses an empty grid or overlap >= fov
  const Structure structure = parse_structure(o.structure);
  if (!(o.camera_pixel_nm > 0)) throw InputError("--camera-pixel-nm", "must be > 0");
  // Each FoV needs its own files: a pattern without {id}, {row} or {col} names one file for all.
  for (const auto& [option, pattern] : {std::pair{"--table", o.table_pattern}, std::pair{"--widefield", o.widefield_pattern}}) {
    if (pattern.empty() && std::string(option) == "--widefield") continue;
    try {
      expand_tile_pattern(pattern, TileInfo{});  // a field it does not know ({rowx}) is said as such
    } catch (const std::exception& e) {
      throw InputError(option, e.what());
    }
    if (const std::string why = pattern_shared_by_fovs(pattern, o.rows, o.cols); !why.empty()) throw InputError(option, why);
  }
  // The table's pattern given again as the widefield's (a slip when copying the command): every
  // widefield would be a table, ignored FoV by FoV by run while it reports success (probe64).
  if (!o.widefield_pattern.empty() && o.widefield_pattern == o.table_pattern)
    throw InputError("--widefield", "'" + o.widefield_pattern + "' names the same files as --table: give the widefield TIFFs' "
                                    "pattern, or --no-widefield");

  CampaignInitPlan plan;
  std::vector<std::string> missing_widefields;
  // Files under another extension than the pattern's: in place of a missing one, or beside a found
  // table (two tables for one FoV: the pattern's is used, the other may be the one meant).
  std::vector<std::pair<std::string, std::string>> other_table, other_widefield, second_table;
  for (const FovPlacement& p : grid) {
    TileInfo t;
    t.id = p.id, t.row = p.row, t.col = p.col, t.x_um = p.nominal_x_um, t.y_um = p.nominal_y_um;
    const std::string table = expand_tile_pattern(o.table_pattern, t);
    const bool table_there = exists(table);
    const std::string other = under_another_extension(table, exists, !table_there);
    if (!table_there) {
      plan.missing_tables.push_back(table);
      if (!other.empty()) other_table.push_back({other, table});
      continue;
    }
    if (!other.empty()) second_table.push_back({other, table});
    InitFov f;
    f.id = p.id, f.row = p.row, f.col = p.col, f.x_um = p.nominal_x_um, f.y_um = p.nominal_y_um;
    f.table = table;
    if (!o.widefield_pattern.empty()) {
      const std::string wf = expand_tile_pattern(o.widefield_pattern, t);
      if (exists(wf)) f.widefield = wf, ++plan.widefields;
      else {
        missing_widefields.push_back(wf);
        if (const std::string alt = under_another_extension(wf, exists, true); !alt.empty()) other_widefield.push_back({alt, wf});
      }
    }
    plan.fovs.push_back(f);
  }
  std::sort(plan.fovs.begin(), plan.fovs.end(), [](const InitFov& a, const InitFov& b) { return a.id < b.id; });
  if (!other_table.empty())
    plan.warnings.push_back(fmt::format("{} grid cell(s) without a table '{}' have a file of that name under another "
                                        "extension ({}): not used; rename them to one extension, or give --table with theirs",
                                        other_table.size(), o.table_pattern, pairs_text(other_table, " for ")));
  if (!other_widefield.empty())
    plan.warnings.push_back(fmt::format("{} FoV(s) without a widefield '{}' have a file of that name under another "
                                        "extension ({}): not used; rename them to one extension, or give --widefield with "
                                        "theirs",
                                        other_widefield.size(), o.widefield_pattern, pairs_text(other_widefield, " for ")));
  if (!second_table.empty())
    plan.warnings.push_back(fmt::format("{} FoV(s) have a second file of their table's name under another extension ({}): "
                                        "the pattern's is used; is it the one meant?",
                                        second_table.size(), pairs_text(second_table, " beside ")));
  if (plan.fovs.empty())
    // Not an option's typo alone: the folder may be the wrong one, so a data error (exit 2).
    throw NoTableFound(o.table_pattern, fmt::format("the table pattern matches no file in the folder for any of the {} x {} grid's "
                                                  "FoVs (looked for {}{}){}",
                                            o.rows, o.cols, plan.missing_tables.front(),
                                            plan.missing_tables.size() > 1 ? ", " + plan.missing_tables.back() + " ..." : "",
                                            other_table.empty() ? std::string()
                                                                : fmt::format("; {} of them under another extension ({}): "
                                                                              "give --table with theirs",
                                                                              other_table.size(), pairs_text(other_table, " for "))));
  // Names counted from 1 where the pattern counts from 0 (or the other way round): more cells
  // would find a table with every row, col and id one higher (lower). Refused when that finds
  // every cell and the pattern misses a whole row's worth (the tables found would sit one cell
  // off: probe72's file of cell (0,0) written at (1,1)); said when it misses fewer (a sub-grid of
  // a larger acquisition with a table missing looks alike: probe75).
  if (!plan.missing_tables.empty())
    for (const int shift : {1, -1}) {
      std::size_t found = 0;
      for (const FovPlacement& p : grid) {
        TileInfo t;
        t.id = p.id + shift, t.row = p.row + shift, t.col = p.col + shift;
        found += exists(expand_tile_pattern(o.table_pattern, t));
      }
      if (found <= plan.fovs.size()) continue;
      const std::string said = fmt::format(
          "'{}' finds a table for {} of the {} grid cells, but {} with every row, col and id counted one {}",
          o.table_pattern, plan.fovs.size(), grid.size(), found, shift > 0 ? "higher" : "lower");
      const std::string fix = fmt::format("write the pattern with {} (e.g. {})",
                                          shift > 0 ? "{row+1}, {col+1}, {id+1}" : "{row}, {col}, {id} (not +1)",
                                          shift > 0 ? "{row+1:02d}" : "{row:02d}");
      const std::size_t missed = grid.size() - plan.fovs.size();
      if (found == grid.size() && missed >= std::max<std::size_t>(2, static_cast<std::size_t>(std::min(o.rows, o.cols))))
        throw InputError("--table", fmt::format("{}: the file names are counted from {}, and the tables found would sit one "
                                                "cell off. Then {}; nothing was written",
                                                said, shift > 0 ? 1 : 0, fix));
      plan.warnings.push_back(fmt::format("{}: are the file names counted from {}? Then {}", said, shift > 0 ? 1 : 0, fix));
    }
  // How many cells of another grid (other order, rows and cols swapped) the table pattern finds.
  const auto tables_found_in = [&](const GridOptions& other) {
    std::size_t found = 0;
    for (const FovPlacement& p : make_grid(other)) {
      TileInfo t;
      t.id = p.id, t.row = p.row, t.col = p.col;
      found += exists(expand_tile_pattern(o.table_pattern, t));
    }
    return found;
  };
  // Names with both the id and the row or col, where the other acquisition order (snake vs raster)
  // gives ids that match more of them: the FoVs were acquired in that order (probe64: half the
  // FoVs left out, and a hint to add rows to positions.csv). Refused, as a turned grid is below: a
  // campaign that misses a part of its FoVs is not written.
  if (!plan.missing_tables.empty() && o.table_pattern.find("{id") != std::string::npos &&
      (o.table_pattern.find("{row") != std::string::npos || o.table_pattern.find("{col") != std::string::npos) && o.rows > 1) {
    GridOptions other = g;
    other.order = g.order == GridOrder::Snake ? GridOrder::Raster : GridOrder::Snake;
    const auto name = [](GridOrder order) { return order == GridOrder::Snake ? "snake" : "raster"; };
    if (const std::size_t found = tables_found_in(other); found > plan.fovs.size())
      throw InputError("--order", fmt::format("'{}' finds a table for {} of the {} grid cells in {} order, but {} in {} order "
                                              "(the ids follow the acquisition order): the FoVs were acquired in {} order; give "
                                              "--order {}. Nothing was written",
                                              o.table_pattern, plan.fovs.size(), grid.size(), name(g.order), found,
                                              name(other.order), name(other.order), name(other.order)));
  }
  // Files for a row, col or id beyond the grid: --rows / --cols too small, or ids counted otherwise.
  bool beyond_grid = false;
  for (const auto& [what, r, c, id] : {std::tuple{"row", o.rows, 0, -1}, std::tuple{"col", 0, o.cols, -1},
                                       std::tuple{"id", 0, 0, o.rows * o.cols}}) {
    if (o.table_pattern.find(std::string("{") + what) == std::string::npos) continue;
    TileInfo t;
    t.row = r, t.col = c, t.id = id >= 0 ? id : r * o.cols + c;
    const std::string beyond = expand_tile_pattern(o.table_pattern, t);
    if (exists(beyond))
      beyond_grid = true, plan.warnings.push_back(fmt::format("{} exists but lies beyond the {} x {} grid ({} {}): are --rows and --cols right?", beyond,
                                          o.rows, o.cols, what, id >= 0 ? id : std::string(what) == "row" ? r : c));
  }
  // Files beyond the grid and holes inside it, where the grid turned round (--rows and --cols
  // swapped) has fewer holes: a campaign that misses a part of its FoVs is not written.
  if (beyond_grid && !plan.missing_tables.empty() && o.rows != o.cols) {
    GridOptions turned = g;
    std::swap(turned.rows, turned.cols);
    if (const std::size_t found = tables_found_in(turned); found > plan.fovs.size())
      throw InputError("--rows/--cols", fmt::format("{} x {}: tables for {} of its {} cells and files beyond it, but {} x {} "
                                                    "finds {}: are --rows and --cols swapped? (If only this part of the "
                                                    "folder is meant, move the other tables away or name them out with --table)",
                                                    o.rows, o.cols, plan.fovs.size(), grid.size(), o.cols, o.rows, found));
  }
  if (!o.widefield_pattern.empty() && plan.widefields == 0) {
    TileInfo t;
    t.id = plan.fovs.front().id, t.row = plan.fovs.front().row, t.col = plan.fovs.front().col;
    plan.warnings.push_back(fmt::format("no FoV has a widefield '{}' (looked for {}, ...): give --widefield PATTERN, or "
                                        "--no-widefield if the campaign has none; without them the FoVs are reconstructed "
                                        "from their localizations alone",
                                        o.widefield_pattern, expand_tile_pattern(o.widefield_pattern, t)));
  } else if (!o.widefield_pattern.empty() && plan.widefields < plan.fovs.size())
    plan.warnings.push_back(fmt::format("{} of {} FoVs have no widefield '{}' ({}{}): they are reconstructed from their "
                                        "localizations alone (and flagged in the QC report)",
                                        plan.fovs.size() - plan.widefields, plan.fovs.size(), o.widefield_pattern,
                                        fmt::join(missing_widefields.begin(),
                                                  missing_widefields.begin() + std::min<std::size_t>(5, missing_widefields.size()), ", "),
                                        missing_widefields.size() > 5 ? ", ..." : ""));

  plan.campaign_ini = fmt::format(
      "# Campaign description, read by the pipeline (written by annamosaic init-campaign).\n"
      "[campaign]\nname = {}\nrows = {}\ncols = {}\nfov-um = {}\noverlap-um = {}\norder = {}\ncamera-pixel-nm = {}\n"
      "structure = {}\nswitch-id = {}\npositions = positions.csv\ntable = {}\nwidefield = {}\nwidefield-frames = {}\n",
      ini_value_text(o.name), o.rows, o.cols, o.fov_um, o.overlap_um, o.order, o.camera_pixel_nm, structure_name(structure),
      structure_switch_id(structure), ini_value_text(o.table_pattern),
      o.widefield_pattern.empty() ? std::string("none") : ini_value_text(o.widefield_pattern), o.widefield_frames);
  for (const auto& [key, value] : {std::pair<const char*, const std::string&>{"xy-unit", o.xy_unit}, {"columns", o.columns},
                                   {"delimiter", o.delimiter}})
    if (!value.empty()) plan.campaign_ini += fmt::format("{} = {}\n", key, ini_value_text(value));
  plan.positions_csv = "id,row,col,x_um,y_um\n";
  for (const InitFov& f : plan.fovs) plan.positions_csv += fmt::format("{},{},{},{:.4f},{:.4f}\n", f.id, f.row, f.col, f.x_um, f.y_um);
  return plan;
}

}  // namespace annamosaic
