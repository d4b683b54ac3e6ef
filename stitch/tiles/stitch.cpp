#include "tiles/stitch.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <vector>

#include "core/error.hpp"
#include "core/json_text.hpp"
#include "core/numeric.hpp"
#include "tiles/fusion.hpp"

namespace annamosaic {

StitchLayout compute_layout(const TileSource& source, const StitchOptions& opt, const std::function<void()>& progress,
                            const WorkShare* share) {
  StitchLayout out;
  const auto t0 = std::chrono::steady_clock::now();
  out.pairs = grid_neighbours(source);
  out.registration = register_pairs(source, out.pairs, opt.registration, progress, share);
  const auto t1 = std::chrono::steady_clock::now();
  const double px_per_um = 1000.0 / source.pixel_nm();
  std::vector<int> rows, cols;
  for (std::size_t i = 0; i < source.size(); ++i) rows.push_back(source.info(i).row), cols.push_back(source.info(i).col);
  reject_implausible_pairs(out.registration, opt.registration.search_um * px_per_um, rows, cols);
  LayoutInput& in = out.input;
  for (std::size_t i = 0; i < source.size(); ++i) {
    in.nominal_x_px.push_back(source.info(i).x_um * px_per_um);
    in.nominal_y_px.push_back(source.info(i).y_um * px_per_um);
  }
  for (std::size_t k = 0; k < out.pairs.size(); ++k) {
    const TilePair& p = out.pairs[k];
    in.prior_pairs.push_back({p.a, p.b});
    const PairResult& r = out.registration.pairs[k];
    if (!r.accepted) continue;
    in.links.push_back({p.a, p.b, r.dx_px, r.dy_px, std::max(r.ncc, 1e-3)});
    out.link_pair.push_back(k);
  }
  out.layout_options = opt.layout;
  if (!(out.layout_options.prior_sigma_px > 0))
    out.layout_options.prior_sigma_px = std::max(1.0, opt.registration.search_um * px_per_um / 3.0);
  out.solution = solve_layout(in, out.layout_options);
  const auto t2 = std::chrono::steady_clock::now();
  out.register_seconds = std::chrono::duration<double>(t1 - t0).count();
  out.solve_seconds = std::chrono::duration<double>(t2 - t1).count();
  return out;
}

std::string implausible_links_warning(const StitchLayout& L, const TileSource& source) {
  std::size_t n = 0;
  const PairResult* first = nullptr;
  for (const PairResult& r : L.registration.pairs)
    if (r.implausible && n++ == 0) first = &r;
  if (n == 0) return "";
  return fmt::format("{} link(s) rejected as implausible (e.g. FoVs {} and {}, NCC {:.2f}, {:.0f} px from the stage's "
                     "offset): matched less well than most overlaps, beyond {:.0f} px from the stage's offsets where the "
                     "accepted links spread {:.1f} px, and no other link of their tiles or seam agrees; likely false matches "
                     "of overlaps with little structure (layout.json: \"rejected\"). If the stage really misplaced those "
                     "FoVs by that much, give measured positions in positions.csv",
                     n, source.info(first->pair.a).id, source.info(first->pair.b).id, first->ncc,
                     implausible_distance_px(*first, L.registration),
                     L.registration.implausible_beyond_px, L.registration.stage_spread_px);
}

std::string calibration_warning(const SignalCalibration& c, double min_ncc) {
  if (c.pairs_tried == 0 || c.random_valid >= 10) return "";
  return fmt::format("only {} random non-adjacent pair(s) to calibrate the NCC threshold on (a small grid, or mostly "
                     "empty tiles): a false match is told from a true one by the NCC floor {:g}, the margin and the overlap "
                     "size alone; check the edges in layout.json",
                     c.random_valid, min_ncc);
}

std::string calibration_text(const SignalCalibration& c, const TileSource& source, double accept_quantile) {
  const std::string how =
      c.random_pairs == 0 ? "no random non-adjacent pair to calibrate on (a small grid): from the NCC floor and the pairs' median"
      : c.random_valid == 0
          ? fmt::format("none of {} random non-adjacent pairs had a match: from the NCC floor and the pairs' median", c.random_pairs)
          : c.quantile_at_second_largest
          ? fmt::format("{} of {} random non-adjacent pairs had a match; their {:.0f}% quantile taken as the second highest, "
                        "{:.3f} (the highest, {:.3f}, one chance match, does not set it alone)", c.random_valid, c.random_pairs,
                        100 * accept_quantile, c.random_ncc_quantile, c.random_ncc.back())
          : fmt::format("{} of {} random non-adjacent pairs had a match; their {:.0f}% quantile {:.3f}", c.random_valid,
                        c.random_pairs, 100 * accept_quantile, c.random_ncc_quantile);
  // Raised to a fraction of the pairs' median NCC (min_ncc_fraction_of_median): said, or the
  // threshold reads as a number from nowhere.
  const std::string floor = c.set_by_median && c.median_ncc > 0
                                ? fmt::format("; raised to {:.0f}% of the neighbour pairs' median NCC, {:.3f}",
                                              100 * c.threshold / c.median_ncc, c.median_ncc)
                                : std::string();
  return fmt::format("signal {}/{}: NCC threshold {:.3f} ({}{})", source.channel_name(c.channel), c.scale, c.threshold, how,
                     floor);
}

std::string search_range_warning(const StitchLayout& L, double search_um, double pixel_nm, bool at_limit,
                                 const TileSource* source) {
  const double search_px = search_um * 1000.0 / pixel_nm;
  if (!(search_px > 0)) return "";
  double worst = 0, worst_ncc = 0, far_ncc = 1;  // far_ncc: the lowest NCC of the far links
  std::size_t worst_a = 0, worst_b = 0, far = 0, used = 0;
  std::vector<double> nccs;
  for (std::size_t k = 0; k < L.input.links.size(); ++k) {
    if (!L.solution.link_used[k]) continue;
    ++used;
    const PairResult& r = L.registration.pairs[L.link_pair[k]];
    nccs.push_back(r.ncc);
    const double off = std::max(std::abs(r.dx_px - r.nominal_dx_px), std::abs(r.dy_px - r.nominal_dy_px));
    if (off > 0.7 * search_px) ++far, far_ncc = std::min(far_ncc, r.ncc);
    if (off > worst) worst = off, worst_ncc = r.ncc, worst_a = L.input.links[k].a, worst_b = L.input.links[k].b;
  }
  if (far == 0) return "";
  const auto id = [&](std::size_t i) { return source ? source->info(i).id : static_cast<int>(i); };
  const std::string head = fmt::format(
      "registered neighbours lie up to {:.2f} um from where the stage put them, near the edge of the +-{:.4g} um searched "
      "(--search-um): {} of the {} links the layout used (the farthest: tiles {} and {}, NCC {:.2f})",
      worst * pixel_nm / 1000.0, search_um, far, used, id(worst_a), id(worst_b), worst_ncc);
  // A stage off by that much moves many neighbours; a few far links among many near ones are
  // more likely false matches (tiles with little structure), which a wider search only moves
  // further out (a probe's 32 x 32 campaign: 2.20 um at +-2.5, 2.05 um at +-2).
  const double median_ncc = median(nccs);
  // Matched as well as the rest: no sign of a false match (probe74: a link 0.014 px from the truth,
  // NCC 0.88, called a likely false match for lying 1.78 um from a stage jittered by 0.5 um).
  if (used >= 10 && far <= std::max<std::size_t>(2, used / 50) && far_ncc >= 0.8 * median_ncc)
    return head + fmt::format(": matched as well as the others (NCC {:.2f} at least, the links' median {:.2f}), so more "
                              "likely a stage off by that much there than a false match. Check those pairs in layout.json "
                              "(edges with \"used\": true, dx_px, dy_px against nominal_dx_px, nominal_dy_px){}",
                              far_ncc, median_ncc,
                              at_limit ? "; measured stage positions in positions.csv help either way"
                                       : "; if the stage strays further elsewhere, stitch again with a larger --search-um");
  if (used >= 10 && far <= std::max<std::size_t>(2, used / 50))
    return head + ": so few that they are more likely false matches of tiles with little structure than a stage off by "
                  "that much (a wider --search-um would find such matches further out). Check those pairs in layout.json "
                  "(edges with \"used\": true, dx_px, dy_px against nominal_dx_px, nominal_dy_px)" +
           std::string(at_limit ? "; measured stage positions in positions.csv help either way" : "");
  return head + ": the stage may be off by more, and pairs whose offset lies beyond matched something else. Check " +
         "layout.json, and " +
         (at_limit ? "give measured stage positions in positions.csv (the search is at its limit, half the step between "
                     "FoVs: wider, a pair could match the tile a whole FoV over)"
                   : "stitch again with a larger --search-um");
}

namespace {
double r3(double v) { return std::round(v * 1000.0) / 1000.0; }
// Positions that --from-layout fuses again: to 1e-6 px, so that they round to the same whole
// pixel as the layout's own fusion (to 1e-3, 120.4996 became 120.5, a pixel further on).
double r6(double v) { return std::round(v * 1e6) / 1e6; }
}  // namespace

std::string layout_json(const TileSource& source, const StitchLayout& L, const StitchOptions& opt) {
  using nlohmann::json;
  const LayoutSolution& s = L.solution;
  const double um_per_px = source.pixel_nm() / 1000.0;
  json tiles = json::array();
  std::vector<int> used_links(source.size(), 0);
  for (std::size_t k = 0; k < L.input.links.size(); ++k)
    if (s.link_used[k]) ++used_links[L.input.links[k].a], ++used_links[L.input.links[k].b];
  // Where the fused mosaic lies in these coordinates: tile i's top-left pixel is mosaic pixel
  // (lround(x_px) - origin_x_px, lround(y_px) - origin_y_px), the origin being the smallest
  // lround(x_px), lround(y_px); written per tile too (mosaic_x_px, mosaic_y_px), since a position
  // printed as 120.5 may be 120.4996.
  const MosaicPlan plan = plan_mosaic(source, s.x_px, s.y_px);
  for (std::size_t i = 0; i < source.size(); ++i) {
    const TileInfo& t = source.info(i);
    tiles.push_back({{"id", t.id},
                     {"row", t.row},
                     {"col", t.col},
                     {"width_px", t.width_px},
                     {"height_px", t.height_px},
                     {"nominal_x_px", r3(L.input.nominal_x_px[i])},
                     {"nominal_y_px", r3(L.input.nominal_y_px[i])},
                     {"x_px", r6(s.x_px[i])},
                     {"y_px", r6(s.y_px[i])},
                     {"mosaic_x_px", plan.tiles[i].x0},
                     {"mosaic_y_px", plan.tiles[i].y0},
                     {"x_um", s.x_px[i] * um_per_px},
                     {"y_um", s.y_px[i] * um_per_px},
                     {"component", s.component[i]},
                     {"links", used_links[i]},
                     {"placed_by", used_links[i] ? "registration" : "stage"}});
  }
  std::map<std::size_t, std::size_t> link_of_pair;
  for (std::size_t k = 0; k < L.link_pair.size(); ++k) link_of_pair[L.link_pair[k]] = k;
  json edges = json::array();
  for (std::size_t k = 0; k < L.pairs.size(); ++k) {
    const PairResult& r = L.registration.pairs[k];
    const TileInfo& a = source.info(r.pair.a);
    const TileInfo& b = source.info(r.pair.b);
    json e = {{"a", a.id},
              {"b", b.id},
              {"direction", b.row == a.row ? "right" : "down"},
              {"nominal_dx_px", r3(r.nominal_dx_px)},
              {"nominal_dy_px", r3(r.nominal_dy_px)},
              {"valid", r.valid},
              {"accepted", r.accepted}};
    if (r.skipped) {  // a tile of it takes no part in registration (a failed FoV)
      e["skipped"] = true;
      e["rejected"] = "not registered: a tile of it takes no part (a failed FoV's, or a tile left out)";
    } else if (r.no_overlap) {
      e["rejected"] = "not registered: the positions leave no overlap (the tiles lie further apart than their size and the "
                      "search)";
    } else if (!r.valid) {
      e["rejected"] = "no match: too little structure in the overlap on one side at least (or none of its candidate "
                      "offsets left enough overlap)";
    }
    if (r.signal >= 0) {
      const RegistrationSignal& sig = opt.registration.signals[static_cast<std::size_t>(r.signal)];
      e["signal"] = source.channel_name(sig.channel) + "/" + std::to_string(sig.scale);
    }
    if (r.valid) {
      e["dx_px"] = r3(r.dx_px);
      e["dy_px"] = r3(r.dy_px);
      e["ncc"] = r3(r.ncc);
      e["second_ncc"] = r3(r.second_ncc);
      if (r.second_ncc >= 0) e["second_dx_px"] = r3(r.second_dx_px), e["second_dy_px"] = r3(r.second_dy_px);
      e["peak"] = r3(r.peak);
      // Why a match was not accepted: another offset matched nearly as well (a repetitive or smooth
      // overlap), or it matched no better than unrelated tiles do.
      e["overlap_thickness_px"] = r3(r.overlap_thickness_px);
      e["overlap_length_px"] = r3(r.overlap_length_px);
      if (!r.accepted)
        e["rejected"] = r.implausible
                            ? fmt::format("implausible: {:.0f} px from the stage's offset (less the accepted pairs' median "
                                          "deviation), beyond {:.0f} px (4 x their spread of {:.1f} px, or a quarter of the "
                                          "search), below the median NCC, and no other link of either tile or across the "
                                          "same seam agrees",
                                          implausible_distance_px(r, L.registration), L.registration.implausible_beyond_px,
                                          L.registration.stage_spread_px)
                        : r.too_small ? "overlap too thin: below min_overlap_thickness_px across the seam"
                        : pair_ambiguous(r, L.registration, opt.registration.min_ncc_margin)
                            ? "ambiguous: another offset (second_dx_px, second_dy_px) matched within min_ncc_margin of it, or better"
                            : r.signal >= 0 && static_cast<std::size_t>(r.signal) < L.registration.calibration.size()
                                ? fmt::format("ncc below the signal's threshold ({:.3f})",
                                              L.registration.calibration[static_cast<std::size_t>(r.signal)].threshold)
                                : std::string("ncc below the signal's threshold");
      // Disagreement with the final layout (for rejected edges too: how wrong they would have been).
      e["residual_px"] = r3(std::hypot(s.x_px[r.pair.b] - s.x_px[r.pair.a] - r.dx_px, s.y_px[r.pair.b] - s.y_px[r.pair.a] - r.dy_px));
    }
    if (auto it = link_of_pair.find(k); it != link_of_pair.end()) {
      e["weight"] = r3(L.input.links[it->second].weight / (L.layout_options.link_sigma_px * L.layout_options.link_sigma_px));
      e["used"] = static_cast<bool>(s.link_used[it->second]);
    } else {
      e["used"] = false;
    }
    edges.push_back(std::move(e));
  }
  json cal = json::array();
  for (const SignalCalibration& c : L.registration.calibration)
    cal.push_back({{"channel", source.channel_name(c.channel)},
                   {"scale", c.scale},
                   {"pairs_tried", c.pairs_tried},
                   {"random_pairs", c.random_pairs},
                   {"random_valid", c.random_valid},
                   {"random_ncc_quantile", r3(c.random_ncc_quantile)},
                   {"random_ncc_highest", r3(c.random_ncc.empty() ? 0.0 : c.random_ncc.back())},
                   {"median_ncc", r3(c.median_ncc)},
                   {"ncc_threshold", r3(c.threshold)}});
  std::size_t valid = 0, accepted = 0;
  for (const PairResult& r : L.registration.pairs) valid += r.valid, accepted += r.accepted;
  json summary = {{"tiles", source.size()},
                  {"pairs", L.pairs.size()},
                  {"valid", valid},
                  {"accepted", accepted},
                  {"dropped_by_solver", s.dropped},
                  {"used", accepted - s.dropped},
                  {"components", s.components},
                  {"tiles_placed_by_stage", s.isolated_tiles},
                  {"rms_residual_px", r3(s.rms_residual_px)},
                  {"max_residual_px", r3(s.max_residual_px)},
                  {"register_seconds", r3(L.register_seconds)},
                  {"solve_seconds", r3(L.solve_seconds)},
                  {"tile_loads", L.registration.tile_loads}};
  json settings = {{"pixel_nm", source.pixel_nm()},
                   {"search_um", opt.registration.search_um},
                   {"accept_quantile", opt.registration.accept_quantile},
                   {"min_ncc", opt.registration.min_ncc},
                   {"min_ncc_margin", opt.registration.min_ncc_margin},
                   {"min_ncc_fraction_of_median", opt.registration.min_ncc_fraction_of_median},
                   {"min_overlap_thickness_px", opt.registration.min_overlap_thickness_px},
                   {"link_sigma_px", L.layout_options.link_sigma_px},
                   {"prior_sigma_px", L.layout_options.prior_sigma_px},
                   {"max_residual_px", L.layout_options.max_residual_px},
                   {"residual_ratio", L.layout_options.residual_ratio}};
  json mosaic = {{"origin_x_px", plan.origin_x_px},
                 {"origin_y_px", plan.origin_y_px},
                 {"origin_x_um", plan.origin_x_px * um_per_px},
                 {"origin_y_um", plan.origin_y_px * um_per_px},
                 {"width_px", plan.width_px},
                 {"height_px", plan.height_px}};
  // What each section means, in the file (read by people with no one to ask; ignored on reading).
  json about = {
      {"settings",
       "the options used: search_um, the largest |true - stage| offset between neighbours searched, per axis; "
       "accept_quantile, min_ncc, min_ncc_fraction_of_median, min_ncc_margin decide which edges are accepted (see "
       "calibration and edges), with min_overlap_thickness_px, the thinnest overlap a match may imply; link_sigma_px and prior_sigma_px, the standard deviations of an edge of weight 1 and of "
       "the stage's neighbour offset in the least-squares layout; while a used edge's residual exceeds "
       "max_residual_px and either residual_ratio x the mean residual or (as a miss of what the other edges predict, "
       "over its redundancy) residual_ratio x the mean residual over the mean redundancy, one edge near it is dropped "
       "(the one whose removal lowers the weighted squared residuals most) and the layout solved again"},
      {"mosaic",
       "the fused mosaic's size; tile i's top-left pixel is mosaic pixel (mosaic_x_px, mosaic_y_px) = (lround(x_px) - "
       "origin_x_px, lround(y_px) - origin_y_px), rounded half away from zero; origin_x_um, origin_y_um: the origin in um"},
      {"summary",
       "tiles; pairs (grid neighbours), valid (a match found), accepted, dropped_by_solver, used (accepted - dropped), "
       "components (groups of tiles joined by used edges), tiles_placed_by_stage (tiles with no used edge); "
       "rms_residual_px, max_residual_px over the used edges; register_seconds, solve_seconds; tile_loads (tile reads "
       "by registration)"},
      {"calibration",
       "per registration signal (channel, at 1/scale resolution; pairs_tried neighbour pairs registered with it): "
       "random_pairs registrations of a tile with one more than a cell away (diagonal neighbours overlap at their "
       "corners), each in the strip geometry of one of its neighbour pairs, each combination once (random_valid found "
       "a match): what no overlap looks like; ncc_threshold = max(min_ncc, random_ncc_quantile (their accept_quantile "
       "quantile; with 20 or more matches never above the second highest: one chance match among fewer than ~100 is "
       "no quantile; random_ncc_highest the highest), min_ncc_fraction_of_median x median_ncc), the NCC an edge must reach"},
      {"tiles",
       "per tile (its id, grid row and col, width_px x height_px): nominal_x_px, nominal_y_px (from the stage) and x_px, y_px (solved) of its top-left corner, x_um, "
       "y_um the same in um; mosaic_x_px, mosaic_y_px: that corner's pixel in the fused mosaic; component; links (used edges); placed_by: registration, or stage when no edge of it is "
       "used"},
      {"edges",
       "per neighbour pair, tile ids a and b, b right of or below a (direction): nominal_dx_px, nominal_dy_px (stage) and dx_px, dy_px (measured) "
       "offset of b from a; ncc of the overlap at that offset; peak, the phase-correlation peak; second_ncc at "
       "second_dx_px, second_dy_px, the best other offset; overlap_thickness_px (across the seam) and "
       "overlap_length_px (along it), the overlap that offset implies; valid, accepted, rejected (why not); "
       "residual_px, how far "
       "the solved layout is from the measured offset; weight, and used in the solve; signal (channel/scale)"}};
  json root = {{"format", "annamosaic-layout-1"},
               {"units", "px = mosaic pixels of pixel_nm, positions of tile top-left corners in stage axes"},
               {"about", about},
               {"settings", settings},
               {"mosaic", mosaic},
               {"summary", summary},
               {"calibration", cal},
               {"tiles", tiles},
               {"edges", edges}};
  return json_text(root, 1) + "\n";
}

std::pair<std::vector<double>, std::vector<double>> read_layout_positions(const std::string& path, const TileSource& source) {
  std::ifstream in(path);
  if (!in) throw IoError(path, "cannot open the layout file");
  // nlohmann's messages start "[json.exception.type_error.302] ": users get the rest.
  const auto plain = [](const nlohmann::json::exception& e) {
    const std::string w = e.what();
    const auto end = w.rfind("] ", w.find(' '));
    return w.rfind("[json.exception.", 0) == 0 && end != std::string::npos ? w.substr(end + 2) : w;
  };
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path, std::string("not valid JSON: ") + plain(e));
  }
  if (!j.is_object() || !j.contains("format") || j["format"] != "annamosaic-layout-1")
    throw InputError(path, "not an annamosaic layout file (the layout.json that stitch or run writes)");
  std::map<int, nlohmann::json> tiles;
  try {
    const double pixel_nm = j.at("settings").at("pixel_nm").get<double>();
    if (std::abs(pixel_nm - source.pixel_nm()) > 1e-6 * pixel_nm)
      throw InputError(path, fmt::format("the layout is at {:g} nm per pixel, the tiles at {:g} nm: make a layout of these "
                                         "tiles (stitch --layout-only), or give the layout's --pixel-nm {:g} if the tiles are at it",
                                         pixel_nm, source.pixel_nm(), pixel_nm));
    for (const auto& t : j.at("tiles")) {
      t.at("x_px").get<double>();  // a malformed position is said here, with the others
      t.at("y_px").get<double>();
      tiles[t.at("id").get<int>()] = t;
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path, std::string("malformed layout: ") + plain(e));
  }
  // Another set of tiles (another size, another grid) would be fused at positions made for others;
  // a subset of the layout's tiles (a region fused again) is fine.
  std::vector<double> x(source.size()), y(source.size());
  for (std::size_t i = 0; i < source.size(); ++i) {
    const TileInfo& s = source.info(i);
    auto it = tiles.find(s.id);
    if (it == tiles.end()) throw InputError(path, "no position for tile id " + std::to_string(s.id) + ": a layout of other tiles?");
    const nlohmann::json& t = it->second;
    const auto recorded = [&](const char* key, long long mine) {  // the layout's value, or this tile's when it has none
      return t.contains(key) && t[key].is_number_integer() ? t[key].get<long long>() : mine;
    };
    const auto differs = [&](const char* key, long long mine) { return recorded(key, mine) != mine; };
    if (differs("width_px", static_cast<long long>(s.width_px)) || differs("height_px", static_cast<long long>(s.height_px)) ||
        differs("row", s.row) || differs("col", s.col))
      throw InputError(path, fmt::format("tile id {} is {} x {} px at row {} col {} here, but {} x {} px at row {} col {} in "
                                         "the layout: a layout of other tiles; make one of these (stitch --layout-only)",
                                         s.id, s.width_px, s.height_px, s.row, s.col,
                                         recorded("width_px", static_cast<long long>(s.width_px)),
                                         recorded("height_px", static_cast<long long>(s.height_px)), recorded("row", s.row),
                                         recorded("col", s.col)));
    x[i] = t["x_px"].get<double>(), y[i] = t["y_px"].get<double>();
  }
  return {x, y};
}

}  // namespace annamosaic
