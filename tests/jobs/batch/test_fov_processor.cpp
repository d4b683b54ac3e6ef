#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "batch/fov_processor.hpp"
#include "batch/fov_result.hpp"
#include "imageio/tiff_io.hpp"
#include "sim/widefield.hpp"

using namespace annamosaic;

namespace {
// A stand-in for the A-net with the same three steps: A = S / 10, Q and the error map 1/4 size,
// error map = 0.25 everywhere. `fail_at` makes one step throw, as a real model can (out of memory).
class FakeJob : public ReconstructJob {
 public:
  FakeJob(const ImageF& s, int fail_at) : fail_at_(fail_at) {
    a_ = ImageF(s.width(), s.height());
    for (std::size_t i = 0; i < s.size(); ++i) a_.data()[i] = s.data()[i] / 10.0f;
  }
  void run_networks() override {
    if (fail_at_ == 2) throw std::runtime_error("CUDA out of memory (fake)");
    ran_ = true;
  }
  ReconstructionOut finish() override {
    if (fail_at_ == 3) throw std::runtime_error("error map failed (fake)");
    if (!ran_) throw std::logic_error("finish before run_networks");
    ReconstructionOut o;
    o.reconstruction = std::move(a_);
    o.q = ImageF(o.reconstruction.width() / 4, o.reconstruction.height() / 4);
    o.error_map = ImageF(o.q.width(), o.q.height());
    for (float& v : o.error_map) v = 0.25f;
    return o;
  }

 private:
  ImageF a_;
  int fail_at_;
  bool ran_ = false;
};

ReconstructFn fake(int fail_at) {
  return [fail_at](const ImageF& s, const ImageF*, int) -> std::unique_ptr<ReconstructJob> {
    if (fail_at == 1) throw std::invalid_argument("bad input (fake)");
    return std::make_unique<FakeJob>(s, fail_at);
  };
}

// A FoV whose locs.csv and widefield.tif go in ANNAMOSAIC_TEST_TMP/folder (created).
FovEntry fov_in(const std::string& folder, int id) {
  const std::string dir = std::string(ANNAMOSAIC_TEST_TMP) + "/" + folder;
  std::filesystem::create_directories(dir);
  FovEntry f;
  f.id = id;
  f.table_path = dir + "/locs.csv";
  f.widefield_path = dir + "/widefield.tif";
  return f;
}

// A 2 um FoV of 100 nm camera pixels, its table a diagonal of 300 localizations (and extra rows).
CampaignInfo diagonal_fov(const FovEntry& f, const std::string& extra_rows = "") {
  CampaignInfo c;
  c.fov_um = 2;
  c.camera_pixel_nm = 100;
  std::ofstream t(f.table_path);
  t << "frame,x,y\n";
  for (int i = 0; i < 300; ++i) t << i << "," << 100 + 6 * i << "," << 150 + 5 * i << "\n";
  t << extra_rows;
  return c;
}

FovWork work(int id) {
  FovWork w;
  w.entry.id = id;
  w.result.id = id;
  w.result.sparse = ImageF(64, 48);
  w.result.sparse(10, 20) = 5;
  w.result.widefield = ImageF(64, 48);
  return w;
}
}  // namespace

TEST(FovProcessor, TheThreeReconstructionStepsOnDifferentThreads) {
  FovWork w = work(3);
  begin_reconstruction(w, fake(0), 0, FovOptions());
  ASSERT_TRUE(w.job);
  std::thread([&] { run_reconstruction_networks(w); }).join();  // the serial stage's thread
  end_reconstruction(w);
  EXPECT_FALSE(w.job);
  EXPECT_FALSE(w.failed);
  EXPECT_EQ(w.result.status, "ok");
  EXPECT_FLOAT_EQ(w.result.reconstruction(10, 20), 0.5f);
  EXPECT_DOUBLE_EQ(w.result.error_score, 0.25);
  for (const char* k : {"anet_in_s", "infer_s", "anet_out_s"}) EXPECT_TRUE(w.timings.contains(k)) << k;
}

