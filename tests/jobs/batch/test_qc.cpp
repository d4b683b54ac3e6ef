#include <gtest/gtest.h>

#include <array>

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "batch/fov_result.hpp"
#include "batch/qc.hpp"
#include "core/numeric.hpp"

using namespace annamosaic;
namespace fs = std::filesystem;

namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// An empty output folder of this name under the test's scratch folder.
std::string fresh_out(const std::string& name) {
  const std::string out = std::string(ANNAMOSAIC_TEST_TMP) + "/" + name;
  fs::remove_all(out);
  fs::create_directories(out);
  return out;
}

// The colour of a picture's pixel (x, y).
std::array<int, 3> pixel(const RgbCanvas& c, int x, int y) {
  const std::size_t i = 3 * (static_cast<std::size_t>(y) * c.width + x);
  return {c.rgb[i], c.rgb[i + 1], c.rgb[i + 2]};
}

// FoV `id` of a campaign of one row of 10 um FoVs, 9 um apart.
FovEntry fov_in_row(int id) { return {id, 0, id, 9.0 * id, 0.0, "", "", 0}; }

// A campaign of FoVs 0..cols-1 of 10 um in one row: its description, and the FoVs into `fovs`.
CampaignInfo one_row_campaign(int cols, std::vector<FovEntry>& fovs) {
  CampaignInfo c;
  c.rows = 1, c.cols = cols, c.fov_um = 10;
  for (int id = 0; id < cols; ++id) fovs.push_back(fov_in_row(id));
  return c;
}

}  // namespace

// A 3 x 3 campaign whose QC report must point at the tiles a user should distrust, and why.
// A tile held by one link that only just clears the threshold is flagged for its place: no loop of
// links would catch a false match there. One held by a link as good as the others' is not.
TEST(QcReport, ATileHeldByOneWeakLinkIsFlaggedForItsPlace) {
  const std::string out = fresh_out("qc_weak_link");
  CampaignInfo c;
  c.rows = 1;
  c.cols = 4;
  c.fov_um = 10;
  std::vector<FovEntry> fovs;
  std::map<int, ManifestRecord> recs;
  nlohmann::json layout = {{"tiles", nlohmann::json::array()},
                           {"calibration", {{{"channel", "reconstruction"}, {"scale", 2}, {"ncc_threshold", 0.547},
                                             {"median_ncc", 0.911}}}}};
  for (int id = 0; id < 4; ++id) {
    fovs.push_back({id, 0, id, 9.0 * id, 0.0, "", "", 0});
    recs[id] = {id, "done", "", "", "", {{"localizations", 10000}, {"widefield", false}}};
    layout["tiles"].push_back({{"id", id}, {"x_um", 9.0 * id}, {"y_um", 0.0}, {"placed_by", "registration"}});
  }
  // 0 hangs on a weak link to 1; 3 on a strong one to 2; 1 and 2 have two links each.
  const auto edge = [](int a, int b, double ncc) {
    return nlohmann::json{{"a", a}, {"b", b}, {"used", true}, {"ncc", ncc}, {"signal", "reconstruction/2"}, {"residual_px", 0.1}};
  };
  layout["edges"] = {edge(0, 1, 0.57), edge(1, 2, 0.90), edge(2, 3, 0.92)};
  const QcSummary s = write_qc_report(out, c, fovs, recs, &layout, 20.0);
  const nlohmann::json qc = read_json(out + "/qc/qc.json");
  EXPECT_EQ(qc["fovs"][0]["flag_kinds"], nlohmann::json::array({"weak-link"}));
  EXPECT_NE(qc["fovs"][0]["flags"][0].get<std::string>().find(
                "held in place by one link only, to FoV 1, at NCC 0.570: just over the threshold 0.547, where the "
                "campaign's links match at a median 0.911"),
            std::string::npos)
      << qc["fovs"][0]["flags"];
  EXPECT_EQ(qc["fovs"][3]["flag_kinds"], nlohmann::json::array());
  EXPECT_EQ(s.placement_only, std::vector<int>{0});  // its reconstruction is not in doubt, its place is
}

