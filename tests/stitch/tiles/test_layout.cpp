// Global layout solver on synthetic edge sets (noise, outliers, disconnected parts), and
// layout.json.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include "core/error.hpp"
#include "synthetic_grid.hpp"
#include "tiles/layout.hpp"
#include "tiles/stitch.hpp"

using namespace annamosaic;

namespace {

struct Grid {
  int rows, cols;
  std::vector<double> tx, ty;  // truth
  LayoutInput in;
};

// rows x cols tiles 1000 px apart; truth = nominal + N(0, 15 px); links on every neighbour pair
// with N(0, noise) measurement error, except those `skip` returns true for.
template <class Skip>
Grid make(int rows, int cols, double noise, std::uint64_t seed, Skip skip) {
  Grid g{rows, cols, {}, {}, {}};
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> stage(0, 15), meas(0, noise);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      g.in.nominal_x_px.push_back(c * 1000.0);
      g.in.nominal_y_px.push_back(r * 1000.0);
      g.tx.push_back(c * 1000.0 + stage(rng));
      g.ty.push_back(r * 1000.0 + stage(rng));
    }
  auto id = [cols](int r, int c) { return static_cast<std::size_t>(r * cols + c); };
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      for (auto [dr, dc] : {std::pair{0, 1}, std::pair{1, 0}}) {
        if (r + dr >= rows || c + dc >= cols) continue;
        const std::size_t a = id(r, c), b = id(r + dr, c + dc);
        g.in.prior_pairs.push_back({a, b});
        if (skip(a, b)) continue;
        g.in.links.push_back({a, b, g.tx[b] - g.tx[a] + meas(rng), g.ty[b] - g.ty[a] + meas(rng), 1.0});
      }
  return g;
}

// Position errors after removing the mean offset over `tiles`.
std::vector<double> errors(const Grid& g, const LayoutSolution& s, const std::vector<std::size_t>& tiles) {
  double ox = 0, oy = 0;
  for (std::size_t i : tiles) ox += s.x_px[i] - g.tx[i], oy += s.y_px[i] - g.ty[i];
  ox /= tiles.size(), oy /= tiles.size();
  std::vector<double> e;
  for (std::size_t i : tiles) e.push_back(std::hypot(s.x_px[i] - g.tx[i] - ox, s.y_px[i] - g.ty[i] - oy));
  return e;
}

std::vector<std::size_t> all(const Grid& g) {
  std::vector<std::size_t> v(g.tx.size());
  std::iota(v.begin(), v.end(), 0);
  return v;
}

}  // namespace

TEST(Layout, ExactLinksGiveExactPositions) {
  const Grid g = make(5, 6, 0.0, 1, [](auto, auto) { return false; });
  const LayoutSolution s = solve_layout(g.in);
  // Only the weak stage priors pull (weight ratio ~3e-4 times their ~30 px disagreement).
  for (double e : errors(g, s, all(g))) EXPECT_LT(e, 0.05);
  EXPECT_EQ(s.components, 1);
  EXPECT_EQ(s.dropped, 0u);
  EXPECT_LT(s.max_residual_px, 0.05);
}

TEST(Layout, OutliersAreDroppedAndTheRestStaysAccurate) {
  Grid g = make(6, 6, 0.2, 2, [](auto, auto) { return false; });
  for (std::size_t k : {3u, 17u, 40u}) g.in.links[k].dx_px += 25, g.in.links[k].dy_px -= 12;  // wrong matches
  const LayoutSolution s = solve_layout(g.in);
  for (std::size_t k : {3u, 17u, 40u}) EXPECT_FALSE(s.link_used[k]) << k;
  EXPECT_EQ(s.dropped, 3u);
  double se = 0, mx = 0;
  for (double e : errors(g, s, all(g))) se += e * e, mx = std::max(mx, e);
  EXPECT_LT(std::sqrt(se / 36), 0.3);
  EXPECT_LT(mx, 0.8);
  EXPECT_GT(s.link_residual_px[3], 10);  // the dropped link's residual is reported
  EXPECT_LT(s.max_residual_px, 2.0);
}