TEST(FovProcessor, AnAnetFailureFailsThatFovOnlyWithItsReason) {
  const std::string dir = std::string(ANNAMOSAIC_TEST_TMP) + "/fov_processor";
  std::filesystem::create_directories(dir);
  for (int step : {1, 2, 3}) {
    SCOPED_TRACE(step);
    FovWork w = work(10 + step);
    EXPECT_NO_THROW(begin_reconstruction(w, fake(step), 0, FovOptions()));
    EXPECT_NO_THROW(run_reconstruction_networks(w));
    EXPECT_NO_THROW(end_reconstruction(w));
    EXPECT_TRUE(w.failed);
    EXPECT_FALSE(w.job);
    EXPECT_NE(w.reason.find("reconstruction failed: "), std::string::npos) << w.reason;
    EXPECT_NE(w.reason.find("(fake)"), std::string::npos) << w.reason;
    EXPECT_EQ(w.result.status, "degraded");
    // An empty tile of the FoV's size, so the mosaic keeps its geometry.
    EXPECT_EQ(w.result.reconstruction.width(), 64u);
    EXPECT_EQ(w.result.reconstruction.height(), 48u);
    EXPECT_FLOAT_EQ(w.result.reconstruction(10, 20), 0.0f);
    // The manifest record says failed, with the reason; the result file exists and reads back.
    const auto rec = nlohmann::json::parse(finish_fov(w, dir, 0));
    EXPECT_EQ(rec["status"], "failed");
    EXPECT_NE(rec["reason"].get<std::string>().find("reconstruction failed"), std::string::npos);
    const FovResult back = read_fov_result(dir + "/" + fov_result_name(10 + step));
    EXPECT_EQ(back.status, "degraded");
    // A failed FoV's error score is no score; no registered widefield, no shift: NaN, not 0.
    EXPECT_TRUE(std::isnan(back.error_score));
    EXPECT_FALSE(rec["extra"].contains("error_score"));
    EXPECT_EQ(rec["extra"]["tile"], "empty");  // what the mosaic shows in its place
    EXPECT_TRUE(std::isnan(back.wf_shift_x_px));
    EXPECT_TRUE(std::isnan(back.wf_confidence));
  }
}

// A FoV that failed before the A-net (a corrupt table) is still given a tile: by default the A-net
// from its widefield alone, which its record says apart from "no widefield" (its widefield was
// never registered); with --failed-tile empty, or when the A-net fails on it too, an empty tile.
TEST(FovProcessor, AFailedFovsRecordSaysWhatItsTileShows) {
  const std::string dir = std::string(ANNAMOSAIC_TEST_TMP) + "/fov_processor_failed_tile";
  std::filesystem::create_directories(dir);
  struct Case {
    std::string option;
    int fail_at;
    const char* tile;
  };
  for (const Case& c : {Case{"widefield", 0, "widefield-only"}, Case{"empty", 0, "empty"}, Case{"widefield", 2, "empty"}}) {
    SCOPED_TRACE(c.option + " " + std::to_string(c.fail_at));
    FovWork w = work(20 + c.fail_at);
    w.failed = true;
    w.reason = "locs.csv:3: column 2: not a number";
    w.result.widefield(5, 5) = 100;
    FovOptions opt;
    opt.failed_tile = c.option;
    begin_reconstruction(w, fake(c.fail_at), 0, opt);
    run_reconstruction_networks(w);
    end_reconstruction(w);
    const auto rec = nlohmann::json::parse(finish_fov(w, dir, 0));
    EXPECT_EQ(rec["status"], "failed");
    EXPECT_EQ(rec["extra"]["widefield"], false);  // not registered: no shift, no confidence
    EXPECT_EQ(rec["extra"]["tile"], c.tile);
  }
}

