// run_fovs over MPI ranks with an A-net that fails on some ranks (as on a lost GPU): such a rank
// stops taking FoVs after kAnetFailuresToGiveUp failures in a row, the others go on, and what
// nobody processed is counted for a rerun. Run with 1 and 2 ranks (CTest runner_mpi_*).
#include <gtest/gtest.h>
#include <mpi.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "batch/campaign.hpp"
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

// A 3 x 4 campaign of small simulated FoVs, written once by rank 0.
std::string campaign_dir() {
  const std::string d = std::string(ANNAMOSAIC_TEST_TMP) + "/runner_campaign_" + std::to_string(size_of());
  if (rank_of() == 0 && !fs::exists(d + "/positions.csv")) {
    CampaignOptions o;
    o.grid.rows = 3;
    o.grid.cols = 4;
    o.grid.fov_um = 4;
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
  ReconstructionOut finish() override { return {std::move(a_), ImageF(), ImageF()}; }

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
    // (Other FoVs may fail for their own reason: some small simulated fields are empty.)
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
