// run_fovs over MPI ranks with an A-net that fails on some ranks (as on a lost GPU): such a rank
// stops taking FoVs after kAnetFailuresToGiveUp failures in a row, the others go on, and what
// nobody processed is counted for a rerun. Run with 1 and 2 ranks (CTest runner_mpi_*).
#include <gtest/gtest.h>
#include <mpi.h>
#include <sys/stat.h>

#include <filesystem>
#include <algorithm>
#include <fstream>
#include <map>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "batch/campaign.hpp"
#include "batch/manifest.hpp"
#include "batch/runner.hpp"
#include "sim/campaign.hpp"

using namespace annamosaic;
namespace fs = std::filesystem;

namespace {
int rank_of() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int size_of() {
  int s = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

// A 3 x 4 campaign of small simulated FoVs, written once by rank 0 (a new folder name: the
// specimen changed when empty FoVs stopped reaching the A-net).
std::string campaign_dir() {
  const std::string d = std::string(ANNAMOSAIC_TEST_TMP) + "/runner_campaign_dense_" + std::to_string(size_of());
  if (rank_of() == 0 && !fs::exists(d + "/positions.csv")) {
    CampaignOptions o;
    o.grid.rows = 3;
    o.grid.cols = 4;
    o.grid.fov_um = 4;
    // Every FoV inside one cell: an empty FoV with a widefield of background alone never reaches
    // the A-net (widefield_signal), so it would not count towards a rank's failures in a row.
    o.specimen.cell_fraction = 1;
    o.specimen.cell_radius_um = 100;
    o.specimen.gradient = 0;
    o.specimen.filaments_per_100um2 = 20;
    o.write_perfect = false;
    simulate_campaign(o, d);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  return d;
}

class OkJob : public ReconstructJob {
 public:
  explicit OkJob(const ImageF& s) : a_(s.width(), s.height()) {}
  void run_networks() override {}
  ReconstructionOut finish() override { return {std::move(a_), ImageF(), ImageF(), "test"}; }

 private:
  ImageF a_;
};
class LostDeviceJob : public ReconstructJob {
 public:
  void run_networks() override { throw std::runtime_error("CUDA error: an illegal memory access was encountered (test)"); }
  ReconstructionOut finish() override { return {}; }
};

// Every rank in `broken` fails every FoV's networks.
ReconstructFn anet(bool broken) {
  return [broken](const ImageF& s, const ImageF*, int) -> std::unique_ptr<ReconstructJob> {
    if (broken) return std::make_unique<LostDeviceJob>();
    return std::make_unique<OkJob>(s);
  };
}

RunSummary run(const std::string& name, bool broken, std::size_t in_flight) {
  const CampaignInfo c = read_campaign(campaign_dir());
  RunOptions o;
  o.out_dir = std::string(ANNAMOSAIC_TEST_TMP) + "/runner_" + name + "_" + std::to_string(size_of());
  if (rank_of() == 0) fs::remove_all(o.out_dir);
  MPI_Barrier(MPI_COMM_WORLD);
  o.in_flight = in_flight;
  return run_fovs(MPI_COMM_WORLD, c, plan_fovs(c), o, anet(broken));
}
}  // namespace

TEST(RunnerMpi, EveryRankGivesUpAfterThreeFailuresInARow) {
  const RunSummary s = run("all_broken", true, 1);
  ASSERT_EQ(s.gave_up_ranks.size(), static_cast<std::size_t>(size_of()));
  if (rank_of() == 0) {
    EXPECT_EQ(s.done, 0u);
    EXPECT_EQ(s.failed, static_cast<std::size_t>(kAnetFailuresToGiveUp * size_of()));
    EXPECT_EQ(s.unprocessed, 12u - s.failed);  // left for a rerun, not turned into empty tiles
  }
  EXPECT_FALSE(s.stopped);
}

TEST(RunnerMpi, AHealthyRankTakesTheFovsOfOneThatGaveUp) {
  if (size_of() < 2) GTEST_SKIP() << "needs 2 ranks (CTest runs runner_mpi_2ranks)";
  const bool broken = rank_of() == 1;
  const RunSummary s = run("one_broken", broken, 3);
  ASSERT_EQ(s.gave_up_ranks, std::vector<int>{1});
  if (rank_of() == 0) {
    EXPECT_EQ(s.done + s.failed, 12u);  // rank 0 took every FoV rank 1 left
    EXPECT_EQ(s.unprocessed, 0u);
    // The A-net failures are rank 1's: 3, or up to 2 more it had in flight when it gave up.
    int anet_failures = 0;
    std::ifstream manifest(std::string(ANNAMOSAIC_TEST_TMP) + "/runner_one_broken_2/manifest.jsonl");
    for (std::string line; std::getline(manifest, line);) {
      const auto r = nlohmann::json::parse(line);
      if (r.value("reason", "").find("reconstruction failed") == std::string::npos) continue;
      ++anet_failures;
      EXPECT_EQ(r["extra"]["rank"], 1) << line;
    }
    EXPECT_GE(anet_failures, kAnetFailuresToGiveUp);
    EXPECT_LE(anet_failures, kAnetFailuresToGiveUp + 2);
  }
}

namespace {
std::int64_t mtime_ns(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}
std::vector<int> done_fovs(const std::string& out_dir) {
  std::vector<int> ids;
  std::ifstream in(out_dir + "/manifest.jsonl");
  for (std::string line; std::getline(in, line);)
    if (const auto j = nlohmann::json::parse(line); j["status"] == "done") ids.push_back(j["id"]);
  return ids;
}
std::string table_of(const std::string& campaign, int id) { return campaign + "/" + expand_pattern("fov/{id}/locs.csv", id); }
}  // namespace

// A rerun redoes a FoV whose table or widefield was fixed since (other bytes, or a widefield that
// was missing), but not a campaign that was only copied elsewhere (new modification times, same
// bytes), nor a FoV whose input was removed after it was done.
TEST(RunnerMpi, ARerunRedoesOnlyTheFovsWhoseInputsChanged) {
  const std::string tag = std::to_string(size_of());
  const std::string tmp = ANNAMOSAIC_TEST_TMP;
  const std::string first = tmp + "/inputs_campaign_" + tag, copied = tmp + "/inputs_campaign_copied_" + tag;
  RunOptions o;
  o.out_dir = tmp + "/runner_inputs_" + tag;
  const std::string wf3 = first + "/" + expand_pattern("fov/{id}/widefield.tif", 3);
  const std::string source = campaign_dir();  // collective
  if (rank_of() == 0) {
    for (const auto& d : {first, copied, o.out_dir}) fs::remove_all(d);
    fs::copy(source, first, fs::copy_options::recursive);
    fs::rename(wf3, wf3 + ".away");  // FoV 3 is first done without its widefield
  }
  MPI_Barrier(MPI_COMM_WORLD);
  auto run_on = [&](const std::string& dir) {
    const CampaignInfo c = read_campaign(dir);
    return run_fovs(MPI_COMM_WORLD, c, plan_fovs(c), o, anet(false));
  };
  run_on(first);
  std::vector<int> done;
  int usable = 1;  // decided on rank 0, known to all (an ASSERT on one rank would leave the others in a collective)
  if (rank_of() == 0) {
    done = done_fovs(o.out_dir);
    usable = done.size() >= 6 && std::count(done.begin(), done.end(), 3) ? 1 : 0;
  }
  MPI_Bcast(&usable, 1, MPI_INT, 0, MPI_COMM_WORLD);
  ASSERT_TRUE(usable) << "this test needs FoV 3 and 5 more FoVs done on the first run";

  // Unchanged: nothing redone. Then copied elsewhere (new times, same bytes): nothing redone.
  EXPECT_EQ(run_on(first).done, 0u);
  if (rank_of() == 0) fs::copy(first, copied, fs::copy_options::recursive);
  MPI_Barrier(MPI_COMM_WORLD);
  const RunSummary s2 = run_on(copied);  // (FoVs without localizations failed: always retried)
  if (rank_of() == 0) {
    EXPECT_EQ(s2.done, 0u);
    // Read once: the records now hold the copies' times, so the next rerun compares times only.
    const auto recs = Manifest(o.out_dir + "/manifest.jsonl").load();
    EXPECT_EQ(recs.at(done[0]).extra["inputs"]["table"]["mtime_ns"].get<std::int64_t>(),
              mtime_ns(table_of(copied, done[0])));
  }

  // In the copy: one table with one digit changed (same size), one with a line added, FoV 3's
  // widefield is there, one done FoV's table removed.
  int same_size = 0, longer = 0, removed = 0;
  std::map<int, std::int64_t> result_time;  // of each done FoV's result file: a redone one is rewritten
  if (rank_of() == 0) {
    for (int id : done) result_time[id] = mtime_ns(o.out_dir + "/" + fov_result_name(id));
    std::vector<int> others;
    for (int id : done)
      if (id != 3) others.push_back(id);
    same_size = others[0], longer = others[1], removed = others[2];
    {
      std::fstream f(table_of(copied, same_size), std::ios::in | std::ios::out);
      std::string text((std::istreambuf_iterator<char>(f)), {});
      const std::size_t digit = text.find_first_of("123456789", text.find('\n') + 1);
      text[digit] = text[digit] == '9' ? '8' : static_cast<char>(text[digit] + 1);
      f.seekp(0);
      f << text;
    }
    std::string last_line;
    {
      std::ifstream in(table_of(copied, longer));
      for (std::string line; std::getline(in, line);)
        if (!line.empty()) last_line = line;
    }
    std::ofstream(table_of(copied, longer), std::ios::app) << last_line << "\n";
    fs::remove(table_of(copied, removed));
    fs::copy_file(wf3 + ".away", copied + "/" + expand_pattern("fov/{id}/widefield.tif", 3));
  }
  MPI_Barrier(MPI_COMM_WORLD);
  const RunSummary s3 = run_on(copied);
  if (rank_of() == 0) {
    EXPECT_EQ(s3.done, 3u);
    EXPECT_EQ(s3.skipped, done.size() - 3);
    for (int id : done)
      EXPECT_EQ(mtime_ns(o.out_dir + "/" + fov_result_name(id)) != result_time[id], id == same_size || id == longer || id == 3)
          << "FoV " << id;
  }
}