// What a FoV's own files make the stage assume or drop is said, not silently done: here a table
// partly outside the field and a single widefield image tagged with another pixel size.
TEST(FovProcessor, AssumptionsAndDroppedLocalizationsAreWarnings) {
  const FovEntry f = fov_in("fov_warnings", 7);
  const std::string dir = std::filesystem::path(f.table_path).parent_path();
  CampaignInfo c;
  c.fov_um = 2;  // field 0..2000 nm
  c.camera_pixel_nm = 100;
  {
    std::ofstream t(f.table_path);
    t << "frame,x,y\n";
    for (int i = 0; i < 300; ++i) t << i << "," << 100 + 6 * i << "," << 150 + 5 * i << "\n";  // in the field
    for (int i = 0; i < 100; ++i) t << i << "," << 2500 + i << ",500\n";                      // beyond x = 2000 nm
  }
  ImageF wf(20, 20);
  for (std::size_t i = 0; i < wf.size(); ++i) wf.data()[i] = static_cast<float>(100 + i % 7);
  TiffWriteOptions to;
  to.pixel_nm = 65;  // the tags disagree with the campaign's 100 nm
  write_tiff(f.widefield_path, wf.view(), to);

  const FovOptions opt;
  const auto w = prepare_fov(f, c, opt);
  EXPECT_FALSE(w->failed) << w->reason;
  EXPECT_EQ(w->result.localizations, 300);
  std::string all;
  for (const auto& s : w->warnings) all += s + "\n";
  EXPECT_NE(all.find("100 of 400 localizations (25.0%) lie outside the field (0..2000 nm)"), std::string::npos) << all;
  EXPECT_NE(all.find("a single image, used as is (pages 3-5 asked for)"), std::string::npos) << all;
  EXPECT_NE(all.find("resolution tags say 65 nm per pixel, the campaign's camera-pixel-nm is 100"), std::string::npos) << all;
  EXPECT_FALSE(w->result.widefield.empty());  // the single image is used
  // The warnings go into the manifest record.
  const auto rec = nlohmann::json::parse(finish_fov(*w, dir, 0));
  EXPECT_EQ(rec["extra"]["warnings"].size(), w->warnings.size());
  EXPECT_EQ(all.find("not camera counts"), std::string::npos) << all;

  // A float widefield scaled to 0..1: the mosaic's whole-count channel would show it black.
  for (std::size_t i = 0; i < wf.size(); ++i) wf.data()[i] = static_cast<float>(i % 7) / 7.0f;
  to.pixel_nm = 100;
  write_tiff(f.widefield_path, wf.view(), to);
  std::string scaled;
  const auto w2 = prepare_fov(f, c, opt);
  for (const auto& s : w2->warnings) scaled += s + "\n";
  EXPECT_NE(scaled.find("the widefield's values span 0..0.857, not camera counts (ADU)"), std::string::npos) << scaled;
}