TEST(Layout, DisconnectedPartsArePlacedByTheStage) {
  // No links across the boundary between columns 1 and 2: two components of 2 x 2 and 2 x 2.
  const Grid g = make(2, 4, 0.0, 3, [](std::size_t a, std::size_t b) { return a % 4 == 1 && b % 4 == 2; });
  const LayoutSolution s = solve_layout(g.in);
  EXPECT_EQ(s.components, 2);
  EXPECT_EQ(s.component[0], s.component[5]);
  EXPECT_NE(s.component[0], s.component[2]);
  // Inside each part the layout is exact; between the parts the offset is the stage model's.
  for (double e : errors(g, s, {0, 1, 4, 5})) EXPECT_LT(e, 1e-2);
  for (double e : errors(g, s, {2, 3, 6, 7})) EXPECT_LT(e, 1e-2);
  // The right part sits where the stage puts it relative to the left one: the mean of its two
  // stage-prior offsets is the nominal 1000 px (up to the very weak pull to nominal positions).
  const double got = (s.x_px[2] - s.x_px[1] + s.x_px[6] - s.x_px[5]) / 2;
  EXPECT_NEAR(got, 1000.0, 0.1);
}

TEST(Layout, TilesWithoutLinksStayWhereTheStagePutThem) {
  // Tile 5 of a 3 x 3 grid (the right middle) has no link: it keeps its nominal offsets to its
  // neighbours (the least-squares compromise of its stage priors).
  const Grid g = make(3, 3, 0.0, 4, [](std::size_t a, std::size_t b) { return a == 5 || b == 5; });
  const LayoutSolution s = solve_layout(g.in);
  EXPECT_EQ(s.isolated_tiles, 1);
  const double mean_dx = ((s.x_px[5] - s.x_px[4]) + (s.x_px[5] - s.x_px[2]) + (s.x_px[5] - s.x_px[8])) / 3;
  const double nominal = (1000.0 + 0.0 + 0.0) / 3;
  EXPECT_NEAR(mean_dx, nominal, 1e-3);
}

TEST(Layout, OrderOfTilesDoesNotMatter) {
  const Grid g = make(4, 5, 0.3, 5, [](auto, auto) { return false; });
  const LayoutSolution s = solve_layout(g.in);
  // The same problem with tiles renumbered in reverse.
  LayoutInput r;
  const std::size_t n = g.tx.size();
  for (std::size_t i = 0; i < n; ++i) r.nominal_x_px.push_back(g.in.nominal_x_px[n - 1 - i]), r.nominal_y_px.push_back(g.in.nominal_y_px[n - 1 - i]);
  for (auto [a, b] : g.in.prior_pairs) r.prior_pairs.push_back({n - 1 - a, n - 1 - b});
  for (LayoutLink l : g.in.links) {
    l.a = n - 1 - l.a, l.b = n - 1 - l.b;
    r.links.push_back(l);
  }
  const LayoutSolution s2 = solve_layout(r);
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_NEAR(s.x_px[i], s2.x_px[n - 1 - i], 1e-6);
    EXPECT_NEAR(s.y_px[i], s2.y_px[n - 1 - i], 1e-6);
  }
}

TEST(Layout, BadInputThrows) {
  LayoutInput in;
  in.nominal_x_px = {0, 1};
  in.nominal_y_px = {0, 1};
  in.links = {{0, 2, 1, 1, 1}};
  EXPECT_THROW(solve_layout(in), std::invalid_argument);
  in.links = {{0, 1, 1, 1, 0}};
  EXPECT_THROW(solve_layout(in), std::invalid_argument);
  in.links = {{0, 1, NAN, 1, 1}};
  EXPECT_THROW(solve_layout(in), std::invalid_argument);
  in.links.clear();
  in.nominal_y_px = {0};
  EXPECT_THROW(solve_layout(in), std::invalid_argument);
}