TEST(QcReport, FlagsEachReasonToDistrustATile) {
  const std::string out = fresh_out("qc_flags");
  CampaignInfo c;
  c.rows = c.cols = 3;
  c.fov_um = 10;
  std::vector<FovEntry> fovs;
  std::map<int, ManifestRecord> recs;
  for (int id = 0; id < 9; ++id) {
    fovs.push_back({id, id / 3, id % 3, 9.0 * (id % 3), 9.0 * (id / 3), "", "", 0});
    nlohmann::json extra = {{"localizations", 10000 + 100 * id}, {"widefield", true}, {"wf_confidence", 0.8},
                            {"error_score", 0.40 + 0.01 * id}};
    if (id == 2) extra["error_score"] = 0.9;       // far above the others
    if (id == 4) extra["localizations"] = 21;      // a nearly empty table
    if (id == 6) extra["wf_confidence"] = 0.01;    // the widefield matched nothing
    if (id == 1) extra["error_score"] = nullptr;  // NaN when an older version recorded it (it crashed QC)
    if (id == 3) extra = {{"localizations", 10300}, {"widefield", false}, {"error_score", 0.43}};  // its file missing
    // How the campaign's widefields were taken, said once in the log: no reason to distrust a FoV.
    if (id == 0) extra["warnings"] = {"fov/0000/widefield.tif: a single image, used as is (pages 3-5 asked for)"};
    recs[id] = {id, id == 8 ? "failed" : "done", "", "", id == 8 ? "locs.csv:3: not a number" : "", extra};
  }
  nlohmann::json layout = {{"tiles", nlohmann::json::array()}};
  for (int id = 0; id < 9; ++id)
    layout["tiles"].push_back({{"id", id}, {"x_um", 9.0 * (id % 3)}, {"y_um", 9.0 * (id / 3)},
                               {"placed_by", id == 7 ? "stage" : "registration"}});
  // Links the layout used: one it does not honour (5 px), the rest within a fraction of a pixel.
  layout["edges"] = {{{"a", 4}, {"b", 5}, {"used", true}, {"residual_px", 5.0}},
                     {{"a", 0}, {"b", 1}, {"used", true}, {"residual_px", 0.3}},
                     {{"a", 0}, {"b", 3}, {"used", false}, {"residual_px", 30.0}}};  // dropped: harmless

  const QcSummary s = write_qc_report(out, c, fovs, recs, &layout, 20.0);
  EXPECT_EQ(s.done, 8u);
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.flagged, (std::vector<int>{1, 2, 3, 4, 5, 6, 7}));
  const nlohmann::json qc = read_json(out + "/qc/qc.json");
  const auto flags = [&](int id) { return qc["fovs"][id].value("flags", nlohmann::json::array()).dump(); };
  EXPECT_NE(flags(2).find("error-map score 0.900 above "), std::string::npos) << flags(2);
  // The threshold and the median said apart (the threshold was called the median).
  EXPECT_NE(flags(2).find(fmt::format(": the campaign's median ({:.3f}) + 3 sigma", qc["summary"]["error_score_median"].get<double>())),
            std::string::npos) << flags(2);
  EXPECT_NE(flags(4).find("21 localizations"), std::string::npos) << flags(4);
  EXPECT_NE(flags(6).find("widefield registration uncertain"), std::string::npos) << flags(6);
  EXPECT_NE(flags(7).find("stage position only"), std::string::npos) << flags(7);
  EXPECT_EQ(flags(3), "[\"no widefield file: reconstructed from its localizations alone (other FoVs had one)\"]");
  EXPECT_NE(flags(5).find("its link to FoV 4 disagrees with the layout by 5.0 px"), std::string::npos) << flags(5);
  EXPECT_NE(flags(4).find("its link to FoV 5 disagrees"), std::string::npos) << flags(4);
  EXPECT_NE(flags(1).find("no error score"), std::string::npos) << flags(1);
  EXPECT_EQ(flags(0), "[]");
  EXPECT_EQ(flags(8), "[]");  // failed: its reason is reported, not flags
  // Each flag's kind beside it, and the kinds counted, to select FoVs by cause.
  EXPECT_EQ(qc["fovs"][3]["flag_kinds"], nlohmann::json::array({"no-widefield-file"}));
  EXPECT_EQ(qc["fovs"][0]["flag_kinds"], nlohmann::json::array());  // present for every FoV, as "flags"
  EXPECT_EQ(qc["fovs"][4]["flag_kinds"].size(), qc["fovs"][4]["flags"].size());
  EXPECT_EQ(s.flag_counts.at("few-localizations"), 1u);
  EXPECT_EQ(s.flag_counts.at("stage-placed"), 1u);
  EXPECT_EQ(s.flag_counts.at("link-disagrees"), 2u);  // both ends of the link
  EXPECT_EQ(qc["summary"]["flag_counts"]["link-disagrees"], 2);
  // The median of the 6 scores of FoVs reconstructed with a widefield (tile 1 has none, tile 3 had
  // no widefield, so no error map, tile 8 failed): 0.40 0.44 0.45 0.46 0.47 0.9.
  EXPECT_NEAR(qc["summary"]["error_score_median"].get<double>(), 0.455, 1e-12);
  EXPECT_DOUBLE_EQ(median({0.47, 0.40, 0.44, 0.9}), 0.455);  // an even count: the mean of the middle two
  // The heat maps' colour ranges, so that their colours can be read as numbers.
  EXPECT_DOUBLE_EQ(qc["heatmaps"]["heatmap_error.png"]["range"]["max"].get<double>(), 0.9);
  EXPECT_TRUE(fs::exists(out + "/qc/heatmap_error.png"));
  // FoV 3 had no widefield, so no error map: its score is null, not a 0 that reads as the best.
  EXPECT_TRUE(qc["fovs"][3]["error_score"].is_null());
  // Nor a registered widefield: its shift and confidence are null, present as in every FoV (a
  // script's t["wf_confidence"] failed on some FoVs), and so is an empty list of warnings.
  EXPECT_TRUE(qc["fovs"][3]["wf_confidence"].is_null());
  EXPECT_TRUE(qc["fovs"][3]["wf_shift_x_px"].is_null());
  EXPECT_EQ(qc["fovs"][3]["warnings"], nlohmann::json::array());
  EXPECT_DOUBLE_EQ(qc["fovs"][6]["wf_confidence"].get<double>(), 0.01);
  for (const auto& t : qc["fovs"]) EXPECT_TRUE(t.contains("flags")) << t.dump();  // an empty list when none
}