// One corrupt row far away (a 1 m coordinate) and a widefield smaller than the FoV: neither
// fails the FoV, and neither goes unsaid (each was silent before: a single stray fell under the
// 1% of localizations outside the field worth a word, and only the campaign noted the size).
TEST(FovProcessor, AFarCorruptRowAndASmallWidefieldAreSaid) {
  const FovEntry f = fov_in("fov_far_row", 8);
  const CampaignInfo c = diagonal_fov(f, "7,1e9,500\n");  // data row 301
  ImageF wf(15, 20);  // 1.5 x 2 um of a 2 um FoV
  for (std::size_t i = 0; i < wf.size(); ++i) wf.data()[i] = static_cast<float>(100 + (i * 7919) % 97);
  write_tiff(f.widefield_path, wf.view(), TiffWriteOptions{});
  const FovOptions opt;
  const auto w = prepare_fov(f, c, opt);
  EXPECT_FALSE(w->failed) << w->reason;
  EXPECT_EQ(w->result.localizations, 300);
  std::string all;
  for (const auto& s : w->warnings) all += s + "\n";
  EXPECT_NE(all.find("1 localization(s) lie far outside the others"), std::string::npos) << all;
  EXPECT_NE(all.find("data row 301 at (1e+09, 500) nm"), std::string::npos) << all;
  // Three quarters of the FoV: not given to the A-net (nor registered), kept for the mosaic.
  EXPECT_NE(all.find("widefield ignored: " + f.widefield_path + ": 15 x 20 px at 100 nm cover only 1.5 x 2 um of the 2 um "
                     "FoV (another camera ROI or binning?): the A-net used the localizations alone"),
            std::string::npos)
      << all;
  EXPECT_TRUE(w->widefield_partial);
  EXPECT_FALSE(w->widefield_registered);
  EXPECT_EQ(w->result.widefield.width(), w->result.sparse.width());
  // In the mosaic's channel, no data (NaN) beyond its 1.5 um, not its last column repeated.
  const ImageF& on_grid = w->result.widefield;
  const std::size_t covered = static_cast<std::size_t>(1500.0 / opt.pixel_nm);
  EXPECT_TRUE(std::isfinite(on_grid(covered - 1, on_grid.height() / 2)));
  EXPECT_TRUE(std::isnan(on_grid(covered + 1, on_grid.height() / 2)));
  EXPECT_TRUE(std::isnan(on_grid(on_grid.width() - 1, 0)));
  EXPECT_TRUE(std::isfinite(on_grid(0, on_grid.height() - 1)));  // its full 2 um down
  // A few pixels short: said, and used.
  ImageF nearly(18, 20);  // 90%
  for (std::size_t i = 0; i < nearly.size(); ++i) nearly.data()[i] = static_cast<float>(100 + (i * 7919) % 97);
  write_tiff(f.widefield_path, nearly.view(), TiffWriteOptions{});
  const auto w2 = prepare_fov(f, c, opt);
  EXPECT_FALSE(w2->widefield_partial);
  EXPECT_TRUE(std::all_of(w2->result.widefield.begin(), w2->result.widefield.end(), [](float v) { return std::isfinite(v); }));
  std::string all2;
  for (const auto& s : w2->warnings) all2 += s + "\n";
  EXPECT_NE(all2.find(f.widefield_path + ": 18 x 20 px at 100 nm cover only 1.8 x 2 um of the 2 um FoV: used; beyond them"),
            std::string::npos)
      << all2;
}

// A malformed row fails its FoV with the place and what to do next; with --skip-bad-rows it is
// left out and said.
TEST(FovProcessor, AMalformedRowSaysWhatToDoNext) {
  FovEntry f = fov_in("fov_bad_row", 10);
  f.widefield_path.clear();  // none
  const CampaignInfo c = diagonal_fov(f, "7,abc,500\n");  // line 302
  const auto w = prepare_fov(f, c, FovOptions{});
  EXPECT_TRUE(w->failed);
  EXPECT_NE(w->reason.find(f.table_path + ":302:"), std::string::npos) << w->reason;
  EXPECT_NE(w->reason.find("(fix that row and rerun: finished FoVs are kept; or leave malformed rows out, each counted, with "
                           "--skip-bad-rows into a new --output)"),
            std::string::npos)
      << w->reason;
  FovOptions skip;
  skip.table.csv.skip_bad_rows = true;
  const auto kept = prepare_fov(f, c, skip);
  EXPECT_FALSE(kept->failed) << kept->reason;
  EXPECT_EQ(kept->result.localizations, 300);
}