TEST(StitchLayout, EndToEndOnASyntheticGridAndLayoutJsonRoundTrip) {
  const auto g = annamosaic::test::make_grid(3, 3, 240, 30, 6, 11, {8});  // tile 8 empty
  StitchOptions o;
  o.registration.search_um = 12 * 0.02;
  const StitchLayout L = compute_layout(*g.source, o);
  // Non-empty tiles within 0.3 px of the truth after removing the offset; the empty one within the stage error.
  double ox = 0, oy = 0;
  for (std::size_t i = 0; i < 8; ++i) ox += L.solution.x_px[i] - g.true_x_px[i], oy += L.solution.y_px[i] - g.true_y_px[i];
  ox /= 8, oy /= 8;
  for (std::size_t i = 0; i < 8; ++i)
    EXPECT_LT(std::hypot(L.solution.x_px[i] - g.true_x_px[i] - ox, L.solution.y_px[i] - g.true_y_px[i] - oy), 0.3) << i;
  EXPECT_LT(std::hypot(L.solution.x_px[8] - g.true_x_px[8] - ox, L.solution.y_px[8] - g.true_y_px[8] - oy), 2 * 6 * 1.5);
  const auto j = nlohmann::json::parse(layout_json(*g.source, L, o));
  EXPECT_EQ(j["format"], "annamosaic-layout-1");
  EXPECT_EQ(j["tiles"].size(), 9u);
  EXPECT_EQ(j["edges"].size(), 12u);
  EXPECT_EQ(j["summary"]["accepted"], 10);
  EXPECT_EQ(j["tiles"][8]["placed_by"], "stage");
  for (const auto& e : j["edges"]) {
    EXPECT_TRUE(e.contains("accepted"));
    if (e["accepted"]) {
      EXPECT_TRUE(e.contains("residual_px") && e.contains("ncc") && e.contains("weight") && e.contains("dx_px"));
    }
  }
  // The file explains itself: every field of every section is named in its "about" line.
  for (const char* section : {"settings", "mosaic", "summary", "calibration", "tiles", "edges"}) {
    ASSERT_TRUE(j["about"].contains(section)) << section;
    const std::string about = j["about"][section].get<std::string>();
    const nlohmann::json& sj = j[section];
    std::vector<nlohmann::json> items;
    if (sj.is_array()) items.assign(sj.begin(), sj.end()); else items.push_back(sj);
    for (const auto& item : items)
      for (const auto& [key, value] : item.items()) {
        if (key == "id" || key == "row" || key == "col" || key == "width_px" || key == "height_px" || key == "pixel_nm" ||
            key == "skipped")
          continue;
        EXPECT_NE(about.find(key), std::string::npos) << section << "." << key << " is not explained";
      }
  }
  const std::string d = std::string(ANNAMOSAIC_TEST_TMP) + "/layout_json";
  std::filesystem::create_directories(d);
  std::ofstream(d + "/layout.json") << layout_json(*g.source, L, o);
  const auto [x, y] = read_layout_positions(d + "/layout.json", *g.source);
  for (std::size_t i = 0; i < 9; ++i) {
    EXPECT_NEAR(x[i], L.solution.x_px[i], 1e-3);
    EXPECT_NEAR(y[i], L.solution.y_px[i], 1e-3);
  }
  std::ofstream(d + "/bad.json") << "{\"format\": \"annamosaic-layout-1\", \"tiles\": []}";
  EXPECT_THROW(read_layout_positions(d + "/bad.json", *g.source), InputError);
  std::ofstream(d + "/notjson.json") << "{";
  EXPECT_THROW(read_layout_positions(d + "/notjson.json", *g.source), InputError);
}

TEST(Layout, SingleAxisLinksConstrainOnlyTheirAxis) {
  // Two tiles; the link measures x only (weight_y = 0): y stays at the stage prior's offset.
  LayoutInput in;
  in.nominal_x_px = {0, 1000};
  in.nominal_y_px = {0, 0};
  in.prior_pairs = {{0, 1}};
  LayoutLink l{0, 1, 1012.5, 40.0, 1.0};
  l.weight_y = 0;
  in.links = {l};
  const LayoutSolution s = solve_layout(in);
  EXPECT_NEAR(s.x_px[1] - s.x_px[0], 1012.5, 0.01);  // the weak stage prior pulls ~3e-4 of the 12.5 px
  EXPECT_NEAR(s.y_px[1] - s.y_px[0], 0.0, 1e-6);
  EXPECT_NEAR(s.link_residual_px[0], 0.0, 0.01);  // residual on the measured axis only
  EXPECT_EQ(s.components, 2);                      // a one-axis link does not tie tiles rigidly
  l.weight_x = 0;
  in.links = {l};
  EXPECT_THROW(solve_layout(in), std::invalid_argument);
}

// A link near the edge of the search range: the advice depends on whether the search could be wider.
TEST(StitchLayout, SearchRangeWarningAdvisesWhatCanHelp) {
  StitchLayout L;
  PairResult r;
  r.nominal_dx_px = 100, r.dx_px = 100 + 90;  // 90 px = 1.8 um at 20 nm from the stage's offset
  L.registration.pairs = {r};
  L.input.links = {LayoutLink{0, 1, r.dx_px, 0}};
  L.link_pair = {0};
  L.solution.link_used = {1};
  EXPECT_EQ(search_range_warning(L, 5.0, 20.0), "");  // well inside +-5 um
  const std::string widen = search_range_warning(L, 2.0, 20.0);
  EXPECT_NE(widen.find("up to 1.80 um from where the stage put them, near the edge of the +-2 um searched"), std::string::npos);
  EXPECT_NE(widen.find("stitch again with a larger --search-um"), std::string::npos);
  const std::string at_limit = search_range_warning(L, 2.0, 20.0, /*at_limit=*/true);
  EXPECT_EQ(at_limit.find("larger --search-um"), std::string::npos) << at_limit;
  EXPECT_NE(at_limit.find("give measured stage positions in positions.csv"), std::string::npos);
  L.solution.link_used = {0};  // dropped as an outlier: not counted
  EXPECT_EQ(search_range_warning(L, 2.0, 20.0), "");
}

