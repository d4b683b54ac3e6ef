// `annamosaic run`: the whole campaign - FoVs over MPI ranks, then stitching, pyramid and QC.
//   mpirun -n N annamosaic run --config configs/<campaign>.ini
//   srun --mpi=pmix annamosaic run --config ...            (one rank per GPU)
//   annamosaic run                                          (the embedded demo campaign)
// Exit status: 0 success; 5 finished but some FoVs failed (marked in the mosaic and QC report;
// --stage fovs exits 0 with failed FoVs, so that a dependent stitch job runs and reports them);
// 75 stopped by SIGUSR1/SIGTERM, resumable (slurm/annamosaic-grid.sbatch requeues a FoV element
// stopped by USR1 near its time limit); 1-4 as for every command.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <mpi.h>
#include <tbb/global_control.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "anet/reconstructor.hpp"
#include "batch/campaign.hpp"
#include "batch/campaign_identity.hpp"
#include "batch/gpu_binding.hpp"
#include "batch/manifest.hpp"
#include "batch/output_lock.hpp"
#include "batch/runner.hpp"
#include "batch/signals.hpp"
#include "cli/commands.hpp"
#include "cli/model_file.hpp"
#include "cli/run_stages.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/json_text.hpp"
#include "core/log.hpp"
#include "core/process.hpp"
#include "core/temp_file.hpp"
#include "core/text_list.hpp"
#include "imageio/tiff_io.hpp"
#include "loc/frame_window.hpp"
#include "register/widefield_registration.hpp"
#include "sim/specimen.hpp"
#include "tiles/fusion.hpp"
#include "tiles/grid_fit.hpp"

namespace annamosaic::cli {
int torch_intraop_threads();

namespace {
namespace fs = std::filesystem;

struct MpiSession {
  bool owner = false;
  MpiSession() {
    int init = 0;
    MPI_Initialized(&init);
    if (!init) {
      // Open MPI keeps its session files in $TMPDIR (unless orte_tmpdir_base says otherwise) and
      // fails there with some fifty lines of its internals and exit 1: said first, plainly.
      if (const char* t = std::getenv("TMPDIR"); t && !std::getenv("OMPI_MCA_orte_tmpdir_base")) {
        std::error_code ec;
        if (!*t || !std::filesystem::is_directory(t, ec) || ::access(t, W_OK | X_OK) != 0)
          throw IoError(std::string("TMPDIR=") + t, "not a folder this user can write: Open MPI keeps its session files "
                                                    "there; set TMPDIR to one (or unset it, for /tmp)");
      }
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
      owner = true;
      if (provided < MPI_THREAD_MULTIPLE)
        throw IoError("MPI", "the MPI library does not provide MPI_THREAD_MULTIPLE (needed by the dispatcher and the mosaic writer)");
    }
  }
  ~MpiSession() {
    int fin = 0;
    MPI_Finalized(&fin);
    if (owner && !fin) MPI_Finalize();
  }
};

// CUDA_VISIBLE_DEVICES as each rank of `node` sees it, in rank order (gpu_binding.hpp's
// peer_indices and shared_gpu_warning). Collective over `node`.
std::vector<std::string> visible_devices_on_node(MPI_Comm node) {
  const char* v = std::getenv("CUDA_VISIBLE_DEVICES");
  const std::string mine = v ? v : "";
  int node_rank = 0, node_size = 1;
  MPI_Comm_rank(node, &node_rank);
  MPI_Comm_size(node, &node_size);
  int len = static_cast<int>(mine.size());
  std::vector<int> lens(static_cast<std::size_t>(node_size)), offsets(static_cast<std::size_t>(node_size), 0);
  MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, node);
  for (int r = 1; r < node_size; ++r) offsets[r] = offsets[r - 1] + lens[r - 1];
  std::string all(static_cast<std::size_t>(offsets.back() + lens.back()), '\0');
  MPI_Allgatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), offsets.data(), MPI_CHAR, node);
  std::vector<std::string> each;
  for (int r = 0; r < node_size; ++r) each.push_back(all.substr(static_cast<std::size_t>(offsets[r]), static_cast<std::size_t>(lens[r])));
  return each;
}

// All ranks must agree that a step worked; otherwise every rank fails. `code` is the failure's
// kind on this rank (failure_kind), 0 when it worked; the exit status follows the most serious
// one, an unexpected failure counting as the environment's, and the final line that rank 0
// prints carries that failure's `reason` (the lowest rank with it): under srun
// --kill-on-bad-exit a failed rank's own log line can be lost when the step is torn down (seen
// with the local SLURM), and a failure on another rank than 0 must still be said.
void agree(int code, const std::string& reason, const std::string& what, MPI_Comm comm) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  struct {
    int code, rank;
  } mine{code, rank}, worst{0, 0};
  MPI_Allreduce(&mine, &worst, 1, MPI_2INT, MPI_MAXLOC, comm);  // ties: the lowest rank
  if (worst.code == 0) return;
  std::string text = rank == worst.rank ? (reason.empty() ? std::string("failed") : reason) : std::string();
  int length = static_cast<int>(text.size());
  MPI_Bcast(&length, 1, MPI_INT, worst.rank, comm);
  text.resize(static_cast<std::size_t>(length));
  MPI_Bcast(text.data(), length, MPI_CHAR, worst.rank, comm);
  throw_of_kind(worst.code == 4 ? 3 : worst.code,
                what + " failed" + (size > 1 ? " on rank " + std::to_string(worst.rank) : std::string()) + ": " + text);
}

// The run's files and folders, checked before any work: one of the wrong kind (a folder where
// mosaic.ims goes, a file where fov/ goes) would otherwise fail after hours of FoVs.
void check_run_outputs(const std::string& out, const po::variables_map& vm, const std::string& campaign_dir,
                       const std::vector<FovEntry>& fovs) {
  if (fs::exists(out) && !fs::is_directory(out))
    throw UsageError("--output " + out + " is a file, not a folder: the run's output folder goes here; choose another --output");
  // Results and inputs in one folder: fov/NNNN.h5 next to the inputs' fov/NNNN/ folders, and
  // `status` would take the campaign for a run. (A campaign in a subfolder of the output, as
  // `run -o OUT` simulates the demo into OUT/campaign, mixes nothing.)
  if (same_path(out, campaign_dir))
    throw UsageError("--output " + out + " is the campaign folder itself: choose another folder for the results");
  const fs::path root = fs::absolute(out).lexically_normal();
  for (const FovEntry& f : fovs)
    for (const std::string* in : {&f.table_path, &f.widefield_path}) {
      if (in->empty()) continue;
      const fs::path rel = fs::absolute(*in).lexically_normal().lexically_relative(root);
      if (rel.empty() || *rel.begin() == "..") continue;
      const bool among_results = std::distance(rel.begin(), rel.end()) == 1 || *rel.begin() == "fov" || *rel.begin() == "qc";
      if (among_results)
        throw UsageError("--output " + out + " holds the campaign's input " + *in +
                         " where the run writes its results: choose another folder for the results");
    }
  std::vector<std::string> files = {"config.ini", "manifest.jsonl", "events.jsonl", "bindings.jsonl", "layout.json",
                                    "mosaic.ims", "mosaic.xml", "fov_settings.json"};
  if (vm["ome-tiff"].as<bool>()) files.push_back("mosaic.ome.tif");
  for (const std::string& f : files)
    if (fs::is_directory(out + "/" + f))
      throw IoError(out + "/" + f, "is a folder; the run writes this file here: remove or rename the folder");
  for (const char* d : {"fov", "qc"})
    if (fs::exists(out + "/" + d) && !fs::is_directory(out + "/" + d))
      throw IoError(out + "/" + d, "is a file; the run writes a folder here: remove or rename the file");
}