// A widefield larger than the FoV both ways (65 nm pixels read at 100 nm): said with the pixel that
// would fit, so that the FoV's warnings name the scale, not only a registration's search.
TEST(FovProcessor, AWidefieldLargerThanTheFovNamesTheCameraPixel) {
  const FovEntry f = fov_in("fov_large_widefield", 9);
  const CampaignInfo c = diagonal_fov(f);
  ImageF wf(31, 31);  // 3.1 um at 100 nm; 2 um at 64.5 nm
  for (std::size_t i = 0; i < wf.size(); ++i) wf.data()[i] = static_cast<float>(100 + (i * 7919) % 97);
  write_tiff(f.widefield_path, wf.view(), TiffWriteOptions{});
  const auto w = prepare_fov(f, c, FovOptions{});
  std::string all;
  for (const auto& s : w->warnings) all += s + "\n";
  EXPECT_NE(all.find(f.widefield_path + ": 31 x 31 px at 100 nm cover 3.1 x 3.1 um, more than the 2 um FoV: is "
                     "camera-pixel-nm right (64.52 nm would fit)?"),
            std::string::npos)
      << all;
  ImageF fits(21, 21);  // 2.1 um: within a tenth, not said
  for (std::size_t i = 0; i < fits.size(); ++i) fits.data()[i] = static_cast<float>(100 + (i * 7919) % 97);
  write_tiff(f.widefield_path, fits.view(), TiffWriteOptions{});
  const auto w2 = prepare_fov(f, c, FovOptions{});
  for (const auto& s : w2->warnings) EXPECT_EQ(s.find("more than the"), std::string::npos) << s;
}

// A 2 x 2 binned widefield among unbinned ones, tagged with its pixel: read at its tags' pixel,
// with which it spans the FoV (at the campaign's it covered half and was drawn at half scale).
// Tags that fit the FoV no better than the campaign's pixel change nothing.
TEST(FovProcessor, ABinnedWidefieldIsReadAtItsTagsPixelWhenThatSpansTheFov) {
  const FovEntry f = fov_in("fov_binned", 9);
  const CampaignInfo c = diagonal_fov(f);
  ImageF binned(10, 10);  // 10 px of 200 nm: the 2 um FoV
  for (std::size_t i = 0; i < binned.size(); ++i) binned.data()[i] = static_cast<float>(100 + (i * 7919) % 97);
  binned(8, 8) = 5000;  // a bright spot 1.7 um in: where the SR grid must show it
  TiffWriteOptions tagged;
  tagged.pixel_nm = 200;
  write_tiff(f.widefield_path, binned.view(), tagged);
  const FovOptions opt;
  const auto w = prepare_fov(f, c, opt);
  std::string all;
  for (const auto& s : w->warnings) all += s + "\n";
  EXPECT_NE(all.find(f.widefield_path + ": read at its resolution tags' 200 nm per pixel, a whole multiple of camera-pixel-nm "
                                        "100 (binned): with them its 10 x 10 px span the 2 um FoV"),
            std::string::npos) << all;
  EXPECT_FALSE(w->widefield_partial) << all;
  EXPECT_EQ(w->result.wf_pixel_nm, 200);  // the pixel its shifts are in
  EXPECT_TRUE(std::all_of(w->result.widefield.begin(), w->result.widefield.end(), [](float v) { return std::isfinite(v); }));
  const ImageF& sr = w->result.widefield;
  const std::size_t brightest = static_cast<std::size_t>(std::max_element(sr.begin(), sr.end()) - sr.begin());
  // Its centre on the SR grid, moved by the registered shift (in camera pixels); at 100 nm, half as far.
  const auto spot_px = [&](double shift) { return (8.5 - shift) * 200 / opt.pixel_nm - 0.5; };
  EXPECT_NEAR(static_cast<double>(brightest % sr.width()), spot_px(w->result.wf_shift_x_px), 1.5);
  EXPECT_NEAR(static_cast<double>(brightest / sr.width()), spot_px(w->result.wf_shift_y_px), 1.5);
  // Tagged 150 nm: 1.5 um, no better a fit than 1 um: the campaign's pixel, and said as before.
  tagged.pixel_nm = 150;
  write_tiff(f.widefield_path, binned.view(), tagged);
  const auto w2 = prepare_fov(f, c, opt);
  std::string all2;
  for (const auto& s : w2->warnings) all2 += s + "\n";
  EXPECT_TRUE(w2->widefield_partial) << all2;
  EXPECT_EQ(w2->result.wf_pixel_nm, 100);
  EXPECT_NE(all2.find("its resolution tags say 150 nm per pixel, the campaign's camera-pixel-nm is 100"), std::string::npos)
      << all2;
}

