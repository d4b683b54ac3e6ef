#pragma once
// The stitching stage of `annamosaic run` (registration, layout, fusion, pyramid), collective.
#include <mpi.h>

#include <string>
#include <vector>

#include "batch/campaign.hpp"
#include "cli/options.hpp"

namespace annamosaic::cli {

struct StitchStageResult {
  int failed_fovs = 0;  // FoVs recorded as failed (their tiles are marked)
};

StitchStageResult run_stitch_stage(MPI_Comm comm, const CampaignInfo& campaign, const std::vector<FovEntry>& fovs,
                                   const po::variables_map& vm, const std::string& out_dir);

}  // namespace annamosaic::cli