void check_fov_settings(const std::string& out, const po::variables_map& vm, const std::string& stage,
                        const CampaignInfo& campaign) {
  const std::string path = out + "/fov_settings.json";
  // The stitch stage uses only the pixel size (and may run where the model is not, or after it
  // was retrained in place): it compares that alone and leaves the record as the FoVs made it.
  const nlohmann::json identity = campaign_identity(campaign);
  // Results only count when some FoV was done: failed ones are redone anyway (a rerun that fixes
  // the setting every FoV failed on must not be refused).
  bool has_results = false;
  if (fs::exists(out + "/manifest.jsonl"))
    for (const auto& [id, r] : Manifest(out + "/manifest.jsonl").load()) has_results = has_results || r.status == "done";
  if (has_results && fs::exists(path)) {
    std::ifstream in(path);
    const nlohmann::json before = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    // Unreadable, the results' settings are unknown: never taken as "the same" silently.
    if (!before.is_object()) throw InputError(path, fov_settings_unreadable());
    // Whose results, before which settings (campaign_identity.hpp).
    if (before.contains("campaign")) {
      const IdentityCheck id = check_campaign_identity(before["campaign"], identity);
      if (!id.refusal.empty()) throw InputError(out, id.refusal);
      if (id.moved)
        spdlog::warn("{}: its FoV results are of campaign '{}' at {}; this run's campaign of that name, positions and "
                     "input sizes is at {} (moved, or a copy): reusing them ({})",
                     out, before["campaign"].value("name", ""), before["campaign"].value("path", ""),
                     identity["path"].get<std::string>(),
                     stage == "stitch" ? "--stage stitch redoes no FoV: run without it to redo those whose inputs differ"
                                       : "inputs that differ are redone");
    }
    if (const SettingsChange change = recorded_settings_change(before, vm, stage == "stitch"); !change.empty())
      throw InputError(out, "holds FoV results made with other settings (" + change.text() +
                                "): use another --output, or delete its fov/ and manifest.jsonl to redo them");
    // The stitch stage uses none of the other FoV options, but records this invocation's in
    // config.ini: said, since a run from that config.ini would be refused (and `status` says so).
    if (stage == "stitch")
      if (const SettingsChange other = recorded_settings_change(before, vm, false); !other.empty()) {
        spdlog::warn("{}: the FoV results were made with other FoV options ({}); the stitch stage uses none of them, but "
                     "config.ini now records these, and a run from it would be refused: give the options the FoVs were "
                     "made with",
                     out, other.options);
      }
    // campaign.ini's settings (recorded since 2026-12-05; older records: not compared). The stitch
    // stage too: tiles made at another fov-um are not this campaign's tiles.
    if (const std::string refusal = camera_pixel_option_history_refusal(before, campaign); !refusal.empty())
      throw InputError(out, refusal);
    if (before.contains("campaign_settings"))
      if (const std::string refusal = campaign_settings_refusal(before["campaign_settings"], campaign, frame_windows_recorded(before));
          !refusal.empty())
        throw InputError(out, refusal);
  } else if (has_results) {
    spdlog::warn("{}: FoV results from a version that did not record their settings; reusing them as they are", out);
  }
  if (stage == "stitch") return;
  nlohmann::json now = fov_settings(vm);
  now["campaign"] = identity;
  now["campaign_settings"] = campaign_fov_settings(campaign);
  try {  // for messages only (compared by checksum)
    now["model-file"] = fs::absolute(resolve_model(vm["model"].as<std::string>())).lexically_normal().string();
  } catch (const std::exception&) {
  }
  fs::create_directories(out);
  write_file_atomic(path, json_text(now, 1) + "\n");
}

