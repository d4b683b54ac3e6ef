#pragma once
// The stitching stage of `annamosaic run` (registration, layout, fusion, pyramid), collective.
#include <mpi.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "batch/campaign.hpp"
#include "batch/manifest.hpp"
#include "cli/options.hpp"

namespace annamosaic::cli {

// The table options a run records only when they have a value (--columns has no default).
inline constexpr const char* kOptionalTableSettings[] = {"columns", "xy-unit", "delimiter"};
// The run's options with campaign.ini's table settings (xy-unit, columns, delimiter) where the
// command line gives none (or --delimiter auto): the campaign says how its tables are read, so
// every run (its config.ini, the settings its FoVs are recorded with) and `status` read them
// alike. A command-line value that disagrees cannot both be meant: UsageError.
po::variables_map with_campaign_table_settings(po::variables_map vm, const CampaignInfo& c);
// --widefield-search-um given as its default for this campaign (5 camera pixels: 0.54 at 108 nm)
// is the default, 0: the same FoV setting as not giving it (a rerun is not refused for it).
po::variables_map with_widefield_search_default(po::variables_map vm, const CampaignInfo& c);
// The campaign with run's --camera-pixel-nm where campaign.ini gives none: one camera pixel for
// the widefields and for tables in px (the option alone once set only the tables', and the
// widefields were scaled at the default 108 nm). One that disagrees with campaign.ini's: UsageError.
CampaignInfo with_camera_pixel_option(CampaignInfo c, const po::variables_map& vm);
// "" or why FoV results recorded in `recorded` (fov_settings.json) by a version before that fix are
// wrong for campaign `c` whose camera pixel comes from --camera-pixel-nm: their widefields were
// scaled at the default 108 nm. Said by run (refused) and status.
std::string camera_pixel_option_history_refusal(const nlohmann::json& recorded, const CampaignInfo& c);
// A run's own OUT/config.ini (config_path, marked with its working folder) written by versions
// that wrote every option: its `xy-unit = nm`, `delimiter = auto` lines are those defaults, not
// choices (read back, they would disagree with a campaign.ini that sets them). Marked defaulted.
void default_table_options_of_run_config(po::variables_map& vm, const std::string& config_path);
// The working folder a run recorded in the first line of its OUT/config.ini ("" if none): its
// relative paths are taken from there (by `status`, and by a rerun from that file).
std::string run_config_working_folder(const std::string& config_path);
// A table setting's value in its canonical spelling (xy-unit, delimiter), as recorded; others as given.
std::string canonical_table_setting(const std::string& key, const std::string& value);
// run's option values checked before any FoV is read (a bad value must not surface after hours
// of FoVs), by run and by `status`: UsageError naming the option.
void validate_run_options(const po::variables_map& vm);
// The options that decide what a FoV result holds (recorded in fov_settings.json). A rerun into
// the same output with other values would mix old results with new ones, so it is refused.
nlohmann::json fov_settings(const po::variables_map& vm);
// What differs between fov_settings.json's `recorded` and `vm` (the options above, the table
// settings, named: `frames "all" -> "first:500"`), as `run` refuses them and `status` says them.
// stitch_only: the pixel size alone (the stitch stage uses no other).
struct SettingsChange {
  std::string options;      // "" when none differs
  std::string model_files;  // with a model change: which model file made the results, which this run has
  bool empty() const { return options.empty(); }
  std::string text() const { return model_files.empty() ? options : options + "; " + model_files; }
};
SettingsChange recorded_settings_change(const nlohmann::json& recorded, const po::variables_map& vm, bool stitch_only);
// Whether fov_settings.json `recorded` says its FoVs were rendered from a frame window other than
// `all` (where the first frame's number matters).
bool frame_windows_recorded(const nlohmann::json& recorded);
// "" or the warning for FoV results made in several ways (the manifest's inference: device,
// precision, whole FoV or tiles; older records without it are not counted): a campaign resumed
// on another kind of node, or with another --precision or --anet-memory-mb.
std::string inference_mix(const std::map<int, ManifestRecord>& records, const std::vector<FovEntry>& fovs);
// "" or the warning for a run whose tables guessed their first frame's number differently (no
// frame-base in campaign.ini; recorded per FoV in the manifest as frame_base_guessed): their
// `frames` windows are a frame apart. Nothing for `all`, where the number does not matter.
std::string frame_base_disagreement(const std::map<int, ManifestRecord>& records, const std::vector<FovEntry>& fovs,
                                    const std::string& frames);
// Why a run refuses an output folder with FoV results whose fov_settings.json cannot be read
// (their settings unknown), and what to do; `status` says the same.
std::string fov_settings_unreadable();
// "" or what differs between the table settings recorded with a folder's FoVs (fov_settings.json)
// and `vm`'s (after with_campaign_table_settings): `xy-unit "um" -> "nm"`, as `run` refuses them.
std::string table_settings_change(const nlohmann::json& recorded, const po::variables_map& vm);

// A failure's kind, for making every rank fail the same way: 1 usage, 2 input, 3 I/O or
// environment, 4 anything else, 5 stopped by a signal. throw_of_kind throws the matching
// exception with `msg` (4: std::runtime_error; `where` names the stage in input and I/O errors)
// for a failure all ranks agreed on: ranks other than 0 mark it echoed, so that only rank 0's
// final line is printed (mark_failure_echoed).
int failure_kind(const std::exception& e);
[[noreturn]] void throw_of_kind(int kind, const std::string& msg, const std::string& where = "");

// Runs `step` on rank 0 only (a file only rank 0 writes). Collective: if it throws, rank 0
// rethrows its exception and every other rank throws one of the same kind naming rank 0, so no
// rank waits forever in a collective that a failed rank 0 never reaches.
void on_rank0(MPI_Comm comm, const std::function<void()>& step);

struct StitchStageResult {
  int failed_fovs = 0;  // FoVs recorded as failed (their tiles are marked)
  int not_acquired_fovs = 0;  // of them: no table there yet (their places left empty)
  bool mosaic_kept = false;   // up to date: not made again (its OME-TIFF export at most)
};

// verify_results: check every FoV result file against its recorded checksum before making the
// mosaic (--stage stitch: no FoV stage before it has); a mismatch is an InputError naming it.
StitchStageResult run_stitch_stage(MPI_Comm comm, const CampaignInfo& campaign, const std::vector<FovEntry>& fovs,
                                   const po::variables_map& vm, const std::string& out_dir, bool verify_results);

// OUT/stitch_stopped.json: rank 0 records that a signal stopped the stitch stage (cleanly: no file
// half-written under its final name), and removes the record when the stage starts again.
// slurm/annamosaic-grid.sbatch reads it to tell a stop at the time limit (submit with more time)
// from ranks killed by something else (out of memory: more time would not help). `signal`: the
// one whichever rank received (the ranks' maximum; rank 0 itself may have had none).
void record_stitch_stopped(const std::string& out_dir, const std::string& why, int signal);
void clear_stitch_stopped(const std::string& out_dir);

// First line of OUT/config.ini, followed by the run's working folder (relative paths in it are
// taken from there).
inline constexpr const char* kWorkingFolderMark = "# working folder: ";

// The settings where the [simulate] section of `config_path` differs from those `campaign_dir`
// was simulated with (its simulate.config.ini), as "key value (campaign: value)": an edited
// section does not remake an existing campaign. Empty when either is absent or the section makes
// its campaign in another folder; UsageError when the
// section cannot be read (a typo in a key).
std::vector<std::string> simulate_section_differences(const std::string& config_path, const std::string& campaign_dir);

// Why `run` would not simulate a campaign missing from `campaign_dir` (the end of its error
// message, naming the configuration as `config_name`, by default its path; nullopt when it would
// simulate it from `config_path`'s [simulate] section):
// --simulate-if-missing false, no [simulate] section, or one that makes its campaign elsewhere
// while --simulate-if-missing was left at its default. Simulating only what the configuration
// asks for keeps a mistyped campaign path from becoming a campaign nobody wanted.
std::optional<std::string> why_not_simulated(const po::variables_map& vm, const std::string& config_path,
                                             const std::string& campaign_dir, const std::string& config_name = "");

// The checksum of this program's executable (/proc/self/exe), or its version where that cannot be read:
// part of what a mosaic was made from.
std::string program_checksum();

// What the stitch stage of a rerun would do with the mosaic in `out_dir`, asked without running
// it (`annamosaic status`): keep it (the same FoV results, positions, stitch options and program
// as when it was made, its files untouched since), export only its missing OME-TIFF, or remake
// it, and why. Rank-local, reads only.
struct MosaicVerdict {
  bool current = false;      // kept as it is
  bool export_only = false;  // mosaic.ims kept, mosaic.ome.tif made from it
  std::string why;           // when not current
};
MosaicVerdict stitch_stage_verdict(const CampaignInfo& campaign, const std::vector<FovEntry>& fovs,
                                   const po::variables_map& vm, const std::string& out_dir);

// The QC report (out/qc/): every rank reads its share of the FoV results into the overview
// images (for 1,089 full-size FoVs one reader would take minutes), rank 0 combines them and
// writes the report. Collective.
// qc/qc.json is there and newer than manifest.jsonl, layout.json and stitch_summary.json: a run
// that kept its mosaic has nothing new to report (the overview reads every FoV result: at 1,089
// full-size FoVs, minutes at every no-change rerun of a campaign checked while it is acquired).
bool qc_report_current(const std::string& out_dir);

void run_qc_stage(MPI_Comm comm, const CampaignInfo& campaign, const std::vector<FovEntry>& fovs, const std::string& out_dir,
                  double pixel_nm);

}  // namespace annamosaic::cli