// A FoV without a record yet (a run stopped, --stage stitch) has the same keys as the others.
TEST(QcReport, AFovWithoutARecordHasEveryKeyToo) {
  const std::string out = fresh_out("qc_missing");
  std::vector<FovEntry> fovs;
  const CampaignInfo c = one_row_campaign(2, fovs);
  std::map<int, ManifestRecord> recs;
  recs[0] = {0, "done", "", "", "", {{"localizations", 5000}, {"widefield", false}}};
  write_qc_report(out, c, fovs, recs, nullptr, 20.0);
  const nlohmann::json qc = read_json(out + "/qc/qc.json");
  ASSERT_EQ(qc["fovs"][1]["status"], "missing");
  for (const auto& t : qc["fovs"]) {
    for (const char* k : {"wf_shift_x_px", "wf_shift_y_px", "wf_confidence"}) EXPECT_TRUE(t.at(k).is_null()) << t.dump();
    EXPECT_EQ(t.at("warnings"), nlohmann::json::array()) << t.dump();
  }
}

TEST(QcReport, AGroupOfTilesCutOffFromTheMainGroupIsFlagged) {
  // 1 x 4: tiles 0-1 register to each other, tiles 2-3 to each other, but no link between the
  // groups: 2-3 are placed against 0-1 by the stage alone.
  const std::string out = fresh_out("qc_groups");
  CampaignInfo c;
  c.rows = 1, c.cols = 4, c.fov_um = 10;
  std::vector<FovEntry> fovs;
  std::map<int, ManifestRecord> recs;
  nlohmann::json layout = {{"tiles", nlohmann::json::array()}};
  for (int id = 0; id < 4; ++id) {
    fovs.push_back(fov_in_row(id));
    recs[id] = {id, "done", "", "", "", {{"localizations", 5000}, {"widefield", false}}};
    layout["tiles"].push_back({{"id", id}, {"placed_by", "registration"}, {"component", id < 2 ? 0 : 1}});
  }
  fovs.push_back({4, 1, 0, 0.0, 9.0, "", "", 0});  // a lone tile: flagged as placed by the stage
  recs[4] = {4, "done", "", "", "", {{"localizations", 5000}, {"widefield", false}}};
  layout["tiles"].push_back({{"id", 4}, {"placed_by", "stage"}, {"component", 2}});
  c.rows = 2;
  write_qc_report(out, c, fovs, recs, &layout, 20.0);
  const nlohmann::json qc = read_json(out + "/qc/qc.json");
  // Components 0 and 1 both have 2 tiles: the first found is the main group.
  EXPECT_EQ(qc["fovs"][0]["flags"], nlohmann::json::array());
  EXPECT_NE(qc["fovs"][2]["flags"].dump().find("in a group of 2 tiles registered to each other but to no tile of the main"),
            std::string::npos)
      << qc["fovs"][2]["flags"].dump();
  EXPECT_NE(qc["fovs"][4]["flags"].dump().find("placed by its stage position only"), std::string::npos);
  EXPECT_EQ(qc["fovs"][4]["flags"].dump().find("in a group"), std::string::npos);
}

TEST(QcReport, ATableCutShortIsFlagged) {
  // 1 x 4 tables of 1000 frames, one of them ending at frame 51 (an export cut short): its count
  // of localizations alone is no sign (probe83: 7.7% of the median, above the 5% limit).
  const std::string out = fresh_out("qc_short_table");
  CampaignInfo c;
  c.rows = 1, c.cols = 4, c.fov_um = 10;
  std::vector<FovEntry> fovs;
  std::map<int, ManifestRecord> recs;
  for (int id = 0; id < 4; ++id) {
    fovs.push_back(fov_in_row(id));
    recs[id] = {id, "done", "", "", "",
                {{"localizations", id == 2 ? 737 : 9500}, {"widefield", false},
                 {"table_frames", {1, id == 2 ? 51 : 1000 - id}}}};
  }
  write_qc_report(out, c, fovs, recs, nullptr, 20.0);
  const nlohmann::json qc = read_json(out + "/qc/qc.json");
  EXPECT_EQ(qc["fovs"][2]["flag_kinds"], nlohmann::json::array({"short-table"}));
  EXPECT_EQ(qc["fovs"][2]["flags"][0], "its table spans frames 1..51 (51), under half the campaign's median span (998 "
                                       "frames): an export or a copy cut short?");
  for (int id : {0, 1, 3}) EXPECT_EQ(qc["fovs"][id]["flags"], nlohmann::json::array()) << id;
  EXPECT_EQ(qc["fovs"][2]["table_frames"], nlohmann::json::array({1, 51}));
  // A frame window that ended before the table did (--frames first:30): its length did not matter.
  recs[2].extra["window_end"] = 31;
  write_qc_report(out, c, fovs, recs, nullptr, 20.0);
  EXPECT_EQ(read_json(out + "/qc/qc.json")["fovs"][2]["flags"], nlohmann::json::array());
  // The acquisition's length from campaign.ini, not the median: a 400-frame table of a 1000-frame
  // acquisition is short even where most FoVs' tables are as short.
  recs[2].extra.erase("window_end");
  for (int id : {0, 1}) recs[id].extra["table_frames"] = {1, 400};
  c.frames = 1000;
  write_qc_report(out, c, fovs, recs, nullptr, 20.0);
  const nlohmann::json again = read_json(out + "/qc/qc.json");
  EXPECT_EQ(again["fovs"][0]["flags"][0], "its table spans frames 1..400 (400), under half the 1000 frames campaign.ini "
                                          "says: an export or a copy cut short?");
  EXPECT_EQ(again["fovs"][3]["flags"], nlohmann::json::array());
}