int run_run(const Command& self, const po::variables_map& vm_in) {
  // Without --config: the embedded demo campaign (configs/demo.ini as compiled in).
  po::variables_map vm = vm_in;
  std::string config_path = vm.count("config") ? vm["config"].as<std::string>() : "";
  // Ctrl-C too (a run started by hand): the FoVs in flight are finished and recorded; a second
  // Ctrl-C kills as usual. Before MPI starts (about half a second): a pre-emption that soon
  // still ends in exit 75, which the batch script requeues, not in a kill by SIGTERM (143).
  install_stop_handlers(/*also_interrupt=*/true,
                        "\nCtrl-C: stopping once the work in flight is recorded (FoVs finish; a stitch stops between "
                        "steps); a rerun resumes. Ctrl-C again quits at once (the next run redoes what was in "
                        "flight)\n");
  MpiSession mpi;
  MPI_Comm comm = MPI_COMM_WORLD;
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  if (rank != 0 && logging_verbosity() < 1) spdlog::set_level(spdlog::level::warn);  // one voice: rank 0
  // Under mpirun (its URI in the ranks' environment; not under srun), a SIGTERM is most often
  // mpirun's own answer to Ctrl-C or a kill: it kills the ranks about a second later (measured:
  // TERM 1 s after mpirun's, KILL 1 s after that), before FoVs in flight finish (probe89: 0 of
  // about 6 recorded). Said at once, with the signal that lets them finish.
  if (rank == 0 && std::getenv("OMPI_MCA_orte_hnp_uri"))
    // mpirun also sends it when another rank died (probe100: a rank killed by hand read as a kill to mpirun).
    set_terminate_text("\nSIGTERM (Ctrl-C or a kill to mpirun, forwarded; or mpirun stopping the ranks because one of "
                       "them died: see its message below): stopping once the work in flight is recorded, "
                       "but mpirun kills its ranks about a second later, so FoVs in flight are mostly lost (the next "
                       "run redoes them; nothing finished is lost). To let them finish, stop a run with: kill -USR1 "
                       "<mpirun's pid>\n");

  // The embedded configuration is read from a private copy in the temporary folder, one per
  // process (ranks on other nodes need not share a folder with rank 0), removed at the end: a run
  // writes nothing outside its output folder (OUT/config.ini records what it ran with).
  std::optional<PrivateFile> embedded;
  std::string config_name = config_path;  // how messages name the configuration
  if (config_path.empty()) {
    int code = 0;  // a temporary folder that cannot be written on some rank must stop every rank
    std::string reason;
    try {
      embedded.emplace("annamosaic-demo", ".ini", embedded_demo_config());
    } catch (const std::exception& e) {
      reason = error_text(e);
      code = failure_kind(e);
    }
    agree(code, reason, "writing the embedded configuration to the temporary folder ($TMPDIR)", comm);
    config_path = embedded->path();
    config_name = "the embedded demo configuration (configs/demo.ini as built in)";
    const auto given = [&](const char* k) { return vm_in.count(k) && !vm_in[k].defaulted(); };
    // Another campaign's results in out/demo, the demo's folder, would be found by nobody.
    if (given("campaign") && !given("output"))
      throw UsageError("--campaign " + vm_in["campaign"].as<std::string>() +
                       " without --output: say where its results go (-o OUT; out/demo is the demo's)");
    if (rank == 0) {
      if (!given("campaign") && !given("output"))
        spdlog::info("no --config: running the embedded demo campaign (configs/demo.ini as built in)");
      else
        spdlog::info("no --config: the options given, with the defaults of the demo configuration (configs/demo.ini as "
                     "built in) for the rest");
    }
    vm = options_of("run", {"run", "--config", config_path});
    // Whatever was given on the command line still applies, over the embedded config.
    auto& merged = static_cast<std::map<std::string, po::variable_value>&>(vm);
    for (const auto& [key, value] : vm_in)
      if (!value.defaulted()) merged[key] = value;
    // `run -o OUT` alone: the demo campaign is simulated inside OUT (OUT/campaign), not into the
    // working folder's out/demo/campaign; a run writes nothing outside the folder it was given.
    if (given("output") && !given("campaign")) {
      // `run -o DIR` where DIR is a campaign meant "run that campaign": the demo would be
      // simulated into it and the results written among its inputs.
      const std::string o = vm_in["output"].as<std::string>();
      if (fs::exists(fs::path(o) / "campaign.ini") || fs::exists(fs::path(o) / "positions.csv"))
        throw UsageError("-o " + o + " is a campaign folder (it has campaign.ini / positions.csv): to run it, give "
                         "--campaign " + o + " -o RESULTS; -o alone runs the embedded demo into that folder");
      merged["campaign"] = po::variable_value(boost::any((fs::path(vm_in["output"].as<std::string>()) / "campaign").string()), false);
      if (!given("simulate-if-missing")) merged["simulate-if-missing"] = po::variable_value(boost::any(true), false);
    }
  }
  default_table_options_of_run_config(vm, config_path);  // a rerun from an older run's OUT/config.ini
  // A run's own OUT/config.ini names its campaign and output relative to the folder that run
  // started in (its first line), as `status` reads them: a rerun from it works from anywhere.
  // (Only the values the file gives: a path given on the command line is the working folder's.)
  if (const std::string wd = run_config_working_folder(config_path); !wd.empty()) {
    const po::variables_map file_vm = options_of("run", {"run", "--config", config_path});
    for (const char* k : {"campaign", "output"})
      if (vm.count(k) && file_vm.count(k) && vm[k].as<std::string>() == file_vm[k].as<std::string>() &&
          fs::path(vm[k].as<std::string>()).is_relative()) {
        const std::string there = (fs::path(wd) / vm[k].as<std::string>()).lexically_normal().string();
        vm.erase(k);
        vm.insert({k, po::variable_value(boost::any(there), false)});
      }
  }
  const std::string stage = vm["stage"].as<std::string>();
  if (stage != "all" && stage != "fovs" && stage != "stitch") throw UsageError("--stage must be all, fovs or stitch");
  validate_run_options(vm);
  const std::string campaign_dir = vm["campaign"].as<std::string>();
  const std::string out = vm["output"].as<std::string>();

  // Inputs: simulate the campaign if it is absent and the config says how ([simulate]).
  std::unique_ptr<OutputLock> lock;  // rank 0's, held to the end of the run
  // Per rank (GPU visibility may differ between nodes), agreed before the output folder is
  // touched: a run refused here leaves it as it was.
  if (stage != "stitch") {
    const bool no_gpu = vm["device"].as<std::string>() == "cuda" && cuda_device_count() == 0;
    agree(no_gpu ? 3 : 0, "--device cuda, but no GPU is visible here (or this LibTorch has no CUDA); use --device auto or cpu",
          "finding a GPU (--device cuda)", comm);
    const std::string precision = vm["precision"].as<std::string>();
    const bool cpu_precision_only = precision != "fp32" && vm["device"].as<std::string>() == "auto" && cuda_device_count() == 0;
    agree(cpu_precision_only ? 1 : 0, "--precision " + precision + " needs a GPU (the CPU path runs fp32): none is visible here",
          "checking --precision", comm);
  }
  int failed_code = 0;
  std::string failed_reason;
  // OUT/config.ini (rank 0), with the folder relative paths are taken from, so that `annamosaic
  // status OUT` run from anywhere finds the campaign.
  // The options as given, not campaign.ini's table settings (a rerun from it reads campaign.ini
  // again), nor the table options' defaults (written, they would read back as given and disagree
  // with a campaign.ini that sets them).
  // Nor this invocation's one-off limits (--stage, --max-fovs): "run the same command again" from
  // OUT/config.ini finishes the campaign.
  po::variables_map vm_given = vm;
  for (const char* k : kOptionalTableSettings)
    if (vm_given.count(k) && vm_given[k].defaulted()) vm_given.erase(k);
  for (const char* k : {"stage", "max-fovs"}) vm_given.erase(k);
  const auto write_run_config = [&] {
    std::error_code cwd_error;  // a working folder deleted under the run: no line, as before
    const std::string cwd = fs::current_path(cwd_error).string();
    // A working folder whose name holds a line break cannot be one comment line: not recorded
    // (relative paths are then taken from wherever the rerun runs).
    const bool recordable = !cwd_error && cwd.find_first_of("\n\r") == std::string::npos;
    write_file_atomic(out + "/config.ini",
                      (recordable ? kWorkingFolderMark + cwd + "\n" : std::string()) + effective_config(self, vm_given));
  };
  if (rank == 0) {
    try {
      refuse_campaign_file(campaign_dir);
      // The model (a missing model, another pixel size, an array failing its checksum) first: a
      // refused run has simulated nothing and leaves no new folder (rank 0 reads its arrays here,
      // every rank loads them later: a 10 MB model costs milliseconds); and before
      // the settings the results were made with, which a mistyped --model would seem to change.
      if (stage != "stitch")
        check_model_for_run(vm["model"].as<std::string>(), vm["pixel-nm"].as<double>(), /*read_arrays=*/true);
      // (A simulation killed between its campaign.ini and positions.csv has ground_truth/: simulated again.)
      // The positions file is the one campaign.ini names (positions = stage.csv): a microscope's
      // measured positions were refused as "positions.csv missing" (probe64).
      const std::string positions = campaign_positions_path(campaign_dir);
      if (!fs::exists(positions) && fs::exists(campaign_dir + "/campaign.ini") && !fs::exists(campaign_dir + "/ground_truth"))
        throw IoError(positions, "missing, but campaign.ini is there (its `positions`): the campaign's positions file was "
                                 "moved or deleted; restore it, set `positions` in campaign.ini to where it is, or describe "
                                 "the folder again (`annamosaic init-campaign " + campaign_dir +
                                     " ... --force`: nominal positions)");
      if (!fs::exists(positions)) {
        // A relative path is taken from the working folder (a batch job's is where it was submitted).
        const std::string here =
            fs::path(campaign_dir).is_relative() ? " (relative to the working folder " + fs::current_path().string() + ")" : "";
        if (const auto why = why_not_simulated(vm, config_path, campaign_dir, config_name))
          // A missing input (exit 3), as a missing table is; the folder itself may be missing too.
          throw IoError(campaign_dir, "no campaign here" + here + " (positions.csv missing)" + *why);
        spdlog::info("{} has no campaign yet: simulating it from the [simulate] section of {}", campaign_dir, config_name);
        po::variables_map svm = options_of("simulate", {"simulate", "--config", config_path, "-o", campaign_dir});
        const CampaignOptions sim = simulate_options(svm);
        // A structure the model never learned: refused before a campaign is simulated for nothing.
        if (stage != "stitch")
          check_model_switch(resolve_model(vm["model"].as<std::string>()), structure_switch_id(sim.specimen.structure),
                             "the [simulate] structure of switch", config_name);
        const CampaignSummary s = simulate_campaign(sim, campaign_dir);
        write_config_next_to(campaign_dir + "/simulate.config.ini", simulate_command(), svm);  // as `simulate` does
        spdlog::info("simulated {} FoVs ({} localizations) in {:.1f} s", s.fovs, s.localizations, s.seconds);
      } else if (rank == 0) {
        // An edited [simulate] section does not remake the campaign that exists: said.
        std::vector<std::string> diff;
        try {
          diff = simulate_section_differences(config_path, campaign_dir);
        } catch (const UsageError& e) {
          spdlog::warn("the [simulate] section of {} is not used ({} exists) and has an error: {}", config_name, campaign_dir,
                       e.what());
        }
        if (!diff.empty())
          spdlog::warn("the [simulate] section of {} differs from the settings {} was simulated with ({}/simulate.config.ini): "
                       "{}{}. The existing campaign is run; to simulate it anew, delete {} or point [run] campaign and "
                       "[simulate] output at another folder",
                       config_name, campaign_dir, campaign_dir, fmt::join(diff.begin(), diff.begin() + std::min<std::size_t>(6, diff.size()), ", "),
                       diff.size() > 6 ? fmt::format(" and {} more", diff.size() - 6) : std::string(), campaign_dir);
      }
      embedded.reset();  // not read again: a run killed from here on leaves no copy in $TMPDIR (other ranks: below)
      // The campaign read before anything is written: a campaign that cannot be run leaves no
      // output folder behind.
      const CampaignInfo campaign_info = with_camera_pixel_option(read_campaign(campaign_dir), vm);
      if (stage != "stitch")
        check_model_switch(resolve_model(vm["model"].as<std::string>()), campaign_info.switch_id,
                           "campaign.ini's switch-id =", campaign_dir + "/campaign.ini");
      vm = with_widefield_search_default(with_campaign_table_settings(vm, campaign_info), campaign_info);
      // How the tables are read, checked before the output folder is made: a refused value
      // (--camera-pixel-nm -108) left a folder whose fov_settings.json recorded it (probe51).
      static_cast<void>(table_options(vm));
      check_run_outputs(out, vm, campaign_dir, plan_fovs(campaign_info));
      // The lock before anything is written there (fov_settings.json too): a second run must not
      // change the folder under the first one. A refused run leaves no new output folder behind.
      const bool existed = fs::exists(out);
      fs::create_directories(out);
      try {
        lock = std::make_unique<OutputLock>(out);
        check_fov_settings(out, vm, stage, campaign_info);
      } catch (...) {
        if (!existed) {
          lock.reset();
          std::error_code ec;
          fs::remove_all(out, ec);
        }
        throw;
      }
      if (lock->locked())
        if (const auto [n, bytes] = remove_stale_temporaries(out); n > 0)
          spdlog::info("removed {} temporary file(s) ({:.1f} MB) left in {} by a run that was killed", n, bytes / 1e6, out);
      // Lines that are not records (a kill mid-line, an edit) out of the manifest, so that status
      // and other readers of it see whole records again; this run redoes the FoVs they were. (Also
      // where the file system has no locks: rank 0 alone appends, and no other run is known.)
      if (const std::size_t n = Manifest(out + "/manifest.jsonl").set_aside_damaged_lines(); n > 0)
        spdlog::warn("{}/manifest.jsonl: {} line(s) that are not FoV records (cut short by a kill, or edited) moved to "
                     "manifest.jsonl.removed-lines", out, n);
      // The FoV stage's is written once its GPU and model are found: a run refused there must not
      // change what `status` compares the mosaic with.
      if (stage == "stitch") write_run_config();
    } catch (const std::exception& e) {
      failed_reason = error_text(e);
      failed_code = failure_kind(e);
    }
  }
  agree(failed_code, failed_reason, "preparing the campaign", comm);
  embedded.reset();  // every rank's copy, once read
  const CampaignInfo campaign = with_camera_pixel_option(read_campaign(campaign_dir), vm);  // as rank 0 checked them above
  vm = with_widefield_search_default(with_campaign_table_settings(vm, campaign), campaign);
  std::vector<std::string> plan_warnings;
  const std::vector<FovEntry> fovs = plan_fovs(campaign, rank == 0 ? &plan_warnings : nullptr);  // rank 0 says them
  if (rank == 0)
    for (const auto& w : plan_warnings) spdlog::warn("{}", w);
  if (rank == 0) {
    // Cells the positions leave out (an L-shaped area, or FoVs not listed yet): holes, said once.
    std::vector<TileInfo> cells;
    for (const FovEntry& f : fovs) cells.push_back({f.id, f.row, f.col, f.x_um, f.y_um, 0, 0, {}});
    std::size_t empty = 0;
    const std::string which = empty_cells_text(cells, campaign.rows, campaign.cols, 8, &empty);
    if (empty > 0)
      spdlog::info("{}: {} FoV(s) of the {} x {} grid; no FoV for {} cell(s) ({}), left empty in the mosaic",
                   campaign.in_campaign(campaign.positions), fovs.size(), campaign.rows, campaign.cols, empty, which);
  }
  if (rank == 0 && !vm["no-widefield"].as<bool>()) {
    // Their headers only (one open and a few small reads per file): said before any FoV.
    std::vector<WidefieldSize> sizes;
    for (const FovEntry& f : fovs) {
      if (f.widefield_path.empty()) continue;
      try {
        const TiffInfo info = read_tiff_info(f.widefield_path);
        sizes.push_back({f.id, info.width, info.height, info.pixel_nm});
      } catch (const std::exception&) {  // an unreadable widefield is that FoV's to report
      }
    }
    for (const std::string& w :
         widefield_size_warnings(sizes, campaign.camera_pixel_nm, campaign.fov_um, campaign.camera_pixel_nm_given))
      spdlog::warn("{}/campaign.ini: {}", campaign_dir, w);
  }
  if (rank == 0) {
    // A FoV without its widefield file runs on the localizations alone: say which (a typo in
    // the campaign's widefield pattern would do this to every FoV).
    // FoVs with neither file (not acquired yet, or a pattern typo) are said here, once (not per
    // FoV as it is recorded), also in a campaign without widefields; they are not "reconstructed
    // from their localizations alone".
    const bool widefields = !vm["no-widefield"].as<bool>() && campaign.has_widefields();
    std::vector<int> without, neither, widefield_first;
    for (const FovEntry& f : fovs)
      if (f.widefield_path.empty()) (table_acquired(f) ? without : neither).push_back(f.id);
      else if (!table_acquired(f)) widefield_first.push_back(f.id);
    if (!widefields) without.clear();
    if (!widefield_first.empty() && widefield_first.size() == fovs.size())
      spdlog::warn("{}/campaign.ini: no FoV has a table (table = {}), though every FoV's widefield is there: check the "
                   "pattern (campaign.ini's table); until a table is there its FoV counts as not acquired yet (exit 5)",
                   campaign_dir, campaign.table_pattern);
    else if (!widefield_first.empty())
      spdlog::warn("{} FoV(s) have a widefield but no table yet (ids {}): under way (the widefield is taken first), or "
                   "their tables not where campaign.ini's pattern says; not acquired yet, their places empty until their "
                   "tables are there (exit 5), and a later run does them then",
                   widefield_first.size(), first_items(widefield_first, 20));
    if (!neither.empty())
      spdlog::warn("{} FoV(s) have {} (ids {}): not acquired yet, or not where campaign.ini's patterns say; their "
                   "places stay empty (exit 5), and a later run does them once their files are there",
                   neither.size(), campaign.has_widefields() ? "neither a table nor a widefield file" : "no table file",
                   first_items(neither, 20));
    if (widefields && without.size() == fovs.size() && !fovs.empty())
      spdlog::warn("{}/campaign.ini: no FoV has a widefield file (widefield = {}): every FoV is reconstructed from its "
                   "localizations alone (check the pattern, or pass --no-widefield to say so)",
                   campaign_dir, campaign.widefield_pattern);
    else if (!without.empty())
      spdlog::warn("{} FoV(s) have no widefield file (ids {}; widefield = {}) and are reconstructed from their "
                   "localizations alone",
                   without.size(), first_items(without, 20), campaign.widefield_pattern);
  }

  RunOptions ro;
  ro.out_dir = out;
  ro.fov.pixel_nm = vm["pixel-nm"].as<double>();
  ro.fov.frames = vm["frames"].as<std::string>();
  ro.fov.frames_seed = vm["frames-seed"].as<std::uint64_t>();
  ro.fov.table = table_options(vm);
  // Tables in camera pixels: the campaign's camera pixel (campaign.ini's or --camera-pixel-nm), never the default.
  ro.fov.table.csv.camera_pixel_nm = campaign.camera_pixel_nm_given ? campaign.camera_pixel_nm : 0.0;
  ro.fov.use_widefield = !vm["no-widefield"].as<bool>();
  ro.fov.widefield_search_um = vm["widefield-search-um"].as<double>();
  ro.fov.failed_tile = vm["failed-tile"].as<std::string>();
  ro.max_fovs = vm["max-fovs"].as<int>();

  if (stage == "all" || stage == "fovs") {
    // One rank per GPU; CPU threads from the allocation.
    int local_size = 1;
    MPI_Comm node;
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &local_size);
    int node_rank = 0;
    MPI_Comm_rank(node, &node_rank);
    const std::vector<std::string> visible = visible_devices_on_node(node);
    MPI_Comm_free(&node);
    const int peer_index = peer_indices(visible)[static_cast<std::size_t>(node_rank)];
    const std::string device = vm["device"].as<std::string>();
    const int devices = device == "cpu" ? 0 : cuda_device_count();
    if (const std::string w = devices > 1 && node_rank == 0 ? shared_gpu_warning(visible) : std::string(); !w.empty())
      spdlog::warn("rank {}'s node: {}", rank, w);
    Binding b = choose_binding(current_environment(), devices, vm["threads"].as<std::size_t>(),
                               std::max(1u, std::thread::hardware_concurrency()), local_size, affinity_cpu_count(), peer_index);
    if (device != "cpu")
      if (const std::string w = granted_gpus_unused(current_environment(), devices); !w.empty())
        b.warning += (b.warning.empty() ? "" : "; ") + w;
    if (!b.warning.empty()) spdlog::warn("rank {}: {}", rank, b.warning);
    ro.in_flight = vm["in-flight"].as<std::size_t>();
    if (ro.in_flight == 0) ro.in_flight = auto_in_flight(b);
    // This rank's share of the node's cores (TBB takes the smallest active limit).
    tbb::global_control threads_limit(tbb::global_control::max_allowed_parallelism, b.threads);
    anet::ReconstructorOptions opt;
    opt.device = b.device >= 0 ? "cuda:" + std::to_string(b.device) : "cpu";
    opt.precision = vm["precision"].as<std::string>();
    opt.threads = static_cast<int>(b.threads);
    opt.memory_budget_mb = vm["anet-memory-mb"].as<std::size_t>();
    std::unique_ptr<anet::Reconstructor> net;
    int model_code = 0;  // failure_kind: 1 usage (no such model, pixel size), 2 a broken model file, 3 I/O
    std::string model_reason;
    try {
      const std::string model = resolve_model(vm["model"].as<std::string>());
      net = std::make_unique<anet::Reconstructor>(model, opt);
      if (rank == 0) spdlog::info("model {} (trained at {:g} nm)", fs::absolute(model).lexically_normal().string(), net->info().pixel_nm);
      if (const std::string note = anet::checkpoint_note(net->info()); rank == 0 && !note.empty()) spdlog::warn("{}", note);
      // Again on every rank: another node may resolve the name to another file.
      model_reason = model_pixel_refusal(model, net->info().pixel_nm, ro.fov.pixel_nm);
      if (!model_reason.empty()) model_code = 1;
    } catch (const std::exception& e) {
      model_reason = error_text(e);
      model_code = failure_kind(e);  // a missing model is a usage error (1), a broken one bad input (2)
    }
    agree(model_code, model_reason, "loading the model", comm);
    // Every rank's binding (after the model set LibTorch's threads), gathered for the log and the
    // SLURM binding test.
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    const std::string mine = json_text(nlohmann::json({{"rank", rank}, {"host", host}, {"local_rank", b.local_rank},
                                             {"device", b.device}, {"cuda_visible_devices", b.visible_devices},
                                             {"threads", b.threads}, {"in_flight", ro.in_flight}, {"cpus", affinity_cpu_list()},
                                             {"cpu_count", b.affinity_cpus}, {"torch_threads", torch_intraop_threads()},
                                             {"warning", b.warning}}));
    constexpr std::size_t kLine = 1024;
    std::vector<char> buf(kLine, 0);
    std::copy_n(mine.begin(), std::min<std::size_t>(mine.size(), kLine - 1), buf.begin());
    std::vector<char> all(rank == 0 ? kLine * static_cast<std::size_t>(size) : 1);
    MPI_Gather(buf.data(), kLine, MPI_CHAR, all.data(), kLine, MPI_CHAR, 0, comm);
    on_rank0(comm, [&] {
      std::string lines;
      for (int r = 0; r < size; ++r) lines += std::string(all.data() + kLine * r) + "\n";
      write_file_atomic(out + "/bindings.jsonl", lines);
      spdlog::info("{} rank(s); bindings in {}/bindings.jsonl", size, out);
      write_run_config();
    });
    // The A-net's host steps run in the pipeline's parallel stages, its networks in the serial one.
    class AnetJob : public ReconstructJob {
     public:
      AnetJob(const anet::Reconstructor& net, std::shared_ptr<anet::Reconstructor::Job> job, std::string device_precision)
          : net_(net), job_(std::move(job)), device_precision_(std::move(device_precision)) {}
      void run_networks() override { net_.run_networks(*job_); }
      ReconstructionOut finish() override {
        anet::ReconstructionResult r = net_.finish(*job_);
        // An untrained Q's image is noise that reads as a result (as in reconstruct): not stored.
        if (!net_.info().trained_with_widefield) r.q_of_a = ImageF();
        return ReconstructionOut{std::move(r.reconstruction), std::move(r.q_of_a), std::move(r.error_map),
                                 device_precision_ + (r.tiled ? fmt::format(", {} tiles", r.tiles) : ", whole FoV")};
      }

     private:
      const anet::Reconstructor& net_;
      std::shared_ptr<anet::Reconstructor::Job> job_;
      std::string device_precision_;
    };
    // A model that never trained with a widefield: its generator never saw one and its Q is
    // untrained, so the FoVs are reconstructed from their localizations alone (no error map).
    const bool model_takes_widefield = net->info().trained_with_widefield;
    if (rank == 0 && !model_takes_widefield && ro.fov.use_widefield && campaign.has_widefields())
      spdlog::warn("{} was trained without widefields (its Q never trained): the FoVs are reconstructed from their "
                   "localizations alone, with no Q(A) or error map; the widefields are still registered and stitched",
                   net->info().path);
    const ReconstructFn reconstruct = [&](const ImageF& sparse, const ImageF* wf, int switch_id) -> std::unique_ptr<ReconstructJob> {
      return std::make_unique<AnetJob>(*net, net->prepare(sparse.view(), model_takes_widefield ? wf : nullptr, switch_id),
                                       // the device's kind: ranks on cuda:0 and cuda:1 make results alike
                                       opt.device.substr(0, opt.device.find(':')) + " " + opt.precision);
    };
    const RunSummary s = run_fovs(comm, campaign, fovs, ro, reconstruct);
    on_rank0(comm, [&] {
      nlohmann::json loads = nlohmann::json::array();
      double max_busy = 0, sum_busy = 0;
      for (std::size_t r = 0; r < s.ranks.size(); ++r) {
        const auto& l = s.ranks[r];
        loads.push_back({{"rank", r}, {"fovs", l.fovs}, {"busy_s", l.busy_s}, {"finish_s", l.finish_s},
                         {"peak_rss_mb", l.peak_rss_mb}});
        spdlog::info("rank {}: {} FoVs, busy {:.1f} s, out of work at {:.1f} s, peak RSS {:.0f} MB", r, l.fovs, l.busy_s,
                     l.finish_s, l.peak_rss_mb);
        max_busy = std::max(max_busy, l.busy_s);
        sum_busy += l.busy_s;
      }
      const double balance = max_busy > 0 ? sum_busy / (max_busy * s.ranks.size()) : 1.0;
      spdlog::info("FoVs: {} processed ({} failed{}), {} skipped as already done, in {:.1f} s; load balance {:.1f}%",
                   s.done + s.failed, s.failed - s.not_acquired,
                   s.not_acquired ? fmt::format(", {} not acquired yet", s.not_acquired) : std::string(), s.skipped,
                   s.seconds, 100 * balance);
      // Where the time went: per stage, summed over FoVs, and as a share of the ranks' wall time.
      nlohmann::json stages = nlohmann::json::object();
      std::string line;
      const double rank_seconds = s.seconds * static_cast<double>(std::max<std::size_t>(1, s.ranks.size()));
      for (const auto& [k, v] : s.stage_seconds) {
        const double share = rank_seconds > 0 ? v / rank_seconds : 0.0;
        stages[k] = {{"seconds", v}, {"share_of_wall", share}};
        line += fmt::format("{}{} {:.1f} s ({:.0f}%)", line.empty() ? "" : ", ", k, v, 100 * share);
      }
      if (!line.empty()) spdlog::info("FoV stages, summed over FoVs (share of ranks x wall): {}", line);
      // The same sums over every FoV done so far, by this run and by earlier ones, from the
      // manifest: a resumed or rerun campaign keeps its whole table ("stages" is this run's).
      nlohmann::json all_stages = nlohmann::json::object();
      std::size_t all_timed = 0;
      for (const auto& [id, r] : Manifest(out + "/manifest.jsonl").load()) {
        if (r.status != "done" || !r.extra.contains("timings")) continue;
        ++all_timed;
        for (const auto& [k, v] : r.extra["timings"].items()) {
          if (!v.is_number()) continue;
          const std::string key = k.size() > 2 && k.compare(k.size() - 2, 2, "_s") == 0 ? k.substr(0, k.size() - 2) : k;
          all_stages[key] = all_stages.value(key, 0.0) + v.get<double>();
        }
      }
      write_file_atomic(out + "/run_summary.json",
                        json_text(nlohmann::json({{"fovs", s.total}, {"processed", s.done + s.failed}, {"failed", s.failed},
                                        {"not_acquired", s.not_acquired}, {"still_not_acquired", s.still_not_acquired},
                                        {"skipped", s.skipped}, {"seconds", s.seconds}, {"stopped", s.stopped},
                                        {"gave_up_ranks", s.gave_up_ranks}, {"unprocessed", s.unprocessed},
                                        {"load_balance", balance}, {"ranks", loads}, {"stages", stages},
                                        {"all_done_fovs", {{"fovs", all_timed}, {"stage_seconds", all_stages}}},
                                        {"device", opt.device}, {"precision", opt.precision},
                                        // config.ini's 0 ("the default") as used: 5 camera pixels of this campaign
                                        {"widefield_search_um", ro.fov.widefield_search_um > 0
                                                                    ? ro.fov.widefield_search_um
                                                                    : WidefieldRegOptions{}.max_shift_camera_px *
                                                                          campaign.camera_pixel_nm / 1000.0},
                                        {"in_flight_per_rank", ro.in_flight}}),
                                1) + "\n");
    });
    if (stage == "fovs" && rank == 0 && s.failed > 0)
      spdlog::warn("{}{}{}; the stitch stage {} and exits 5",
                   s.failed > s.not_acquired ? fmt::format("{} FoV(s) failed (see manifest.jsonl; reason per FoV)",
                                                           s.failed - s.not_acquired)
                                             : std::string(),
                   s.failed > s.not_acquired && s.not_acquired ? ", " : "",
                   s.not_acquired ? fmt::format("{} FoV(s) not acquired yet", s.not_acquired) : std::string(),
                   s.failed > s.not_acquired ? "marks the failed ones" : "leaves their places empty");
    // Said here too when the stitch stage (which says it again) runs later.
    if (stage == "fovs" && rank == 0)
      if (const std::string w = frame_base_disagreement(Manifest(out + "/manifest.jsonl").load(), fovs,
                                                        vm["frames"].as<std::string>());
          !w.empty())
        spdlog::warn("{}", w);
    // Before a stop's requeue status: a requeue onto the still-full disk would only fail again.
    if (!s.write_failed_ranks.empty()) {
      // Full disk, quota, read-only: nothing to stitch from, and each further FoV is lost work.
      if (rank == 0)
        spdlog::error("FoV results could not be written on rank(s) {} (the reason is above): the run stopped; fix that "
                      "(room on the disk, a quota, permissions of {}) and rerun to resume (exit 3)",
                      fmt::join(s.write_failed_ranks, ", "), out);
      return 3;
    }
    if (s.stopped) {
      if (rank == 0)
        spdlog::warn("{}: the FoVs done so far are recorded; rerun to resume (exit {})",
                     stopped_by_text(),
                     kExitRequeue);
      return kExitRequeue;
    }
    unsigned long long unprocessed = s.unprocessed;
    MPI_Bcast(&unprocessed, 1, MPI_UNSIGNED_LONG_LONG, 0, comm);
    if (unprocessed > 0) {
      // Only when ranks gave up on their A-net: do not stitch a mosaic with holes nobody chose.
      if (rank == 0)
        spdlog::error("{} FoV(s) were not processed: the A-net kept failing on rank(s) {} (see the errors above and "
                      "manifest.jsonl); fix the cause (a lost GPU: fix it or run with --device cpu; out of memory: lower "
                      "--anet-memory-mb or --in-flight), then rerun to finish (exit 5)",
                      unprocessed, fmt::join(s.gave_up_ranks, ", "));
      return 5;
    }
    unsigned long long held_back = s.held_back;
    MPI_Bcast(&held_back, 1, MPI_UNSIGNED_LONG_LONG, 0, comm);
    if (held_back > 0) {
      // A mosaic of some FoVs is not what the campaign asked for: the stitch stage waits for all.
      // The FoV stage is not finished either: 75, as when a signal stops it (probe77: --stage fovs
      // exited 0, so a script took it for done).
      if (rank == 0)
        spdlog::warn("--max-fovs {}: {} FoV(s) left for a later run{}: rerun to carry on (exit {})", ro.max_fovs, held_back,
                     stage == "all" ? "; the stitch stage runs once every FoV is done" : "", kExitRequeue);
      return kExitRequeue;
    }
  }

  int failed = 0, not_acquired = 0;
  // Most FoVs' localizations in a corner (1) or mostly outside their field (2): a campaign whose
  // unit or geometry is wrong. Exit 5, as for failed FoVs.
  static constexpr const char* kGeometrySlips[] = {
      "most FoVs' localizations lie in a corner of their field: the tables' unit is most likely wrong",
      "most FoVs lost most of their localizations outside their field: tables in stage coordinates, or fov-um too small"};
  int geometry_slip = 0;
  if (stage == "all" || stage == "stitch") {
    // Every FoV failed (a column name, a unit, a pattern wrong for the whole campaign): a mosaic of
    // failed tiles, placed by the stage alone, is no result. Said, with the commonest reason; qc/
    // still lists each FoV's.
    int none_done = 0;
    if (rank == 0) {
      // This stage decides the verdict anew (a stop before it is recorded leaves none: no stale one).
      std::error_code ignored;
      std::filesystem::remove(out + "/campaign_verdict.json", ignored);
      // Reasons grouped with the FoV's own file names taken out ("FILE:1: missing required column ...").
      std::map<int, const FovEntry*> plan;
      for (const FovEntry& f : fovs) plan[f.id] = &f;
      std::map<std::string, std::pair<std::size_t, std::string>> reasons;  // generic -> count, an example
      std::size_t done = 0, recorded = 0, cornered = 0, outside = 0, narrow = 0, not_acquired = 0;
      std::size_t bounded = 0, anchored = 0;  // FoVs done with their localizations' bounds; of them, from the corner
      double farthest_x_um = 0, farthest_y_um = 0;  // the farthest localization of them
      bool widefields_there = false;  // of a FoV not acquired yet (its table missing)
      std::string cornered_example, outside_example, narrow_example;
      std::map<std::string, std::vector<int>> by_table;  // table checksum -> FoVs done from it
      std::size_t with_widefield = 0, unregistered = 0;  // FoVs done with a widefield file; of them, not registered
      std::map<std::string, std::vector<int>> turned;    // of them, matched in another orientation: which, FoVs
      const std::map<int, ManifestRecord> records = Manifest(out + "/manifest.jsonl").load();
      for (const auto& [id, r] : records) {
        const auto it = plan.find(id);
        if (it == plan.end()) continue;
        ++recorded;
        done += r.status == "done";
        not_acquired += r.not_acquired() ? 1 : 0;
        widefields_there = widefields_there || (r.not_acquired() && r.extra.value("widefield_present", false));
        if (r.status == "done" && r.extra.contains("inputs") && r.extra["inputs"].is_object() &&
            r.extra["inputs"].contains("widefield")) {
          ++with_widefield;
          if (r.extra.contains("warnings") && r.extra["warnings"].is_array())
            for (const auto& w : r.extra["warnings"])
              if (w.is_string() && w.get<std::string>().find("registration to the localizations is uncertain") != std::string::npos) {
                ++unregistered;
                break;
              }
          if (r.extra.contains("widefield_matches") && r.extra["widefield_matches"].is_string())
            turned[r.extra["widefield_matches"].get<std::string>()].push_back(id);
        }
        if (r.status == "done" && r.extra.contains("inputs") && r.extra["inputs"].is_object() &&
            r.extra["inputs"].contains("table") && r.extra["inputs"]["table"].is_object()) {
          const std::string sum = r.extra["inputs"]["table"].value("checksum", "");
          if (!sum.empty()) by_table[sum].push_back(id);
        }
        const auto tally = [&](const char* key, std::size_t& n, std::string& example) {
          if (r.status == "done" && r.extra.contains(key) && r.extra[key].is_string() && n++ == 0)
            example = r.extra[key].get<std::string>();
        };
        tally("cornered", cornered, cornered_example);
        tally("mostly_outside", outside, outside_example);
        tally("narrow", narrow, narrow_example);
        if (r.status == "done" && r.extra.contains("bounds_um") && r.extra["bounds_um"].is_array() &&
            r.extra["bounds_um"].size() == 4 &&
            std::all_of(r.extra["bounds_um"].begin(), r.extra["bounds_um"].end(), [](const auto& v) { return v.is_number(); })) {
          const auto& b = r.extra["bounds_um"];
          ++bounded;
          // From the field's corner, as a sample filling a camera field smaller than fov-um does
          // (a small cell in the middle of its FoV does not: probe75's false warning).
          anchored += b[0].get<double>() < 0.05 * campaign.fov_um && b[2].get<double>() < 0.05 * campaign.fov_um;
          farthest_x_um = std::max(farthest_x_um, b[1].get<double>());
          farthest_y_um = std::max(farthest_y_um, b[3].get<double>());
        }
        if (r.not_acquired()) continue;  // not a failure's reason
        std::string generic = r.reason;
        for (const std::string* path : {&it->second->table_path, &it->second->widefield_path})
          if (!path->empty())
            for (std::size_t at; (at = generic.find(*path)) != std::string::npos;) generic.replace(at, path->size(), "FILE");
        // And without its numbers (line numbers, coordinate ranges): the same kind of failure.
        std::string shape;
        for (char ch : generic)
          if (!std::isdigit(static_cast<unsigned char>(ch)) || shape.empty() || shape.back() != '#')
            shape += std::isdigit(static_cast<unsigned char>(ch)) ? '#' : ch;
        generic = shape;
        auto& [count, example] = reasons[generic];
        if (count++ == 0) example = r.reason;
      }
      // One table under two FoVs (a copy slip): the mosaic would show that field twice, and the
      // two tiles register to each other at no offset at all.
      std::size_t duplicated = 0;
      std::string duplicate_example;
      for (const auto& [sum, ids] : by_table)
        if (ids.size() > 1 && duplicated++ == 0)
          for (std::size_t i = 0; i < ids.size() && i < 4; ++i)
            duplicate_example += (i ? ", " : "") + plan[ids[i]]->table_path;
      if (duplicated)
        spdlog::warn("{} table(s) are the same bytes under several FoVs (e.g. {}): a table copied to the wrong FoV? The "
                     "mosaic shows that field at each of their places; fix the campaign and rerun (changed tables are "
                     "redone)",
                     duplicated, duplicate_example);
      if (const std::string w = frame_base_disagreement(records, fovs, vm["frames"].as<std::string>()); !w.empty())
        spdlog::warn("{}", w);
      if (const std::string w = inference_mix(records, fovs); !w.empty()) spdlog::warn("{}", w);
      // Most FoVs' localizations in a corner of their field: one FoV's warning among many lines,
      // but for the campaign the tables' unit, and a mosaic of dots. Said once, loudly.
      if (done >= 2 && 2 * cornered > done) {
        geometry_slip = 1;
        spdlog::error("{} of the {} FoVs done have all their localizations in a corner of the field ({}): the tables' "
                      "coordinates are most likely not nm (um or camera pixels under a header that names no unit), and "
                      "the mosaic shows little. Check with `annamosaic table-info TABLE`, then run into a new output "
                      "folder with xy-unit = um (or px) in campaign.ini, or --xy-unit (the mosaic is made; exit 5)",
                      cornered, done, cornered_example);
      } else if (done >= 2 && 2 * outside > done) {
        geometry_slip = 2;
        spdlog::error("{} of the {} FoVs done lost more than half their localizations outside their field (e.g. {}): the "
                      "tables are most likely in the stage's (slide's) coordinates, where each must be in its FoV's own "
                      "(0..fov-um = {:g} um), or fov-um is too small; the mosaic shows the wrong parts of the sample. "
                      "Fix the tables or campaign.ini and run into a new output folder (the mosaic is made; exit 5)",
                      outside, done, outside_example, campaign.fov_um);
      } else if (done >= 2 && 2 * narrow > done) {
        // A warning only: FoVs each centred on one small cell with no stray localization are possible.
        spdlog::warn("{} of the {} FoVs done have all their localizations within a third of their {:g} um field (e.g. "
                     "{}): is fov-um right (the camera's field at the sample: its width in px x camera-pixel-nm)? Too "
                     "large, the tiles are placed apart and the mosaic is mostly empty; then fix campaign.ini (or rerun "
                     "init-campaign --force) and run into a new output folder",
                     narrow, done, campaign.fov_um, narrow_example);
      } else if (anchored >= 2 && 2 * anchored > bounded && std::max(farthest_x_um, farthest_y_um) < 0.9 * campaign.fov_um) {
        // Most FoVs' localizations start at the corner and none reach across: a camera field smaller
        // than fov-um (probe72: fov-um 5 for 3 um fields placed the tiles apart, and their empty
        // margins, blended into the neighbours, dimmed the mosaic in bands; nothing said fov-um).
        spdlog::warn("the localizations of {} of the {} FoVs done with 100 or more start at their field's corner but reach "
                     "no further than {:.3g} um in x, {:.3g} um in y, in any FoV, of their {:g} um field: is fov-um larger "
                     "than the camera's field at the sample (its width in px x camera-pixel-nm; {:.3g} um would fit)? Then "
                     "the tiles are placed apart and their empty margins dim the mosaic where they overlap the neighbours; "
                     "fix campaign.ini (or rerun init-campaign --force) and run into a new output folder",
                     anchored, bounded, farthest_x_um, farthest_y_um, campaign.fov_um,
                     std::max(farthest_x_um, farthest_y_um));
      }
      // Most widefields not registered: one FoV's warning among many, but for the campaign a constant
      // offset between its widefields and its localizations beyond the search (another camera or light path).
      const auto most_turned = std::max_element(turned.begin(), turned.end(), [](const auto& a, const auto& b) {
        return a.second.size() < b.second.size();
      });
      if (most_turned != turned.end() && most_turned->second.size() >= 2 && 2 * most_turned->second.size() >= unregistered) {
        // One orientation for most of those not registered: the camera's, not each FoV's (probe72:
        // 4 of 6 transposed widefields said so, the 2 others registered by chance and were used).
        const auto& [how, ids] = *most_turned;
        const std::size_t registered = with_widefield - unregistered;
        spdlog::warn("{} of the {} FoVs done with a widefield match their localizations only {} (FoVs {}): the widefields "
                     "are most likely {} against the tables' x and y, all of them{}. Fix the widefields (or the tables' x "
                     "and y columns), then run into a new output folder",
                     ids.size(), with_widefield, how, first_items(ids, 6), how,
                     registered == 0 ? std::string()
                                     : fmt::format(" (the {} registered as they are may be chance matches: their A-net had a "
                                                   "widefield out of place)", registered));
      } else if (unregistered >= 2 && 2 * unregistered > with_widefield && geometry_slip == 0)
        // (Tables in another unit or frame, said above, explain it: a wider search is then no fix.)
        spdlog::warn("{} of the {} FoVs done with a widefield could not register it to their localizations, so their "
                     "A-net used the localizations alone: a constant offset between the widefields and the localizations "
                     "larger than searched (--widefield-search-um, default 5 camera pixels), widefields of other fields, "
                     "or mirrored or rotated ones? Check one (the FoV's widefield beside its sparse image in fov/NNNN.h5), "
                     "then run into a new output folder with a larger --widefield-search-um",
                     unregistered, with_widefield);
      if (recorded == fovs.size() && recorded > 0 && not_acquired == recorded) {
        // Nothing there at all: a campaign not begun, or patterns that find nothing.
        none_done = 1;
        spdlog::error("none of the {} FoVs is acquired yet: no table (table = {}){} is where campaign.ini's patterns "
                      "say, so no mosaic was made (exit 5); rerun once they are there",
                      fovs.size(), campaign.table_pattern, widefields_there ? ", though widefields are," : " nor widefield");
      } else if (recorded == fovs.size() && recorded > 0 && done == 0) {
        none_done = 1;
        const auto common = std::max_element(reasons.begin(), reasons.end(),
                                             [](const auto& a, const auto& b) { return a.second.first < b.second.first; });
        spdlog::error("every FoV {}failed, so no mosaic was made; {} of the {} for this kind of reason: {}. Fix that and rerun: "
                      "failed FoVs are redone (each FoV's reason is in manifest.jsonl and qc/qc.json) (exit 5)",
                      not_acquired ? fmt::format("acquired ({} of {}) ", recorded - not_acquired, recorded) : std::string(),
                      common->second.first, recorded - not_acquired, common->second.second);
      }
    }
    MPI_Bcast(&none_done, 1, MPI_INT, 0, comm);
    if (none_done) {
      run_qc_stage(comm, campaign, fovs, out, ro.fov.pixel_nm);
      return 5;
    }
    if (rank == 0) clear_stitch_stopped(out);
    // The step under way is said only while a step is: a stitch stage ended by an error (a full
    // disk) left its last one behind (probe100).
    struct StepNoteRemover {
      std::string path;
      ~StepNoteRemover() {
        std::error_code ec;
        if (!path.empty()) std::filesystem::remove(path, ec);
      }
    } step_note{rank == 0 ? out + "/stage_now.json" : std::string()};
    StitchStageResult st;
    try {
      st = run_stitch_stage(comm, campaign, fovs, vm, out, stage == "stitch");
    } catch (const IoError& e) {
      // A full disk, a quota, a read-only folder: what to do, as the FoV stage says it (the FoV
      // results are safe). Other I/O errors (a damaged FoV result) speak for themselves.
      const std::string what = e.what();
      bool space = false;
      for (const char* sign : {"full?", "No space left", "quota", "Read-only file system", "Permission denied"})
        space = space || what.find(sign) != std::string::npos;
      if (!space) throw;
      throw IoError(e.path(), (e.path().empty() ? what : what.substr(e.path().size() + 2)) + "; make room in " + out +
                                  " (or fix its permissions) and run the same command again: the FoV results are kept, "
                                  "and the next run finishes the stitch stage");
    } catch (const Stopped& e) {
      // Every rank stops together (the stage's stop points are collective); the others wait for
      // the record, or the first rank to exit 75 could get rank 0 killed (srun --kill-on-bad-exit)
      // before it is written.
      const std::string why = e.what();
      int signal = stop_signal();  // the signalled rank's (0 on the others)
      MPI_Allreduce(MPI_IN_PLACE, &signal, 1, MPI_INT, MPI_MAX, comm);
      on_rank0(comm, [&] { record_stitch_stopped(out, why, signal); });
      // Stopped before mosaic.ims was complete: said that the next run makes it again.
      if (why.find("complete") == std::string::npos && why.find("OME-TIFF") == std::string::npos)
        throw Stopped(why + " (the next run makes the mosaic again)");
      throw;
    }
    failed = st.failed_fovs;
    not_acquired = st.not_acquired_fovs;
    int qc_kept = rank == 0 && st.mosaic_kept && qc_report_current(out) ? 1 : 0;
    MPI_Bcast(&qc_kept, 1, MPI_INT, 0, comm);
    if (qc_kept) {
      if (rank == 0) {
        std::string counts;
        try {  // its figures, as when it was made
          std::ifstream in(out + "/qc/qc.json");
          const nlohmann::json s = nlohmann::json::parse(in).at("summary");
          counts = fmt::format("{} done, {} failed, {} not acquired yet; {} flagged; ", s.value("done", 0), s.value("failed", 0),
                               s.value("not_acquired", 0), s.value("flagged", nlohmann::json::array()).size());
        } catch (const std::exception&) {
        }
        spdlog::info("QC: {}the report in {}/qc/ is up to date (made after the FoV results and the mosaic it describes): kept",
                     counts, out);
      }
    } else {
      run_qc_stage(comm, campaign, fovs, out, ro.fov.pixel_nm);
    }
    // A signal during the QC report (its last seconds): the report was finished, so was the run.
    if (rank == 0 && stop_requested())
      spdlog::info("{} arrived during the QC report, which was finished: the run is complete, nothing to resume",
                   signal_text(stop_signal()));
  }
  MPI_Bcast(&failed, 1, MPI_INT, 0, comm);
  MPI_Bcast(&not_acquired, 1, MPI_INT, 0, comm);
  MPI_Bcast(&geometry_slip, 1, MPI_INT, 0, comm);
  // Recorded for `status` (it says a finished campaign with this verdict as exit 5, as run does;
  // an earlier run's was removed when this one's stitch stage began).
  if (rank == 0 && geometry_slip) try {
      write_file_atomic(out + "/campaign_verdict.json",
                        json_text(nlohmann::json{{"verdict", kGeometrySlips[geometry_slip - 1]}}) + "\n");
    } catch (const std::exception& e) {  // the exit status says it still
      spdlog::warn("{} (status will not know the verdict above)", e.what());
    }
  if (failed > 0) {
    if (rank == 0) {
      if (not_acquired == failed)
        spdlog::warn("{} FoV(s) not acquired yet: their places are empty in the mosaic, and a later run does them once "
                     "their files are there (exit 5 until then)", not_acquired);
      else if (not_acquired > 0)
        spdlog::warn("{} FoV(s) failed, marked in the mosaic and in qc/qc.json; {} more not acquired yet, their places "
                     "empty (exit 5)", failed - not_acquired, not_acquired);
      else
        spdlog::warn("{} FoV(s) failed; they are marked in the mosaic and in qc/qc.json (exit 5)", failed);
    }
    return 5;
  }
  if (geometry_slip) {
    if (rank == 0) spdlog::error("{} (said above) (exit 5)", kGeometrySlips[geometry_slip - 1]);
    return 5;
  }
  return 0;
}

}  // namespace

