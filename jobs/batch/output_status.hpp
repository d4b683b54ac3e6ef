#pragma once
// Where a campaign's run stands, read from its output folder without changing anything there:
// what `annamosaic status` prints while a run goes on (in another process, on another node) or
// after it ended. Reads the manifest, the event log, the lock, stitch_summary.json and the QC
// report; the FoV results themselves only when asked to verify them (a status of 1,089 FoVs must
// take a moment, not minutes; verifying reads every result file, ~30 MB each at full size).
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "batch/campaign.hpp"
#include "batch/manifest.hpp"

namespace annamosaic {

// The pace of the latest invocation's FoVs, from events.jsonl: each invocation writes a "start"
// line when its FoVs begin, then one line per FoV, all with "t_s", seconds since it started (from
// runs before start lines: a t_s below the previous line's marks a later invocation).
struct RunPace {
  std::size_t fovs = 0;  // FoVs recorded (done or failed) by the latest invocation
  // FoVs it set out to process (its start line's to_process: earlier failures retried included,
  // --max-fovs held back not); -1 when its start line does not say.
  long long to_process = -1;
  double seconds = 0;    // from its start line (or its t_s 0) to the last of them
  double first_s = 0;    // from its start line to the first of them (start-up: model, caches)
  // The first wave: the FoVs done by 1.25 x first_s (every rank's first FoV carries the start-up
  // and they end together), and when the last of them was.
  std::size_t wave_fovs = 0;
  double wave_s = 0;
  // FoVs per second after the first wave (the pace the rest will go at), or the mean pace while
  // too few FoVs came after it to tell.
  double steady_rate() const {
    if (fovs >= wave_fovs + 2 && seconds > wave_s) return (fovs - wave_fovs) / (seconds - wave_s);
    return seconds > 0 ? fovs / seconds : 0.0;
  }
};
RunPace latest_run_pace(const std::vector<std::string>& event_lines);

// A planned FoV's state as its manifest record says; FoVs without a record are not done yet.
// result_damaged: its file has another size than recorded, or (known when verified) no longer
// matches its recorded checksum.
enum class RecordedFov { done, failed, result_missing, result_damaged, not_acquired };

struct OutputStatus {
  std::string out_dir;
  bool exists = false;                 // the output folder is there
  bool run_started = false;            // a run has written its records there (manifest.jsonl or events.jsonl)
  std::size_t planned = 0;             // FoVs in the campaign's plan (when `plan` was given)
  bool plan_known = false;
  std::size_t done = 0;                // recorded done, result file present (of the plan, if known)
  std::size_t failed = 0;              // recorded failed (the next run tries them again)
  std::size_t not_acquired = 0;        // of those, for want of a table: not acquired yet (not in failed_reasons)
  std::vector<int> not_acquired_ids;   // by id
  std::size_t missing_results = 0;     // recorded done, result file gone (the next run redoes them)
  bool verified = false;               // the result files were read and compared with their checksums
  std::size_t damaged_results = 0;     // recorded done, file there but of another size than recorded, or
                                       // (when verified) changed or unreadable
  std::vector<std::pair<int, std::string>> damaged;  // id, why (by id)
  std::size_t not_in_plan = 0;         // records of ids the plan does not have (another campaign's?)
  std::vector<std::pair<int, std::string>> failed_reasons;  // id, reason (by id)
  std::map<int, RecordedFov> recorded;  // id -> state, for the ids counted above
  std::optional<std::string> running;  // who holds the output lock ("pid N on HOST since ...")
  std::string lock_error;              // the lock could not be queried: nobody can tell whether a run goes on
  std::string problem;                 // a file that cannot be read as a run writes it (manifest.jsonl)
  std::string manifest_damaged;        // lines of manifest.jsonl that are not records (the next run sets them aside)
  double since_last_record_s = -1;     // age of the newest manifest line (-1: none)
  RunPace pace;                        // of the latest invocation
  std::string stage_now;               // while running: the stitch-stage step under way (stage_now.json)
  double stage_now_for_s = -1;         // for how long
  bool stitch_summary = false;         // stitch_summary.json present (a stitch stage completed)
  bool stitch_summary_damaged = false;  // present but not a JSON object (edited, or cut by a full disk)
  std::size_t mosaic_width_px = 0, mosaic_height_px = 0;
  bool mosaic_file = false;            // mosaic.ims is there (recorded or not: a remake stopped, or deleted)
  std::string stitch_stopped;          // stitch_stopped.json's why: the last stitch stage was stopped ("" if not)
  std::size_t qc_flagged = 0;          // FoVs with QC flags (qc/qc.json)
  std::vector<std::pair<int, std::string>> qc_flags;  // id, its flags joined with "; " (by id)
  bool qc_report = false;
  bool qc_current = false;             // qc/qc.json is not older than stitch_summary.json
  // Temporary files ("NAME.tmp.PID") a killed run left in the folder, fov/ and qc/ (counted only
  // when no run holds the folder: a running one's are in use); the next run removes them.
  std::size_t leftover_files = 0;
  std::uintmax_t leftover_bytes = 0;
  // campaign_verdict.json: the last run's campaign-wide diagnosis (most FoVs' tables in another
  // unit, or in stage coordinates), for which it exited 5 with every FoV done. "" when none.
  std::string campaign_verdict;

  // FoVs the next run would still process: not done (failed ones included), when the plan is known.
  std::size_t to_do() const { return plan_known && planned > done ? planned - done : 0; }
};

// Reads OUT's files. `plan` (optional) is the campaign's FoV list, which gives the total and
// restricts the counts to its ids. A missing folder is reported as !exists, a manifest that cannot
// be read in `problem`; other damaged files count as absent. Without `verify_results`, "done" is
// "recorded done and its result file is there"; with it, also "and the file matches its recorded
// checksum", as a rerun checks it (read on all cores; inputs are not checked). Progress on stderr.
OutputStatus read_output_status(const std::string& out_dir, const std::vector<FovEntry>* plan,
                                bool verify_results = false);

// "" when a FoV recorded done still has its result file, of the size recorded with it (runs since
// 2026-12-04; not read); else "FILE is gone" or "FILE has N bytes, M when it was recorded".
std::string recorded_result_problem(const std::string& out_dir, const ManifestRecord& done);

// The campaign's grid as text, one string per row (row 0 first), one character per column:
// '#' done, 'x' failed, '!' done but its result file is gone (or damaged), '.' not done yet (or not
// acquired yet), ' ' no FoV there.
// FoVs outside rows x cols are left out (plan_fovs refuses them anyway).
inline constexpr const char* kFovMapLegend = "# done, x failed, ! result file gone or damaged, . not yet (or not acquired)";
std::vector<std::string> fov_map(const std::vector<FovEntry>& plan, int rows, int cols,
                                 const std::map<int, RecordedFov>& recorded);

}  // namespace annamosaic
