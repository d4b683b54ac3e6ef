#pragma once
// Runs the FoVs of a campaign over the ranks of `comm`: resume from the manifest, dynamic
// largest-first dispatch, overlapped stages inside each rank, progress and events on rank 0.
#include <mpi.h>

#include <map>
#include <string>
#include <vector>

#include "batch/campaign.hpp"
#include "batch/fov_processor.hpp"

namespace annamosaic {

struct RunOptions {
  std::string out_dir;
  FovOptions fov;
  std::size_t in_flight = 3;   // FoVs in flight per rank (TBB pipeline tokens)
  int max_fovs = -1;           // testing aid: stop after this many FoVs per run (< 0: all)
};

struct RankLoad {
  std::size_t fovs = 0;
  double busy_s = 0;    // time spent in prepare + reconstruct + finish stages
  double finish_s = 0;  // wall time when the rank ran out of work
  double peak_rss_mb = 0;  // the rank's peak resident memory so far (getrusage)
};

struct RunSummary {
  std::size_t total = 0, skipped = 0, done = 0, failed = 0;
  std::size_t not_acquired = 0;  // of the failed: no table there yet (said once at the start, not per FoV)
  std::size_t still_not_acquired = 0;  // recorded so by an earlier run and still so: not redone (rank 0 only)
  bool stopped = false;        // a stop signal interrupted the run
  // Ranks whose A-net failed on kAnetFailuresToGiveUp FoVs in a row (a lost GPU, say): they took
  // no more FoVs; `unprocessed` FoVs were left for a rerun when no other rank took them.
  std::vector<int> gave_up_ranks;
  std::size_t unprocessed = 0;
  std::size_t held_back = 0;   // FoVs left for a later run by --max-fovs (rank 0 only)
  std::vector<int> write_failed_ranks;  // ranks that could not write a result file (and stopped)
  std::vector<RankLoad> ranks; // rank 0 only
  double seconds = 0;
  std::vector<int> failed_ids;
  // Per stage (read, render, register, infer, write): seconds summed over the FoVs of this run,
  // from their manifest records (rank 0 only). Stages overlap within a rank, so the share of a
  // stage in the wall time is total / (seconds x ranks), e.g. how busy the A-net kept the GPUs.
  std::map<std::string, double> stage_seconds;
};

inline constexpr int kAnetFailuresToGiveUp = 3;

// Collective over comm. `reconstruct` runs on every rank. Results valid on rank 0.
RunSummary run_fovs(MPI_Comm comm, const CampaignInfo& campaign, const std::vector<FovEntry>& fovs,
                    const RunOptions& opt, const ReconstructFn& reconstruct);

}  // namespace annamosaic