// A widefield of background alone (noise and vignetting, as an empty FoV's camera image) stays in
// the result for the mosaic's widefield channel but never reaches the A-net, which would invent
// filaments from it; the manifest says why.
TEST(FovProcessor, AWidefieldWithoutStructureIsKeptButNotReconstructedFrom) {
  const FovEntry f = fov_in("fov_empty_widefield", 3);
  const std::string dir = std::filesystem::path(f.table_path).parent_path();
  CampaignInfo c;
  c.fov_um = 10;
  {
    std::ofstream t(f.table_path);
    t << "frame,x,y\n";
    for (int i = 0; i < 50; ++i) t << i << "," << 1000 + 100 * i << ",5000\n";
  }
  WidefieldOptions wo;
  wo.vignetting = 0.2;
  const std::vector<ImageF> stack = widefield_stack({}, RectNm{0, 0, 10000, 10000}, PointNm{0, 0}, wo, 4);
  std::vector<ImageView<const float>> pages;
  for (const ImageF& im : stack) pages.push_back(im.view());
  write_tiff_stack(f.widefield_path, pages, TiffWriteOptions{});

  const FovOptions opt;
  const auto w = prepare_fov(f, c, opt);
  ASSERT_FALSE(w->failed) << w->reason;
  EXPECT_TRUE(w->widefield_without_structure);
  EXPECT_FALSE(w->result.widefield.empty());
  ASSERT_EQ(w->warnings.size(), 1u);
  EXPECT_EQ(w->warnings[0].rfind("widefield ignored: " + f.widefield_path + " shows no structure above its noise", 0), 0u)
      << w->warnings[0];
  const ImageF* given = &w->result.sparse;  // anything but nullptr
  begin_reconstruction(*w, [&](const ImageF& s, const ImageF* wf, int) -> std::unique_ptr<ReconstructJob> {
    given = wf;
    return std::make_unique<FakeJob>(s, 0);
  }, 0, opt);
  EXPECT_EQ(given, nullptr);
  run_reconstruction_networks(*w);
  end_reconstruction(*w);
  const auto rec = nlohmann::json::parse(finish_fov(*w, dir, 0));
  EXPECT_EQ(rec["extra"]["widefield"], false);
  EXPECT_FALSE(rec["extra"].contains("wf_confidence"));
}

TEST(FovProcessor, AWidefieldThatCannotBeReadFailsTheFovSoThatARerunRedoesIt) {
  // Unreadable (here gone since the campaign was planned; permissions or an I/O error alike) is
  // the environment's fault: "widefield ignored", the FoV would stay done without it for good.
  const FovEntry f = fov_in("fov_unreadable_widefield", 4);
  CampaignInfo c;
  c.fov_um = 10;
  {
    std::ofstream t(f.table_path);
    t << "frame,x,y\n";
    for (int i = 0; i < 50; ++i) t << i << "," << 1000 + 100 * i << ",5000\n";
  }
  std::filesystem::remove(f.widefield_path);
  const auto w = prepare_fov(f, c, FovOptions{});
  ASSERT_TRUE(w->failed);
  EXPECT_EQ(w->reason.rfind("its widefield could not be read: " + f.widefield_path, 0), 0u) << w->reason;
  EXPECT_TRUE(w->warnings.empty()) << w->warnings[0];
}
