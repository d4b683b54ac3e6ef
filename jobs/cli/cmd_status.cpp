// `annamosaic status [OUTPUT | CONFIG.ini ...] [--list CAMPAIGN_LIST] [--json]`: where each
// campaign's run stands (running or not, FoVs done / failed / left, pace, mosaic, QC flags), read
// from its output folder while the run goes on or after it ended. Changes nothing there.
// Exit status: 0 every campaign finished; 5 finished, some FoVs failed; 75 some campaign is not
// finished (running or perhaps running, stopped, not started, mosaic or QC report missing or out of
// date); 1 usage; 2 a campaign unreadable.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "batch/campaign.hpp"
#include "batch/campaign_identity.hpp"
#include "batch/output_status.hpp"
#include "batch/run_state.hpp"
#include "batch/signals.hpp"
#include "cli/commands.hpp"
#include "cli/model_file.hpp"
#include "cli/run_stages.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "core/json_text.hpp"
#include "core/text_list.hpp"

namespace annamosaic::cli {
namespace {
namespace fs = std::filesystem;

constexpr int kNotFinished = kRunStateNotFinished;
static_assert(kNotFinished == kExitRequeue, "status's 'not finished' is run's 'rerun to carry on'");

struct Target {
  std::string name;    // as given
  std::string config;  // run configuration to read (empty: none known)
  std::string out_dir;
};

// A folder is an output folder (its config.ini, written by every run, says the rest); a file is a
// run configuration (its [run] output and campaign: what a rerun with it would use).
Target resolve_target(const std::string& arg) {
  std::error_code ec;
  if (fs::is_directory(arg, ec)) {
    const bool has_config = fs::is_regular_file(arg + "/config.ini", ec);
    if (!has_config && (fs::exists(arg + "/campaign.ini", ec) || fs::exists(arg + "/positions.csv", ec)))
      throw InputError(arg, "is a campaign folder (the run's inputs), not an output folder: give the folder the run wrote "
                            "to (its -o / [run] output), or its run configuration");
    return {arg, has_config ? arg + "/config.ini" : "", arg};
  }
  if (fs::is_regular_file(arg, ec)) {
    const po::variables_map run_vm = options_of("run", {"run", "--config", arg});
    // A configuration that does not say where a run writes (a [train] file, say) would be
    // examined with run's defaults: another campaign's folder.
    if (run_vm["output"].defaulted() && run_vm["campaign"].defaulted())
      throw InputError(arg, "sets neither output nor campaign for run (no [run] section with them): not a run "
                            "configuration; give the one `run --config` was given, or the run's output folder");
    std::string out = run_vm["output"].as<std::string>();
    if (const std::string wd = run_config_working_folder(arg); !wd.empty() && fs::path(out).is_relative())
      out = (fs::path(wd) / out).string();
    return {arg, arg, out};
  }
  throw InputError(arg, "no such output folder or run configuration" +
                            (fs::path(arg).is_relative() ? " (relative to the working folder " + fs::current_path().string() + ")"
                                                         : std::string()));
}

struct Report {
  Target target;
  OutputStatus st;
  std::string campaign_dir, campaign_error;
  std::string model_error;     // the configuration's model cannot be used: not there, unreadable, another pixel (run would refuse)
  std::string identity_error;  // the output holds another campaign's results (run would refuse)
  std::string settings_error;  // its FoV results were made under another campaign.ini (run would refuse)
  int rows = 0, cols = 0;
  std::optional<bool> mosaic_current;  // known only with the plan and a configuration
  std::string mosaic_why;              // why it is out of date, when that can be told
  bool mosaic_export_only = false;     // current but for its OME-TIFF export
  bool will_simulate = false;          // the campaign is not there; the run simulates it first
  std::vector<std::string> map;        // the grid's FoV states (fov_map), when the plan is known
  std::string unlisted;                // tables positions.csv lists no FoV for (not run), said
  std::vector<std::string> unlisted_paths;  // the same tables, relative to the campaign folder
  std::string options_error;           // the run's options and campaign.ini disagree: run refuses before any work
  std::string state;
  int exit = 0;
};

Report examine(const Target& t, bool verify) {
  Report r;
  r.target = t;
  std::optional<po::variables_map> vm;
  std::optional<CampaignInfo> campaign;
  bool simulate_section_bad = false;  // a campaign still to be simulated whose [simulate] section cannot be used
  std::string settings_error;
  std::vector<FovEntry> plan;
  bool plan_known = false;
  try {
    if (!t.config.empty()) {
      vm = options_of("run", {"run", "--config", t.config});
      default_table_options_of_run_config(*vm, t.config);
      r.campaign_dir = (*vm)["campaign"].as<std::string>();
      // A run's own config.ini says where it started: relative paths are taken from there.
      if (const std::string wd = run_config_working_folder(t.config); !wd.empty() && fs::path(r.campaign_dir).is_relative())
        r.campaign_dir = (fs::path(wd) / r.campaign_dir).string();
      // The model first: a campaign still to be simulated must not hide that its run would stop at it.
      try {
        validate_run_options(*vm);  // run's first check (a --pixel-nm 0 is said as such, not compared with the model's)
      } catch (const UsageError& e) {
        r.options_error = e.what();
      }
      if (r.options_error.empty()) try {
          check_model_for_run((*vm)["model"].as<std::string>(), (*vm)["pixel-nm"].as<double>());
        } catch (const std::exception& e) {
          r.model_error = e.what();
        }
      // As `run` decides it: a campaign not there yet may be simulated first, if its [simulate]
      // section can be (a bad value there would fail the job only once it runs).
      // The positions file is campaign.ini's; campaign.ini without it is simulated again only after
      // a simulation that was killed (ground_truth/ there), else refused, as run decides.
      const bool has_ini = fs::exists(r.campaign_dir + "/campaign.ini");
      bool has_positions = fs::exists(r.campaign_dir + "/positions.csv");
      if (has_ini) try {
          has_positions = fs::exists(campaign_positions_path(r.campaign_dir));
        } catch (const std::exception&) {  // a campaign.ini run cannot read: it fails, it does not simulate
          has_positions = true;
        }
      r.will_simulate = !has_positions && (!has_ini || fs::exists(r.campaign_dir + "/ground_truth")) &&
                        !why_not_simulated(*vm, t.config, r.campaign_dir);
      if (r.will_simulate) try {
          simulate_options(options_of("simulate", {"simulate", "--config", t.config, "-o", r.campaign_dir}));
        } catch (const std::exception& e) {
          r.will_simulate = false;
          simulate_section_bad = true;
          throw InputError(t.config, std::string("its [simulate] section, which would make the campaign, cannot be used: ") +
                                         e.what());
        }
      campaign = read_campaign(r.campaign_dir);
      r.rows = campaign->rows, r.cols = campaign->cols;
      // The structure the model knows (run refuses another switch-id before any work).
      if (r.model_error.empty() && r.options_error.empty()) try {
          check_model_switch(resolve_model((*vm)["model"].as<std::string>()), campaign->switch_id,
                             "campaign.ini's switch-id =", r.campaign_dir + "/campaign.ini");
        } catch (const std::exception& e) {
          r.model_error = e.what();
        }
      plan = plan_fovs(*campaign);
      plan_known = true;
      // The tables as the run reads them: campaign.ini's xy-unit, columns, delimiter (a
      // command-line value that disagrees is refused by run, and said here).
      try {
        *vm = with_widefield_search_default(with_campaign_table_settings(*vm, *campaign), *campaign);
        *campaign = with_camera_pixel_option(*campaign, *vm);  // the camera pixel in effect, as run takes it
      } catch (const UsageError& e) {
        if (r.options_error.empty()) r.options_error = e.what();
      }
      r.unlisted_paths = unlisted_tables(*campaign, plan);
      r.unlisted = unlisted_tables_warning(*campaign, r.unlisted_paths);
      // What `run` would refuse before any work, said now (submit-campaign.sh asks this before
      // submitting): another campaign's results in the output folder, other FoV settings.
      std::ifstream settings(t.out_dir + "/fov_settings.json");
      const nlohmann::json recorded = settings ? nlohmann::json::parse(settings, nullptr, false) : nlohmann::json();
      if (settings && !recorded.is_object()) settings_error = t.out_dir + "/fov_settings.json: " + fov_settings_unreadable();
      if (recorded.is_object() && recorded.contains("campaign"))
        if (const IdentityCheck id = check_campaign_identity(recorded["campaign"], campaign_identity(*campaign));
            !id.refusal.empty())
          r.identity_error = t.out_dir + ": " + id.refusal;
      // campaign.ini edited since the FoVs were made: run refuses it (when some FoV is done, below).
      if (const std::string refusal = camera_pixel_option_history_refusal(recorded, *campaign); !refusal.empty())
        settings_error = t.out_dir + ": " + refusal;
      else if (recorded.is_object() && recorded.contains("campaign_settings"))
        if (const std::string refusal =
                campaign_settings_refusal(recorded["campaign_settings"], *campaign, frame_windows_recorded(recorded));
            !refusal.empty())
          settings_error = t.out_dir + ": " + refusal;
      // ... and the options that decide a FoV result (--frames, the model, the tables' reading), as run compares them.
      if (settings_error.empty() && r.options_error.empty())
        if (const SettingsChange change = recorded_settings_change(recorded, *vm, false); !change.empty())
          settings_error = t.out_dir + ": holds FoV results made with other settings (" + change.text() +
                           "): use another --output, or delete its fov/ and manifest.jsonl to redo them";
    } else {
      r.campaign_error = "no config.ini in the output folder: the campaign is unknown";
    }
  } catch (const std::exception& e) {
    r.campaign_error = e.what();
    if (!r.campaign_dir.empty() && fs::path(r.campaign_dir).is_relative() && !simulate_section_bad)
      r.campaign_error += " (relative paths are taken from the working folder, as run takes them; this is " +
                          fs::current_path().string() + ")";
  }
  r.st = read_output_status(t.out_dir, plan_known ? &plan : nullptr, verify);
  if (r.identity_error.empty() && r.st.done > 0) r.settings_error = settings_error;
  const OutputStatus& s = r.st;
  if (plan_known) r.map = fov_map(plan, r.rows, r.cols, s.recorded);
  if (plan_known && s.stitch_summary) {
    try {
      const MosaicVerdict v = stitch_stage_verdict(*campaign, plan, *vm, t.out_dir);
      r.mosaic_current = v.current;
      r.mosaic_why = v.why;
      r.mosaic_export_only = v.export_only;
    } catch (const std::exception&) {
      r.mosaic_current = false;  // an edited summary: the next run redoes the stage
    }
  }

  RunStateFacts facts;
  facts.st = s;
  facts.plan_known = plan_known;
  facts.campaign_error = r.campaign_error;
  facts.mosaic_current = r.mosaic_current;
  facts.mosaic_export_only = r.mosaic_export_only;
  facts.mosaic_why = r.mosaic_why;
  facts.will_simulate = r.will_simulate;
  facts.config = t.config;
  if (fs::path(t.out_dir).is_relative()) facts.relative_to = fs::current_path().string();
  const RunState state = decide_run_state(facts);
  r.state = state.text, r.exit = state.exit;
  // A run stopped in its first seconds (its lock and fov_settings.json written, not config.ini yet):
  // not a folder to give up on (submit-campaign would), but one to run again.
  if (!plan_known && t.config.empty() &&
      (fs::exists(t.out_dir + "/fov_settings.json") || fs::exists(t.out_dir + "/.annamosaic.lock")) &&
      !fs::exists(t.out_dir + "/manifest.jsonl") && !s.running && s.problem.empty()) {
    r.state = "a run began here and stopped before it wrote config.ini (killed in its first seconds, or refused while "
              "loading its model: its log says which): run the same command again";
    r.exit = kRunStateNotFinished;
  }
  // Unfinished, and its run would stop at the model: said, as a campaign that cannot be run.
  if (!r.model_error.empty() && r.exit != 0) {  // 5 too: a rerun retries failed FoVs
    r.state += "; and it cannot run: " + r.model_error;
    r.exit = 2;
  } else if (!r.model_error.empty()) {
    // Finished stays finished (nothing to submit), but a rerun (a --stage stitch, a new FoV) would stop here.
    r.state += "; a rerun would be refused: " + r.model_error;
  }
  // Whatever the folder's own state: it is not this configuration's campaign's.
  if (!r.identity_error.empty()) {
    r.state = "not this configuration's: " + r.identity_error;
    r.exit = 2;
  } else if (!r.options_error.empty()) {
    r.state = "cannot run as configured: " + r.options_error;
    r.exit = 2;
  } else if (!r.settings_error.empty()) {
    r.state = "cannot be rerun as configured: " + r.settings_error;
    r.exit = 2;
  }
  return r;
}

// A target that cannot even be examined (a configuration with an unknown key, say) is reported
// as such; the other targets are still listed.
Report unreadable(const std::string& name, const std::string& why) {
  Report r;
  r.target = Target{name, "", name};
  r.state = "cannot read: " + why;
  r.exit = 2;
  return r;
}

void print_report(const Report& r, std::size_t max_failed, bool show_map, std::ostream& o) {
  const OutputStatus& s = r.st;
  o << r.target.out_dir;
  if (!r.campaign_dir.empty()) {
    o << "  (campaign " << r.campaign_dir;
    if (s.plan_known) o << fmt::format(": {} FoVs, {} x {}", s.planned, r.rows, r.cols);
    o << ")";
  }
  o << "\n  state:   " << r.state << "\n";
  if (!s.exists || !s.problem.empty()) return;
  if (s.plan_known) {
    const double pct = s.planned ? 100.0 * double(s.done) / double(s.planned) : 100.0;
    constexpr int kBar = 30;
    const int filled = static_cast<int>(pct / 100.0 * kBar + 0.5);
    o << fmt::format("  FoVs:    {} of {} done, {} failed, {}{} not yet", s.done, s.planned, s.failed - s.not_acquired,
                     s.not_acquired ? fmt::format("{} not acquired yet, ", s.not_acquired) : std::string(),
                     s.planned - s.done - s.failed - s.missing_results - s.damaged_results)
      << (s.missing_results ? fmt::format(", {} done but their result file is gone (redone by the next run)", s.missing_results) : "")
      << (s.damaged_results ? fmt::format(", {} done but their result file is damaged (redone by the next run)", s.damaged_results) : "")
      << fmt::format("  [{}{}] {:.0f}%\n", std::string(filled, '#'), std::string(kBar - filled, '.'), pct);
  } else {
    o << fmt::format("  FoVs:    {} done, {} failed{} (of how many is unknown: {})\n", s.done, s.failed - s.not_acquired,
                     s.not_acquired ? fmt::format(", {} not acquired yet", s.not_acquired) : std::string(), r.campaign_error);
  }
  if (show_map && !r.map.empty()) {
    o << fmt::format("  map:     rows 0-{} top to bottom, columns 0-{} left to right ({})\n", r.rows - 1, r.cols - 1,
                     kFovMapLegend);
    for (const std::string& row : r.map) o << "           " << row << "\n";
  } else if (show_map) {
    o << "  map:     none (the campaign's grid is unknown)\n";
  }
  if (s.not_in_plan)
    o << fmt::format("  note:    manifest.jsonl has {} FoV id(s) the campaign does not have (taken out of its positions file, or another campaign's output?)\n",
                     s.not_in_plan);
  if (!r.unlisted.empty()) o << "  note:    " << r.unlisted << "\n";
  if (s.since_last_record_s >= 0) o << "  last:    FoV recorded " << duration_text(s.since_last_record_s) << " ago\n";
  if (!s.stage_now.empty()) o << "  now:     " << s.stage_now << " (for " << duration_text(s.stage_now_for_s) << ")\n";
  // Only while this run still has FoVs to do (a stitch-stage run has no FoV pace of its own).
  // What it has left: what it set out to do less what it recorded (the FoVs that failed in
  // earlier runs are retried by it, so planned - done - failed would leave them out).
  const long long left = s.pace.to_process >= 0 ? s.pace.to_process - static_cast<long long>(s.pace.fovs)
                         : s.plan_known         ? static_cast<long long>(s.planned) - static_cast<long long>(s.done + s.failed)
                                                : 0;
  if (s.running && s.pace.fovs > 0 && s.pace.seconds > 0 && left > 0) {
    const double rate = double(s.pace.fovs) / s.pace.seconds;
    const std::size_t rest = static_cast<std::size_t>(left);
    o << fmt::format("  pace:    this run: {} FoV(s) in {} ({:.3g} FoV/s); about {} for the {} left\n", s.pace.fovs,
                     duration_text(s.pace.seconds), rate, duration_text(double(rest) / s.pace.steady_rate()), rest);
  }
  if (s.verified)
    o << (s.damaged.empty() ? fmt::format("  verify:  all {} result file(s) match their recorded checksums\n", s.done)
                            : std::string());
  for (std::size_t i = 0; i < s.damaged.size() && i < max_failed; ++i)
    o << (i == 0 ? "  damaged: " : "           ") << fmt::format("FoV {}: {}\n", s.damaged[i].first, s.damaged[i].second);
  if (s.damaged.size() > max_failed)
    o << (max_failed == 0 ? "  damaged: " : "           ")
      << fmt::format("{}{} FoV(s) (--failed N to list them)\n", max_failed ? "... and " : "", s.damaged.size() - max_failed);
  if (!s.not_acquired_ids.empty())
    o << fmt::format("  waiting: {} FoV(s) not acquired yet (no table of theirs there yet): ids {}\n", s.not_acquired_ids.size(),
                     first_items(s.not_acquired_ids, 20));
  for (std::size_t i = 0; i < s.failed_reasons.size() && i < max_failed; ++i)
    o << (i == 0 ? "  failed:  " : "           ") << fmt::format("FoV {}: {}\n", s.failed_reasons[i].first, s.failed_reasons[i].second);
  if (s.failed_reasons.size() > max_failed)
    o << (max_failed == 0 ? "  failed:  " : "           ")
      << fmt::format("{}{} FoV(s) (--failed N to list them, or {}/manifest.jsonl)\n", max_failed ? "... and " : "",
                     s.failed_reasons.size() - max_failed, r.target.out_dir);
  o << "  mosaic:  ";
  if (s.stitch_summary_damaged)
    o << "stitch_summary.json cannot be read (not a JSON object): the next run remakes the mosaic\n";
  else if (!s.stitch_summary && s.mosaic_file)
    // A remake stopped after its mosaic.ims, or the record deleted (probe77 read "not made yet").
    o << fmt::format("{}/mosaic.ims is there, but no stitch_summary.json records it (a stitch stage stopped before "
                     "recording it, or the record was deleted): the next run makes the mosaic again\n",
                     r.target.out_dir);
  else if (!s.stitch_summary) o << "not made yet\n";
  else if (!s.mosaic_file)
    // Recorded, then deleted or taken by a remake that stopped (probe77 was given the recorded size
    // and "layout.json changed" for a file that was not there).
    o << fmt::format("{}/mosaic.ims is missing (stitch_summary.json records a {} x {} px mosaic): the next run makes it\n",
                     r.target.out_dir, s.mosaic_width_px, s.mosaic_height_px);
  else {
    o << fmt::format("{} x {} px ({}/mosaic.ims)", s.mosaic_width_px, s.mosaic_height_px, r.target.out_dir);
    if (!r.mosaic_current) o << "\n";
    else if (*r.mosaic_current && !r.settings_error.empty())
      // Of the results there, made with the earlier settings (probe72 read "up to date" as current).
      o << ", up to date with the FoV results there (made with the earlier settings: see state)\n";
    else if (*r.mosaic_current && (s.missing_results || s.damaged_results))
      // Made from the files as they were (probe89 read "gone" beside "up to date" as a contradiction).
      o << ", up to date with the FoV results as recorded (a redone FoV that comes out the same keeps it)\n";
    else if (*r.mosaic_current) o << ", up to date\n";
    else if (r.mosaic_export_only) o << ", up to date; " << r.mosaic_why << "\n";
    else
      o << ", out of date (" << (r.mosaic_why.empty() ? "a FoV result, a position, a stitch setting or its files changed since" : r.mosaic_why)
        << (r.identity_error.empty() && r.settings_error.empty() && r.model_error.empty() ? "): the next run remakes it\n"
                                                                : "): a run with this configuration is refused (above)\n");
  }
  if (s.qc_report) {
    o << fmt::format("  QC:      {} FoV(s) flagged{}\n", s.qc_flagged,
                     s.qc_flagged ? fmt::format(" (all reasons in {}/qc/qc.json)", r.target.out_dir) : "");
    for (std::size_t i = 0; i < s.qc_flags.size() && i < max_failed; ++i)
      o << fmt::format("           FoV {}: {}\n", s.qc_flags[i].first, s.qc_flags[i].second);
    if (s.qc_flags.size() > max_failed)
      o << fmt::format("           {}{} FoV(s) (--failed N to list more)\n", max_failed ? "... and " : "",
                       s.qc_flags.size() - max_failed);
  }
  if (s.leftover_files)  // probe89: a killed fusion's 26 MB mosaic.ims.tmp.PID went unmentioned
    o << fmt::format("  leftover: {} temporary file(s) ({:.1f} MB, NAME.tmp.PID) a killed run left: the next run removes "
                     "them\n",
                     s.leftover_files, s.leftover_bytes / 1e6);
}

nlohmann::json report_json(const Report& r, bool show_map) {
  const OutputStatus& s = r.st;
  nlohmann::json failed = nlohmann::json::array();
  for (const auto& [id, why] : s.failed_reasons) failed.push_back({{"id", id}, {"reason", why}});
  nlohmann::json j = {{"target", r.target.name}, {"output", r.target.out_dir}, {"state", r.state}, {"exit", r.exit}, {"exists", s.exists},
                      {"campaign", r.campaign_dir}, {"running", s.running ? nlohmann::json(*s.running) : s.lock_error.empty() ? nlohmann::json(false) : nlohmann::json()},
                      {"done", s.done}, {"failed", s.failed - s.not_acquired}, {"failed_fovs", failed},
                      {"not_acquired", s.not_acquired}, {"not_acquired_fovs", s.not_acquired_ids},
                      {"missing_results", s.missing_results}, {"not_in_plan", s.not_in_plan},
                      {"seconds_since_last_record", s.since_last_record_s < 0 ? nlohmann::json() : nlohmann::json(s.since_last_record_s)},
                      {"stitch_step_now", s.stage_now.empty() ? nlohmann::json()
                                                              : nlohmann::json({{"step", s.stage_now}, {"seconds", s.stage_now_for_s}})},
                      {"latest_run", {{"fovs", s.pace.fovs}, {"seconds", s.pace.seconds}}},
                      {"mosaic", s.stitch_summary ? nlohmann::json({{"width_px", s.mosaic_width_px},
                                                                   {"height_px", s.mosaic_height_px},
                                                                   {"up_to_date", r.mosaic_current ? nlohmann::json(*r.mosaic_current) : nlohmann::json()},
                                                                   {"file_present", s.mosaic_file}})
                                                 : s.stitch_summary_damaged ? nlohmann::json({{"damaged", true}}) : nlohmann::json()},
                      {"qc_flagged", s.qc_report ? nlohmann::json(s.qc_flagged) : nlohmann::json()}};
  if (s.qc_report) {
    nlohmann::json flagged = nlohmann::json::array();
    for (const auto& [id, why] : s.qc_flags) flagged.push_back({{"id", id}, {"flags", why}});
    j["qc_flagged_fovs"] = flagged;
  }
  j["leftover_temporaries"] = {{"files", s.leftover_files}, {"bytes", s.leftover_bytes}};
  j["planned"] = s.plan_known ? nlohmann::json(s.planned) : nlohmann::json();
  j["to_do"] = s.plan_known ? nlohmann::json(s.to_do()) : nlohmann::json();
  if (s.verified) {
    nlohmann::json damaged = nlohmann::json::array();
    for (const auto& [id, why] : s.damaged) damaged.push_back({{"id", id}, {"reason", why}});
    j["verified"] = true;
    j["damaged_results"] = s.damaged_results;
    j["damaged_fovs"] = damaged;
  }
  if (!r.campaign_error.empty()) j["campaign_error"] = r.campaign_error;
  if (!r.mosaic_why.empty()) j["mosaic_out_of_date_because"] = r.mosaic_why;
  // A list for scripts, the sentence for people.
  if (!r.unlisted.empty()) j["unlisted_tables"] = r.unlisted_paths, j["unlisted_tables_note"] = r.unlisted;
  if (r.mosaic_export_only) j["mosaic"]["export_only"] = true;
  if (!s.lock_error.empty()) j["lock_error"] = s.lock_error;
  if (show_map) j["map"] = r.map;
  return j;
}

int run_status(const po::variables_map& vm) {
  if (vm["failed"].as<std::size_t>() > (std::size_t{1} << 40)) throw UsageError("--failed must be >= 0");  // negative, wrapped
  std::vector<std::string> args;
  if (vm.count("target")) args = vm["target"].as<std::vector<std::string>>();
  if (vm.count("config")) args.push_back(vm["config"].as<std::string>());
  if (vm.count("list")) {
    const std::string list = vm["list"].as<std::string>();
    std::error_code ec;
    if (fs::is_directory(list, ec)) throw UsageError("--list " + list + ": is a folder; --list takes a file of paths, one a line");
    if (!fs::exists(list, ec) && !ec) throw UsageError("--list " + list + ": no such file");
    if (!ec && !fs::is_regular_file(list, ec)) throw UsageError("--list " + list + ": not a regular file");
    std::ifstream in(list);
    if (!in) throw IoError(list, std::string("cannot open the --list file: ") + std::strerror(errno));  // permissions
    bool first = true;
    std::size_t listed = 0;
    const std::size_t before = args.size();
    for (std::string line; std::getline(in, line); first = false) {
      if (first && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a UTF-8 byte order mark
      line.erase(0, line.find_first_not_of(" \t"));
      line.erase(line.find_last_not_of(" \t\r") + 1);
      if (!line.empty() && line[0] != '#') args.push_back(line);  // a path may hold '#': whole lines only
      ++listed;
    }
    if (listed == 0 || args.size() == before) throw UsageError("--list " + list + ": no run configuration in it");
  }
  if (args.empty()) args.push_back("out/demo");  // where `annamosaic run` without options writes

  // For scripts (slurm/*.sh): the folder as a rerun would use it, raw (JSON would escape " and \).
  if (vm["output-folder"].as<bool>()) {
    for (const char* other : {"json", "map", "verify"})
      if (vm[other].as<bool>()) throw UsageError(std::string("--output-folder prints the folders alone: not with --") + other);
    int exit = 0;
    for (const std::string& a : args) {
      try {
        std::cout << resolve_target(a).out_dir << "\n";
      } catch (const std::exception& e) {
        std::cerr << "annamosaic status: error: " << e.what() << "\n";
        exit = 2;
      }
    }
    return exit;
  }

  std::vector<Report> reports;
  // An output named twice (a folder and a configuration of it) is one campaign, the configuration's
  // report kept (what a rerun with it would do); two configurations of one output are two reports
  // (a probe's second one, with another setting, went unsaid, its exit status lost).
  struct Named {
    std::string out, config;  // config "": the output's own record (its folder given)
    std::size_t report;
  };
  std::vector<Named> seen;
  const auto canonical = [](const std::string& p) {
    std::error_code ec;
    std::string c = fs::weakly_canonical(p, ec).string();
    if (ec) c = p;
    while (c.size() > 1 && c.back() == '/') c.pop_back();  // "a/" (a path that does not exist keeps it) is "a"
    return c;
  };
  std::vector<std::string> unreadable_seen;  // a path that cannot be read, given twice: said once
  for (const std::string& a : args) {
    try {
      const Target t = resolve_target(a);
      const std::string out = canonical(t.out_dir);
      std::string config = t.config.empty() ? "" : canonical(t.config);
      if (config == canonical(t.out_dir + "/config.ini")) config.clear();
      const auto same = std::find_if(seen.begin(), seen.end(), [&](const Named& n) {
        return n.out == out && (n.config == config || config.empty() || n.config.empty());
      });
      if (same != seen.end() && (config.empty() || !same->config.empty())) continue;
      if (same != seen.end()) {  // the folder given before: this configuration's report instead
        reports[same->report] = examine(t, vm["verify"].as<bool>());
        same->config = config;
        continue;
      }
      seen.push_back({out, config, reports.size()});
      reports.push_back(examine(t, vm["verify"].as<bool>()));
    } catch (const std::exception& e) {
      if (std::find(unreadable_seen.begin(), unreadable_seen.end(), canonical(a)) != unreadable_seen.end()) continue;
      unreadable_seen.push_back(canonical(a));
      reports.push_back(unreadable(a, e.what()));
    }
  }
  int exit = 0;
  const auto rank = [](int e) { return e == 2 ? 3 : e == kNotFinished ? 2 : e == 5 ? 1 : 0; };
  for (const Report& r : reports)
    if (rank(r.exit) > rank(exit)) exit = r.exit;

  if (vm["json"].as<bool>()) {
    nlohmann::json all = nlohmann::json::array();
    for (const Report& r : reports) all.push_back(report_json(r, vm["map"].as<bool>()));
    std::cout << json_text(all, 1) << "\n";
    return exit;
  }
  const std::size_t max_failed = vm["failed"].as<std::size_t>();
  for (std::size_t i = 0; i < reports.size(); ++i) {
    if (i) std::cout << "\n";
    print_report(reports[i], max_failed, vm["map"].as<bool>(), std::cout);
  }
  if (reports.size() > 1) {
    std::size_t finished = 0, with_failures = 0, without_mosaic = 0, running = 0, done = 0, failed = 0, planned = 0,
                not_acquired = 0;
    for (const Report& r : reports) {
      finished += r.exit == 0 || r.exit == 5;
      with_failures += r.exit == 5;
      without_mosaic += r.exit == 5 && r.st.mosaic_width_px == 0;
      running += r.st.running.has_value();
      if (r.st.plan_known && r.st.problem.empty())
        done += r.st.done, failed += r.st.failed - r.st.not_acquired, planned += r.st.planned, not_acquired += r.st.not_acquired;
    }
    const std::string failures =
        with_failures == 0 ? std::string()
                           : fmt::format(" ({} with failed FoVs or FoVs not acquired yet{})", with_failures,
                                         without_mosaic ? fmt::format(", {} of them without a mosaic", without_mosaic) : "");
    std::cout << fmt::format("\n{} campaigns: {} finished{}, {} running, {} other; FoVs {} of {} done, {} failed{} (campaigns "
                             "that could be read)\n",
                             reports.size(), finished, failures, running, reports.size() - finished - running, done, planned,
                             failed, not_acquired ? fmt::format(", {} not acquired yet", not_acquired) : std::string());
  }
  return exit;
}

}  // namespace

Command status_command() {
  Command c;
  c.name = "status";
  c.summary = "Where a campaign's run stands: running or not, FoVs done / failed / left, pace, mosaic, QC flags.";
  c.usage = "annamosaic status [OUTPUT_FOLDER | CONFIG.ini ...] [--list CAMPAIGN_LIST] [--verify] [--map] [--json | --output-folder]";
  c.details =
      "Reads the output folder (manifest.jsonl, events.jsonl, the run lock, stitch_summary.json, qc/qc.json)\n"
      "and changes nothing: safe while a run writes there. Running = a process holds the folder's lock\n"
      "(seen from other nodes where the file system shares fcntl locks). \"done\" is recorded done with\n"
      "its result file present; --verify also reads every result file and compares it with the checksum\n"
      "the manifest recorded, as a rerun does (inputs are not checked: a rerun compares those).\n"
      "A folder is an output folder (its config.ini names the campaign); a file is a run configuration\n"
      "(its [run] output and campaign; relative paths from the working folder, as for run: run status\n"
      "where the run started). Without arguments: out/demo. --list takes the campaign list given to\n"
      "slurm/submit-campaign.sh (one configuration per line, # comments).\n"
      "Exit status: 0 every campaign finished; 5 finished with failed FoVs; 75 some campaign not\n"
      "finished (running, unknown whether running, stopped, not started, mosaic or QC report not\n"
      "made or out of date: a rerun of the same command carries on what is not running);\n"
      "1 usage; 2 a campaign could not be read (no such folder, a damaged manifest, an unreadable config).";
  c.positional = {"target"};
  c.last_positional_repeats = true;
  c.add_options = [](po::options_description& d) {
    d.add_options()
        ("target", po::value<std::vector<std::string>>(), "output folders or run configurations")
        ("list", po::value<std::string>(), "file of run configurations, one per line (# comments)")
        ("failed", po::value<std::size_t>()->default_value(10), "list at most this many failed (and QC-flagged) FoVs per campaign")
        ("verify", po::bool_switch(), "read every FoV result and compare it with its recorded checksum (damaged ones: exit 75)")
        ("map", po::bool_switch(), (std::string("draw each campaign's grid, a character per FoV (") + kFovMapLegend + ")").c_str())
        ("json", po::bool_switch(), "print the status as JSON (an array: one object per campaign)")
        ("output-folder", po::bool_switch(), "print only each campaign's output folder, one per line, as a rerun would "
                                             "use it (for scripts); reads nothing in it");
  };
  c.run = [](const po::variables_map& vm) { return run_status(vm); };
  return c;
}

}  // namespace annamosaic::cli