TEST(QcReport, ACampaignWithoutWidefieldsHasNoErrorScoresNorErrorHeatMap) {
  const std::string out = fresh_out("qc_no_widefield");
  fs::create_directories(out + "/qc");
  std::ofstream(out + "/qc/heatmap_error.png") << "an earlier run's";
  CampaignInfo c;
  c.rows = 1, c.cols = 2, c.fov_um = 10;
  std::vector<FovEntry> fovs = {{0, 0, 0, 0.0, 0.0, "", "", 0}, {1, 0, 1, 9.0, 0.0, "", "", 0}};
  std::map<int, ManifestRecord> recs;
  for (int id = 0; id < 2; ++id)
    recs[id] = {id, "done", "", "", "", {{"localizations", 5000}, {"widefield", false}, {"error_score", 0.0}}};
  write_qc_report(out, c, fovs, recs, nullptr, 20.0);
  const nlohmann::json qc = read_json(out + "/qc/qc.json");
  for (const auto& t : qc["fovs"]) {
    EXPECT_TRUE(t["error_score"].is_null()) << t.dump();
    EXPECT_EQ(t["flags"], nlohmann::json::array()) << t.dump();  // nobody had a widefield: not flagged for lacking one
  }
  EXPECT_TRUE(qc["summary"]["error_score_median"].is_null()) << qc["summary"].dump();  // not a typical score of 0
  EXPECT_FALSE(qc["heatmaps"].contains("heatmap_error.png"));
  EXPECT_FALSE(fs::exists(out + "/qc/heatmap_error.png"));
  EXPECT_TRUE(fs::exists(out + "/qc/heatmap_localizations.png"));
}

// A failed FoV's tile (the A-net from its widefield alone) looks like data on the overview unless
// it is marked: both its diagonals are drawn at its tile's brightest value; a done tile is left as
// it is.
TEST(QcReport, TheOverviewCrossesOutAFailedFovsTile) {
  const std::string out = fresh_out("qc_overview_cross");
  fs::create_directories(out + "/fov");
  CampaignInfo c;
  c.rows = 1, c.cols = 2, c.fov_um = 10;
  // 100 nm pixels: 100 px tiles, 9 um apart; the canvas (190 x 100 px) is at the tiles' own pixel.
  std::vector<FovEntry> fovs = {{0, 0, 0, 0.0, 0.0, "", "", 0}, {1, 0, 1, 9.0, 0.0, "", "", 0}};
  std::map<int, ManifestRecord> recs;
  for (int id = 0; id < 2; ++id) {
    FovResult r;
    r.id = id, r.col = id, r.x_um = 9.0 * id, r.pixel_nm = 100;
    r.reconstruction = ImageF(100, 100);
    for (std::size_t y = 0; y < 100; ++y)
      for (std::size_t x = 0; x < 100; ++x) r.reconstruction(x, y) = 0.25f + 0.25f * static_cast<float>((x * 7 + y * 3) % 10) / 10;
    r.reconstruction(50, 20) = 2.0f;  // the tile's brightest pixel, off both diagonals
    const std::string file = fmt::format("fov/{:04d}.h5", id);
    write_fov_result(out + "/" + file, r);
    recs[id] = {id, id == 1 ? "failed" : "done", file, "", id == 1 ? "locs.csv:3: not a number" : "",
                {{"localizations", 5000}, {"widefield", id == 0}}};
    if (id == 1) recs[id].extra["tile"] = "widefield-only";  // as finish_fov records a failed FoV
  }
  const QcOverview ov = build_qc_overview(out, c, fovs, recs, nullptr, 100.0);
  ASSERT_EQ(ov.reconstruction.width(), 190u);
  ASSERT_EQ(ov.reconstruction.height(), 100u);
  // FoV 1 from x = 90 px; away from the overlap with FoV 0 (x < 100), both diagonals at 2.0.
  for (std::size_t k = 10; k < 90; ++k) {
    EXPECT_FLOAT_EQ(ov.reconstruction(90 + k, k), 2.0f) << k;
    EXPECT_FLOAT_EQ(ov.reconstruction(90 + 99 - k, k), 2.0f) << k;
  }
  EXPECT_LT(ov.reconstruction(140, 30), 2.0f);  // between the arms: the tile itself
  // FoV 0 (done): its diagonals keep their own values.
  for (std::size_t k = 0; k < 90; ++k) EXPECT_LT(ov.reconstruction(k, k), 1.0f) << k;
  // An empty tile (--failed-tile empty) is crossed out too, at 1 (at 1e-6 it looked like no FoV).
  {
    FovResult empty;
    empty.id = 1, empty.col = 1, empty.x_um = 9.0, empty.pixel_nm = 100;
    empty.reconstruction = ImageF(100, 100);
    write_fov_result(out + "/fov/0001.h5", empty);
    const QcOverview blank = build_qc_overview(out, c, fovs, recs, nullptr, 100.0);
    for (std::size_t k = 10; k < 90; ++k) EXPECT_FLOAT_EQ(blank.reconstruction(90 + k, k), 1.0f) << k;
    EXPECT_FLOAT_EQ(blank.reconstruction(140, 30), 0.0f);
  }
  // qc.json says what the failed FoV's tile shows.
  write_qc_report(out, c, fovs, recs, nullptr, 100.0, &ov);
  const nlohmann::json qc = read_json(out + "/qc/qc.json");
  EXPECT_EQ(qc["fovs"][1]["tile"], "widefield-only");
  EXPECT_FALSE(qc["fovs"][0].contains("tile"));  // a done FoV's tile is its reconstruction
  EXPECT_TRUE(fs::exists(out + "/qc/overview_reconstruction.png"));
}

