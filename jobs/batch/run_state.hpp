#pragma once
// What `annamosaic status` says of a campaign, and its exit status, from what was read of its
// output folder (output_status.hpp) and configuration: a pure decision, tested without files.
#include <optional>
#include <string>

#include "batch/output_status.hpp"

namespace annamosaic {

struct RunStateFacts {
  OutputStatus st;                      // the output folder as read
  bool plan_known = false;              // the campaign's FoV list could be read
  std::string campaign_error;           // why not (when !plan_known)
  std::optional<bool> mosaic_current;   // would a rerun keep the mosaic (known with the plan)
  bool mosaic_export_only = false;      // ... but for its OME-TIFF export, which a rerun makes from it
  std::string mosaic_why;               // why not ("a setting changed since it was made: ...")
  bool will_simulate = false;           // the campaign is absent and a run would simulate it
  std::string config;                   // the configuration named in messages
  std::string relative_to;              // the working folder a relative output is taken from ("": absolute)
};

struct RunState {
  std::string text;
  int exit = 0;  // 0 finished, 5 finished with failed FoVs (or every FoV failed), 75 not finished, 2 cannot be read
};

inline constexpr int kRunStateNotFinished = 75;  // as `run`: a rerun of the same command carries it on

RunState decide_run_state(const RunStateFacts& f);


}  // namespace annamosaic
