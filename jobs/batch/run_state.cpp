#include "batch/run_state.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "core/progress.hpp"

namespace annamosaic {

RunState decide_run_state(const RunStateFacts& f) {
  const OutputStatus& s = f.st;
  constexpr int kNot = kRunStateNotFinished;
  const std::size_t left = s.to_do();
  // A file system without locks (the run goes on unlocked there) leaves "running?" unanswerable;
  // a campaign whose every part is done is still finished.
  const bool finished = s.exists && s.problem.empty() && s.manifest_damaged.empty() && !s.running && f.plan_known && left <= s.failed &&
                        f.mosaic_current.value_or(false) && s.qc_report && s.qc_current;
  if (!s.problem.empty()) return {"cannot read: " + s.problem, 2};
  if (finished && s.failed && s.not_acquired == s.failed)
    return {fmt::format("finished with the FoVs acquired so far: {} not acquired yet (their places empty; a rerun does "
                        "them once their files are there)",
                        s.not_acquired),
            5};
  if (finished && s.failed)
    return {fmt::format("finished with {} failed FoV(s) (marked in the mosaic; a rerun tries them again){}",
                        s.failed - s.not_acquired,
                        s.not_acquired ? fmt::format(" and {} not acquired yet", s.not_acquired) : std::string()),
            5};
  if (finished && !s.campaign_verdict.empty())
    return {"finished, but " + s.campaign_verdict + " (the run said so and exited 5; fix it and run into a new output folder)", 5};
  if (finished) return {"finished", 0};
  if (!s.exists && f.will_simulate)
    return {"not started (its campaign is simulated first, from the [simulate] section of " + f.config + ")", kNot};
  if (!s.exists && !f.plan_known) return {"not started, and it cannot start: " + f.campaign_error, 2};
  if (!s.exists)
    return {"not started (no output folder yet" + (f.relative_to.empty() ? "" : ", relative to the working folder " + f.relative_to) + ")",
            kNot};
  if (s.running) return {"running (" + *s.running + ")", kNot};
  if (!s.lock_error.empty())
    return {"unknown whether a run goes on (" + s.lock_error + ")" +
                (s.since_last_record_s >= 0 ? fmt::format("; the last FoV was recorded {} ago", duration_text(s.since_last_record_s))
                                            : std::string()),
            kNot};
  // Not a reason to give up on the folder (submit-campaign would): the next run repairs it.
  if (!s.manifest_damaged.empty())
    return {s.manifest_damaged + ": run the same command again (it moves such lines aside and redoes the FoVs they were)",
            kNot};
  if (!f.plan_known) return {"unknown: " + f.campaign_error, 2};
  if (!s.run_started) return {"not started (" + s.out_dir + " holds no run's records yet)", kNot};
  if (s.damaged_results)
    return {fmt::format("{} FoV result(s) damaged since they were recorded (listed below){}: run the same command again to "
                        "redo them",
                        s.damaged_results, s.missing_results ? fmt::format(", {} gone", s.missing_results) : ""),
            kNot};
  if (left > s.failed)
    return {fmt::format("stopped with {} FoV(s) not done{}{}: run the same command again to resume", left - s.failed,
                        s.failed > s.not_acquired ? fmt::format(" and {} failed", s.failed - s.not_acquired) : "",
                        s.not_acquired ? fmt::format(" ({} not acquired yet)", s.not_acquired) : ""),
            kNot};
  if (s.done == 0 && s.failed > 0 && s.not_acquired == f.st.planned)
    return {"no FoV acquired yet (no table where campaign.ini's pattern says), so no mosaic was "
            "made: run the same command again once they are there",
            5};
  if (s.done == 0 && s.failed > 0 && s.failed == f.st.planned)
    return {"every FoV failed, so no mosaic was made: fix the cause (the reasons below), then run the same command again "
            "(failed FoVs are redone)",
            5};
  // The last stitch stage was stopped (a signal: stitch_stopped.json): said, as what left the mosaic so.
  const std::string stopped = s.stitch_stopped.empty() ? "" : "; the last stitch stage was stopped (" + s.stitch_stopped + ")";
  if (!f.mosaic_current.value_or(false) && f.mosaic_export_only) {
    const std::string qc = !s.qc_report    ? ", and the QC report is missing"
                           : !s.qc_current ? ", and the QC report is older than the mosaic"
                                           : "";
    return {"FoVs and mosaic finished, its OME-TIFF export is missing or not the one the run wrote" + qc + stopped +
                ": run the same command again (it exports mosaic.ims anew" + (qc.empty() ? "" : " and writes the report") +
                ")",
            kNot};
  }
  // Made with other stitch settings than this configuration's (a run with --search-um given on its
  // command line): rerunning that command keeps it; a run of the configuration remakes it.
  // Status of the output folder reads its own config.ini: sending the user there would be circular.
  std::error_code ec;  // either path unreadable: not the same file, as far as can be told
  const bool folders_config =
      !f.config.empty() && std::filesystem::equivalent(f.config, std::filesystem::path(s.out_dir) / "config.ini", ec);
  if (!f.mosaic_current.value_or(false) && f.mosaic_why.rfind("a setting changed", 0) == 0 && s.mosaic_file)
    return {"FoVs finished; the mosaic was made with other stitch settings than " + (f.config.empty() ? "these" : f.config + "'s") +
                " (" + f.mosaic_why.substr(std::string("a setting changed since it was made: ").size()) +
                "): a run of this configuration remakes it; if the mosaic's settings were meant (options given on a "
                "command line), put them in the configuration" +
                (folders_config ? "" : ", or ask status of the output folder") + stopped,
            kNot};
  if (!f.mosaic_current.value_or(false))
    return {std::string("FoVs finished, the mosaic ") +
                (s.stitch_summary && !s.mosaic_file ? "is missing (mosaic.ims)"
                 : s.stitch_summary                 ? "is out of date"
                 : s.stitch_summary_damaged         ? "has an unreadable stitch_summary.json"
                 : s.mosaic_file                    ? "there is not recorded (no stitch_summary.json)"
                                                    : "is not made yet") +
                stopped + ": run the same command again (or its stitch stage)",
            kNot};
  return {std::string("FoVs and mosaic finished, the QC report is ") + (s.qc_report ? "older than the mosaic" : "missing") +
              stopped + ": run the same command again",
          kNot};
}

}  // namespace annamosaic