// The overview pictures say what they show: flagged FoVs outlined where they lie, a scale bar and
// a caption below (probe83: none of it, and flagged FoVs could not be found in them).
TEST(QcReport, AnOverviewOutlinesFlaggedFovsAndHasAScaleBarAndCaption) {
  QcOverview ov;
  ov.reconstruction = ImageF(200, 100);
  for (std::size_t y = 0; y < 100; ++y)
    for (std::size_t x = 0; x < 200; ++x) ov.reconstruction(x, y) = static_cast<float>((x * 7 + y * 3) % 11);
  ov.px_um = 0.1;                             // 10 um FoVs of 100 px, side by side
  ov.fov_um = {{0, {0.0, 0.0}}, {1, {10.0, 0.0}}};
  OverviewMarks marks;
  marks.flagged = {1};
  const RgbCanvas c = captioned_overview(ov.reconstruction.view(), ov, 10.0, marks, {"reconstruction"});
  const auto at = [&](int x, int y) { return pixel(c, x, y); };
  const std::array<int, 3> cyan{0, 255, 255}, black{0, 0, 0}, white{255, 255, 255};
  EXPECT_EQ(c.width, 200);
  EXPECT_GT(c.height, 100 + 2 * (kGlyphHeightPx + kGlyphDescentPx + 3));  // the scale bar's line and the caption's
  for (int y : {1, 50, 98}) EXPECT_EQ(at(101, y), cyan) << y;  // FoV 1's left edge, 2 px of cyan
  for (int y : {1, 50, 98}) EXPECT_EQ(at(102, y), cyan) << y;
  for (int y : {0, 50, 99}) EXPECT_EQ(at(100, y), black) << y;  // edged in black, outside and in
  EXPECT_EQ(at(103, 50), black);
  for (int x : {120, 150, 198}) EXPECT_EQ(at(x, 1), cyan) << x;  // ... its top edge
  EXPECT_NE(at(150, 50), cyan);                                  // not its inside
  // Each FoV's id in its corner, inside the outline, on black: FoV 1's in cyan, FoV 0's in white.
  const auto label = [&](int x0, const std::array<int, 3>& colour) {
    int n = 0;
    for (int y = 8; y < 8 + kGlyphHeightPx; ++y)
      for (int x = x0; x < x0 + text_width_px("1"); ++x) n += at(x, y) == colour;
    return n;
  };
  EXPECT_GE(label(108, cyan), 8);  // "1": 10 pixels of ink
  EXPECT_GE(label(8, white), 8);   // "0"
  EXPECT_EQ(at(107, 7), black);    // its black ground
  for (int y : {10, 50, 90}) EXPECT_NE(at(1, y), cyan) << y;    // nor FoV 0, not flagged
  // 5 um (50 px) is the round length nearest a fifth of the 200 px: a black bar from x = 4.
  EXPECT_EQ(at(4, 106), black);
  EXPECT_EQ(at(53, 106), black);
  EXPECT_EQ(at(55, 106), white);
}

// A failed FoV is outlined and crossed out in blue (red vanished on the colour map), a FoV
// flagged for its place alone outlined in magenta (probe91: failed FoVs had no mark in the error overview, nor an id, and every flag looked
// alike).
TEST(QcReport, AnOverviewMarksFailedFovsAndThoseFlaggedForTheirPlaceAlone) {
  QcOverview ov;
  ov.error_map = ImageF(300, 100);
  ov.px_um = 0.1;
  ov.fov_um = {{0, {0.0, 0.0}}, {1, {10.0, 0.0}}, {2, {20.0, 0.0}}};
  OverviewMarks marks;
  marks.failed = {0};
  marks.placement_only = {2};
  const RgbCanvas c = captioned_overview(ov.error_map.view(), ov, 10.0, marks, {"error map"});
  const auto at = [&](int x, int y) { return pixel(c, x, y); };
  const std::array<int, 3> blue{40, 110, 255}, magenta{255, 0, 255};
  EXPECT_EQ(at(1, 50), blue);   // FoV 0's outline
  EXPECT_EQ(at(50, 50), blue);  // ... and the middle of its cross
  EXPECT_EQ(at(30, 30), blue);
  EXPECT_EQ(at(201, 50), magenta);  // FoV 2's outline
  EXPECT_NE(at(250, 50), magenta);
  EXPECT_NE(at(101, 50), blue);  // FoV 1: no mark
  EXPECT_NE(at(101, 50), magenta);
}