// One far link among many near ones: a false match is likelier than a stage off by that much, and
// a wider search would not help; many far links: the stage may be off.
TEST(StitchLayout, SearchRangeWarningTellsAFewFalseMatchesFromAStageError) {
  StitchLayout L;
  for (std::size_t k = 0; k < 40; ++k) {
    PairResult r;
    r.nominal_dx_px = 100;
    r.dx_px = 100 + (k == 7 ? 90.0 : 3.0);  // link 7: 1.8 um off; the others 0.06 um
    r.ncc = k == 7 ? 0.31 : 0.9;
    L.registration.pairs.push_back(r);
    L.input.links.push_back(LayoutLink{k, k + 1, r.dx_px, 0});
    L.link_pair.push_back(k);
    L.solution.link_used.push_back(1);
  }
  const std::string few = search_range_warning(L, 2.0, 20.0);
  EXPECT_NE(few.find("1 of the 40 links the layout used (the farthest: tiles 7 and 8, NCC 0.31)"), std::string::npos) << few;
  EXPECT_NE(few.find("more likely false matches"), std::string::npos) << few;
  EXPECT_EQ(few.find("stitch again with a larger --search-um"), std::string::npos) << few;
  // The far link matched as well as the others (NCC 0.88 against 0.9): no false match implied (probe74).
  L.registration.pairs[7].ncc = 0.88;
  const std::string true_far = search_range_warning(L, 2.0, 20.0);
  EXPECT_EQ(true_far.find("false matches of tiles"), std::string::npos) << true_far;
  EXPECT_NE(true_far.find("matched as well as the others (NCC 0.88 at least, the links' median 0.90), so more likely a "
                          "stage off by that much there"), std::string::npos) << true_far;
  L.registration.pairs[7].ncc = 0.31;
  for (std::size_t k = 0; k < 10; ++k) L.registration.pairs[k].dx_px = 100 + 80;  // 10 of 40 far: the stage
  const std::string many = search_range_warning(L, 2.0, 20.0);
  EXPECT_NE(many.find("10 of the 40 links"), std::string::npos) << many;
  EXPECT_NE(many.find("stitch again with a larger --search-um"), std::string::npos) << many;
}

TEST(Layout, AConfidentWrongLinkIsDroppedNotItsFainterNeighbours) {
  // A false match that correlates better (NCC 0.9) than the true matches around it (0.3): least
  // squares puts most of its 30 px error on those fainter neighbours, whose residuals are then the
  // largest. Where the wrong link closes two loops (inside the grid), the others tell it apart:
  // it must be the one dropped. (On the border it closes one loop, whose links the data cannot
  // tell apart: there the fainter match goes, as by Fiji's rule.)
  std::size_t inner = 0;
  for (std::size_t wrong = 0; wrong < 24; ++wrong) {
    Grid g = make(4, 4, 0.1, 7, [](auto, auto) { return false; });
    ASSERT_EQ(g.in.links.size(), 24u);
    const std::size_t a = g.in.links[wrong].a, b = g.in.links[wrong].b;
    const bool across = b == a + 1;  // a link along a row: inside if not in the first or last row
    if (across ? a / 4 == 0 || a / 4 == 3 : a % 4 == 0 || a % 4 == 3) continue;
    ++inner;
    for (LayoutLink& l : g.in.links) l.weight = 0.3;
    g.in.links[wrong].weight = 0.9;
    g.in.links[wrong].dx_px += 30;
    const LayoutSolution s = solve_layout(g.in);
    EXPECT_FALSE(s.link_used[wrong]) << "wrong link " << wrong;
    EXPECT_EQ(s.dropped, 1u) << "wrong link " << wrong;
    for (double e : errors(g, s, all(g))) EXPECT_LT(e, 0.5) << "wrong link " << wrong;
  }
  EXPECT_EQ(inner, 12u);
}