Command run_command() {
  Command c;
  c.name = "run";
  c.summary = "Run a campaign: FoVs over MPI ranks (resumable), then stitching, pyramid and QC.";
  c.usage = "mpirun -n N annamosaic run --config RUN.ini  |  run --campaign DIR -o OUT  |  run [-o OUT] (the embedded demo)";
  c.details =
      "Outputs in --output: fov/NNNN.h5 (per FoV), manifest.jsonl (what is done), fov_settings.json (what\n"
      "decides a FoV result: a rerun with other values is refused), events.jsonl,\n"
      "bindings.jsonl, run_summary.json, layout.json, mosaic.ims + mosaic.xml, stitch_summary.json, qc/, config.ini.\n"
      "A rerun of the same command skips FoVs whose result file matches the manifest.\n"
      "Exit status: 0 ok; 5 some FoVs failed (marked in the mosaic; --stage fovs only warns, so that a stitch job\n"
      "depending on it runs and exits 5) or were left unprocessed, or most FoVs' localizations lie in a corner of\n"
      "their field (tables in another unit than nm); 75 stopped by SIGUSR1/SIGTERM/SIGHUP or Ctrl-C, or FoVs left by --max-fovs (resume by rerunning);\n"
      "1 bad command line or configuration; 2 bad input (a campaign, table or model that cannot be used, an\n"
      "output folder holding other results or in use by another run); 3 file system or environment (disk full,\n"
      "no GPU for --device cuda); 4 internal error. The message names the file and place.";
  c.add_options = [](po::options_description& d) {
    d.add_options()
        ("campaign", po::value<std::string>()->default_value("out/demo/campaign"), "campaign folder (README: Campaign folder); the embedded demo with -o OUT alone: OUT/campaign")
        ("output,o", po::value<std::string>()->default_value("out/demo"), "output folder")
        ("stage", po::value<std::string>()->default_value("all"), "all, fovs (reconstruct only) or stitch")
        ("simulate-if-missing", bool_option(true), "simulate an absent campaign from the config's [simulate] section (by default only into that section's output, when it names one)")
        ("model,m", po::value<std::string>()->default_value(kDefaultModel), "A-net model file (HDF5; a bare name is also looked for in $ANNAMOSAIC_MODELS and the models folder)")
        ("device", po::value<std::string>()->default_value("auto"), "auto (each rank a GPU if one is visible), cpu or cuda (refused without a GPU)")
        ("precision", po::value<std::string>()->default_value("fp32"), "fp32; on GPUs also tf32, bf16 or fp16")
        ("anet-memory-mb", po::value<std::size_t>()->default_value(0),
         "memory of one A-net pass: whole FoV if it fits, else strips/tiles (0: 4096 on CPU, 16384 on GPU)")
        ("pixel-nm", double_default(20.0), "super-resolution pixel size")
        ("frames", po::value<std::string>()->default_value("all"), "frame window of the sparse images: all, first:N, ... as render's --frames (counted from campaign.ini's frame-base; without it from 0 if a table has frame 0, else 1)")
        ("frames-seed", po::value<std::uint64_t>()->default_value(0), "seed of random frame windows (random:L, sparse-paper, dense-paper): each FoV draws its window from it and its id; the window used is in fov/NNNN.h5 (frames_first, frames_end)")
        ("no-widefield", po::bool_switch(), "ignore widefield images (sparse-only reconstruction, no error map)")
        ("widefield-search-um", double_default(0), "largest shift between a FoV's widefield and its localizations searched, per axis (0: 5 camera pixels, 0.54 um at 108 nm); a widefield whose registration stays uncertain is not given to the A-net")
        ("failed-tile", po::value<std::string>()->default_value("widefield"), "a failed FoV's tile: widefield (widefield-only A-net) or empty")
        ("in-flight", po::value<std::size_t>()->default_value(0),
         "FoVs in flight per rank (overlapped stages); 0: 3 on CPU, half the rank's threads (3-16) on a GPU")
        ("max-fovs", po::value<int>()->default_value(-1), "process at most this many FoVs, then stop (testing): exit 75 while FoVs are left, and a rerun carries on (with --stage all the stitch stage waits for every FoV)")
        ("ome-tiff", po::bool_switch(), "also export the mosaic as pyramidal OME-TIFF")
        ("block-px", po::value<std::size_t>()->default_value(1024), "fusion block size (multiple of 1024)")
        ("cache-mb", po::value<std::size_t>()->default_value(1024), "tile cache of the fusion, per rank (tiles leave it after their last block; never below what one block row needs)")
        ("mosaic-deflate", po::value<int>()->default_value(2),
         "deflate level of mosaic.ims chunks, 1..9 (libdeflate: 1 fastest, higher smaller and slower)")
        ("search-um", double_default(2.5), "stage error covered by tile registration (per axis)")
        ("min-ncc-margin", double_default(0.12), "NCC margin a tile pair's match needs over other offsets of the same overlap (as stitch's; smaller accepts repetitive or single-filament overlaps, at the risk of a wrong match)")
        ("blend", po::value<std::string>()->default_value("linear"), "tile blending: linear (feather), overlay or max")
        ("register-widefield", bool_option(false), "also try the widefield for strips featureless in the reconstruction (off: it made a 29 px false link on a simulated 8 x 8 grid)");
    add_table_options(d);
  };
  c.run = [c](const po::variables_map& vm) { return run_run(c, vm); };
  return c;
}

}  // namespace annamosaic::cli