// In a heat map, a FoV flagged for its place alone is framed in magenta; in cells under 16 px a
// frame is one pixel of colour, without its black edges, so that the value still shows (a review:
// an 8 px cell kept one pixel of its colour).
TEST(QcReport, HeatMapFramesPlacementFlagsInMagentaAndThinlyInSmallCells) {
  HeatMapGrid g{1, 2, {1.0, 3.0}, {}, {true, true}, {false, true}, {}};
  const HeatMapLegend legend{"score", [](double x) { return fmt::format("{:.1f}", x); }, {}};
  const std::array<int, 3> cyan{0, 255, 255}, magenta{255, 0, 255}, blue{68, 1, 84};
  const RgbCanvas big = heat_map(g, 20, legend);
  const int left = 9, top = 11;  // one-digit rows and columns at the font's size
  EXPECT_EQ(pixel(big, left + 3, top + 10), cyan);  // FoV in cell 0: flagged (black edge at 1, cyan 2..3)
  EXPECT_EQ(pixel(big, left + 20 + 3, top + 10), magenta);
  const RgbCanvas small = heat_map(g, 8, legend);
  EXPECT_EQ(pixel(small, left + 1, top + 4), cyan);  // the frame: one pixel, no black edge
  EXPECT_EQ(pixel(small, left + 2, top + 4), blue);  // then the value's colour
  EXPECT_EQ(pixel(small, left + 8 + 1, top + 4), magenta);
}

// A FoV without data of its own (no error map: no widefield used) is grey where nothing else
// reached it, not the colour map's black, which also means "0: no disagreement" (probe88).
TEST(QcReport, AnOverviewGreysTheFovsWithoutData) {
  QcOverview ov;
  ov.error_map = ImageF(200, 100);
  for (std::size_t y = 0; y < 100; ++y)
    for (std::size_t x = 0; x < 100; ++x) ov.error_map(x, y) = (x / 10 + y / 10) % 2 ? 1.0f : 0.0f;  // FoV 0: a checkerboard
  ov.error_map(150, 50) = 1.0f;  // a neighbour's pixel reaching into FoV 1: kept
  ov.px_um = 0.1;
  ov.fov_um = {{0, {0.0, 0.0}}, {1, {10.0, 0.0}}};
  OverviewMarks marks;
  marks.no_data = {1};
  const RgbCanvas c = captioned_overview(ov.error_map.view(), ov, 10.0, marks, {"error map"});
  const auto at = [&](int x, int y) { return pixel(c, x, y); };
  const std::array<int, 3> grey{128, 128, 128};
  EXPECT_EQ(at(120, 20), grey);
  EXPECT_EQ(at(199, 99), grey);
  EXPECT_NE(at(150, 50), grey);
  EXPECT_NE(at(5, 5), grey);  // FoV 0's zeros: its error map says no disagreement there
  EXPECT_NE(at(15, 5), grey);
}

// A FoV not acquired yet is no failure (no cross) and no FoV of 0 localizations: its heat-map cell
// is "no data", out of the colour range (its recorded 0 drew it dark blue, the range's floor).
TEST(QcReport, AFovNotAcquiredYetIsNoDataNotAFailure) {
  const std::string out = fresh_out("qc_not_acquired");
  std::vector<FovEntry> fovs;
  const CampaignInfo c = one_row_campaign(3, fovs);
  std::map<int, ManifestRecord> recs;
  for (int id = 0; id < 3; ++id) {
    recs[id] = {id, id == 2 ? "failed" : "done", "", "", id == 2 ? "t.csv: not acquired yet" : "",
                {{"localizations", id == 2 ? 0 : 999}, {"widefield", id != 2}}};
  }
  recs[2].extra["not_acquired"] = true;
  const QcSummary s = write_qc_report(out, c, fovs, recs, nullptr, 20.0);
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(s.not_acquired, 1u);
  const nlohmann::json qc = read_json(out + "/qc/qc.json");
  EXPECT_EQ(qc["fovs"][2]["status"], "not-acquired");
  EXPECT_EQ(qc["summary"]["not_acquired"], 1);
  EXPECT_DOUBLE_EQ(qc["heatmaps"]["heatmap_localizations.png"]["range"]["min"].get<double>(), 3.0);  // log10(1 + 999)
}

// A failed FoV is crossed out on grey, out of the colour range: its recorded 0 localizations (a
// table that did not parse) set the range's floor and squeezed the other FoVs' colours (probe90).
TEST(QcReport, AFailedFovStaysOutOfTheHeatMapsRanges) {
  const std::string out = fresh_out("qc_failed_range");
  std::vector<FovEntry> fovs;
  const CampaignInfo c = one_row_campaign(3, fovs);
  std::map<int, ManifestRecord> recs;
  for (int id = 0; id < 3; ++id) {
    recs[id] = {id, id == 1 ? "failed" : "done", "", "", id == 1 ? "t.csv: line 2: not a number" : "",
                {{"localizations", id == 1 ? 0 : 999 * id + 999}, {"widefield", true}, {"error_score", id == 1 ? 0.9 : 0.1 * (id + 1)}}};
  }
  const QcSummary s = write_qc_report(out, c, fovs, recs, nullptr, 20.0);
  EXPECT_EQ(s.failed, 1u);
  const nlohmann::json qc = read_json(out + "/qc/qc.json");
  EXPECT_DOUBLE_EQ(qc["heatmaps"]["heatmap_localizations.png"]["range"]["min"].get<double>(), 3.0);  // log10(1 + 999)
  EXPECT_DOUBLE_EQ(qc["heatmaps"]["heatmap_error.png"]["range"]["min"].get<double>(), 0.1);
  EXPECT_DOUBLE_EQ(qc["heatmaps"]["heatmap_error.png"]["range"]["max"].get<double>(), 0.3);
  EXPECT_EQ(qc["fovs"][1]["localizations"], 0);  // qc.json keeps what was recorded
}

// A table that is the same bytes under two FoVs (a copy slip) flags both, naming the other (probe91:
// said in the log only); a FoV placed by the stage alone is listed apart as flagged for its place
// alone, the others' reconstruction being what is in doubt.
TEST(QcReport, ADuplicatedTableIsFlaggedAndPlacementFlagsAreSaidApart) {
  const std::string out = fresh_out("qc_duplicate");
  std::vector<FovEntry> fovs;
  const CampaignInfo c = one_row_campaign(3, fovs);
  std::map<int, ManifestRecord> recs;
  for (int id = 0; id < 3; ++id) {
    recs[id] = {id, "done", "", "", "",
                {{"localizations", 5000}, {"widefield", false},
                 {"inputs", {{"table", {{"checksum", id == 1 ? "xxh3:1" : "xxh3:2"}, {"path", "t.csv"}}}}}}};
  }
  nlohmann::json layout = {{"tiles", nlohmann::json::array()}};
  for (int id = 0; id < 3; ++id)
    layout["tiles"].push_back({{"id", id}, {"placed_by", id == 1 ? "stage" : "registration"}, {"component", id == 1 ? 1 : 0}});
  const QcSummary s = write_qc_report(out, c, fovs, recs, &layout, 20.0);
  EXPECT_EQ(s.flagged, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(s.placement_only, std::vector<int>{1});
  EXPECT_EQ(s.flag_counts.at("duplicate-table"), 2u);
  const nlohmann::json qc = read_json(out + "/qc/qc.json");
  EXPECT_EQ(qc["fovs"][0]["flag_kinds"], nlohmann::json::array({"duplicate-table"}));
  EXPECT_NE(qc["fovs"][0]["flags"][0].get<std::string>().find("its table is the same bytes as FoV 2's"), std::string::npos);
  EXPECT_EQ(qc["summary"]["placement_only"], nlohmann::json::array({1}));
}

// An error score is an outlier only well above the rest: in a small, even campaign the MAD is
// tiny, and 3 MAD alone flagged a score 3% over the median (0.734 against 0.713, 4 FoVs);
// where most scores are equal (MAD 0) a far higher one is still flagged.
TEST(QcReport, AnErrorScoreIsFlaggedOnlyWellAboveTheCampaigns) {
  const std::string out = std::string(ANNAMOSAIC_TEST_TMP) + "/qc_outlier";
  CampaignInfo c;
  c.rows = 2, c.cols = 2, c.fov_um = 10;
  std::vector<FovEntry> fovs;
  for (int id = 0; id < 4; ++id) fovs.push_back({id, id / 2, id % 2, 9.0 * (id % 2), 9.0 * (id / 2), "", "", 0});
  const auto flagged = [&](const std::vector<double>& scores) {
    fs::remove_all(out);
    fs::create_directories(out);
    std::map<int, ManifestRecord> recs;
    for (int id = 0; id < 4; ++id)
      recs[id] = {id, "done", "", "", "", {{"localizations", 5000}, {"widefield", true}, {"wf_confidence", 0.8},
                                           {"error_score", scores[static_cast<std::size_t>(id)]}}};
    const nlohmann::json layout = {{"tiles", nlohmann::json::array()}};
    return write_qc_report(out, c, fovs, recs, &layout, 20.0).flagged;
  };
  EXPECT_EQ(flagged({0.70, 0.71, 0.715, 0.734}), std::vector<int>{});  // above median + 3 MAD, under +10%
  EXPECT_EQ(flagged({0.5, 0.5, 0.5, 0.9}), std::vector<int>{3});      // MAD 0: the +10% rule alone
}

TEST(QcReport, HeatMapCellsTakeTheRampAndTheLegendNamesItsEnds) {
  // 2 x 3 grid, 20 px cells: the smallest value dark blue, the largest yellow, no data grey, a
  // failed FoV crossed out in red; below the grid the legend: title, colour bar, labels, key.
  HeatMapGrid g{2, 3, {1.0, 2.0, 3.0, NAN, 2.5, 1.5}, {false, false, false, false, true, false}, {}, {}, {}};
  const RgbCanvas m = heat_map(g, 20, {"score per fov", [](double x) { return fmt::format("{:.1f}", x); }, {}});
  const auto px = [&](int x, int y) { return pixel(m, x, y); };
  // The grid starts after the row numbers (one digit, 5 px, + 4) and below the column numbers (7 + 4).
  const int left = 9, top = 11;
  EXPECT_EQ(px(left + 10, top + 5), (std::array<int, 3>{68, 1, 84}));       // value 1.0 (min), off the cell's diagonals
  EXPECT_EQ(px(left + 50, top + 5), (std::array<int, 3>{253, 231, 37}));    // value 3.0 (max)
  EXPECT_EQ(px(left + 10, top + 25), (std::array<int, 3>{128, 128, 128}));  // NaN: no data
  EXPECT_EQ(px(left + 30, top + 30), (std::array<int, 3>{255, 0, 0}));      // failed: on the cross
  EXPECT_EQ(px(left + 20, top + 5), (std::array<int, 3>{255, 255, 255}));   // grid line between cells
  // The legend is wider than this small grid: the picture widens for it, and ink lies below the grid.
  EXPECT_GT(m.width, left + 60);
  EXPECT_GT(m.height, top + 40 + 30);
  std::size_t ink_below = 0, bar_start = 0, bar_end = 0;
  for (int y = top + 40; y < m.height; ++y)
    for (int x = 0; x < m.width; ++x) {
      const auto p = px(x, y);
      ink_below += p == std::array<int, 3>{0, 0, 0};
      bar_start += p == std::array<int, 3>{68, 1, 84};
      bar_end += p == std::array<int, 3>{253, 231, 37};
    }
  EXPECT_GT(ink_below, 100u);  // title, the labels "1.0", "2.0", "3.0", "no data", "failed"
  EXPECT_GT(bar_start, 0u);    // the colour bar runs from the ramp's first colour ...
  EXPECT_GT(bar_end, 0u);      // ... to its last
  // Rows and columns numbered: ink left of the first row and above the first column, none above
  // the grid's corner.
  const auto ink_in = [&](int x0, int y0, int w, int h) {
    int n = 0;
    for (int y = y0; y < y0 + h; ++y)
      for (int x = x0; x < x0 + w; ++x) n += px(x, y) == std::array<int, 3>{0, 0, 0};
    return n;
  };
  EXPECT_GT(ink_in(0, top, left, 20), 5);        // "0" beside row 0
  EXPECT_GT(ink_in(0, top + 20, left, 20), 5);   // "1" beside row 1
  EXPECT_GT(ink_in(left, 0, 20, top), 5);        // "0" above column 0
  EXPECT_GT(ink_in(left + 40, 0, 20, top), 5);   // "2" above column 2
  EXPECT_EQ(ink_in(0, 0, left, top), 0);
}

// A heat map says which FoV a cell is (its id inside, where it fits), frames the flagged ones in
// cyan, and marks the median and the flag limit on its colour bar (probe88: none of these, so a
// cell could not be matched with qc.json, nor a colour read against the flag rule).
TEST(QcReport, HeatMapCellsCarryTheirFovIdsAndFlagsAndTheBarItsMarks) {
  HeatMapGrid g{1, 2, {1.0, 3.0}, {}, {false, true}, {}, {7, 12}};
  HeatMapLegend legend{"score", [](double x) { return fmt::format("{:.1f}", x); }, {{"median", 2.0}, {"flagged above", 2.5}}};
  // Cells this large have their rows and columns numbered at twice the font's size: the grid
  // starts 10 + 4 px from the left, 14 + 4 from the top.
  const int cell = 40, left = 14, top = 18;
  const RgbCanvas m = heat_map(g, cell, legend);
  const auto px = [&](int x, int y) { return pixel(m, x, y); };
  const std::array<int, 3> cyan{0, 255, 255}, black{0, 0, 0}, white{255, 255, 255}, blue{68, 1, 84};
  const auto count = [&](int x0, int y0, int w, int h, std::array<int, 3> colour) {
    int n = 0;
    for (int y = y0; y < y0 + h; ++y)
      for (int x = x0; x < x0 + w; ++x) n += px(x, y) == colour;
    return n;
  };
  // FoV 7's id, in white on the ramp's dark end, at twice the font's size (it fits a 40 px cell).
  EXPECT_GT(count(left + 1, top + 1, cell - 1, 2 * kGlyphHeightPx + 6, white), 20);
  EXPECT_EQ(px(left + 30, top + 30), blue);
  // FoV 12, flagged: framed inside its cell, black then cyan (4 px: a tenth of the cell) then black.
  const int x1 = left + cell;
  EXPECT_EQ(px(x1 + 1, top + 20), black);
  for (int d = 2; d <= 5; ++d) EXPECT_EQ(px(x1 + d, top + 20), cyan) << d;
  EXPECT_EQ(px(x1 + 6, top + 20), black);
  EXPECT_EQ(px(x1 + 20, top + cell - 1), black);  // the bottom edge too
  EXPECT_EQ(px(x1 + 20, top + cell - 3), cyan);
  EXPECT_EQ(count(left + 1, top + 1, cell - 1, cell - 1, cyan), 0);  // FoV 7 is not flagged
  // On the colour bar (its row: below the grid, the margin and the title's line): a black tick at
  // the median (the middle) and a cyan one at the flag limit (three quarters along).
  const int scale = 2, margin = 8, line = (kGlyphHeightPx + kGlyphDescentPx + 3) * scale;
  const int bar_y = top + cell + margin + line + line / 2, bar_w = std::max(200, text_width_px("1.0  2.0  3.0", 2));
  int median_x = -1, limit_x = -1;
  for (int x = margin; x < margin + bar_w; ++x) {
    if (px(x, bar_y) == black && median_x < 0) median_x = x;
    if (px(x, bar_y) == cyan && limit_x < 0) limit_x = x;
  }
  EXPECT_NEAR(median_x, margin + (bar_w - 1) / 2, 2);
  EXPECT_NEAR(limit_x, margin + 3 * (bar_w - 1) / 4, 2);
}
