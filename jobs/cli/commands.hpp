#pragma once
// The subcommands of `annamosaic`; each is a thin layer over library calls.
#include <string>
#include <vector>

#include "cli/options.hpp"
#include "imageio/tiff_io.hpp"
#include "loc/frame_window.hpp"
#include "loc/table_reader.hpp"
#include "sim/campaign.hpp"

namespace annamosaic::cli {

Command render_command();
Command table_info_command();
Command simulate_command();
Command run_command();
Command train_command();
Command reconstruct_command();
Command evaluate_command();
Command export_command();
Command inspect_command();
Command stitch_command();
Command status_command();
Command init_campaign_command();

// Every command, in the order `annamosaic --help` lists them.
std::vector<Command> all_commands();
// The options of `command` as they would be parsed from `argv` (argv[0] = command name), e.g.
// {"simulate", "--config", "campaign.ini"}: lets `run` read another command's section.
po::variables_map options_of(const std::string& command, const std::vector<std::string>& argv);
// The simulator's options from a parsed `simulate` variables map.
CampaignOptions simulate_options(const po::variables_map& vm);
// The specimen options `simulate` and `train` share (structure, densities, cells): declared (help
// texts after `help_prefix`) and read, with their range checks, in one place.
void add_specimen_options(po::options_description& d, const std::string& help_prefix);
SpecimenOptions specimen_options(const po::variables_map& vm);
// configs/demo.ini, compiled into the binary: `annamosaic run` without --config uses it.
const char* embedded_demo_config();

// Options shared by every command that reads localization tables. --camera-pixel-nm is the camera
// pixel at the sample: the unit of px coordinates and, for commands that read a widefield (they
// pass its default, 108), the widefield's pixel. A px table needs it given explicitly: a default
// is never taken as a table's unit.
void add_table_options(po::options_description& desc, double camera_pixel_default_nm = 0.0);
TableReadOptions table_options(const po::variables_map& vm);
// The same from the options' values ("" : not given; UsageError naming the option on a bad one).
TableReadOptions table_read_options(const std::string& xy_unit, const std::string& columns, const std::string& delimiter);
// Reads a table, logging size, columns, parse rate, skipped rows and a unit that looks wrong
// (assumed_unit_warning); `report`, if given, gets the read's report.
LocTable read_table_logged(const std::string& path, const po::variables_map& vm, ReadReport* report = nullptr);
// Says which camera pixel a widefield is taken at (--camera-pixel-nm): a warning where the TIFF's
// resolution tags give another, an info line where nobody chose it (the default).
void note_camera_pixel(const std::string& widefield_path, const po::variables_map& vm);

// --device of the one-process commands (train, reconstruct, evaluate): cpu, auto (a GPU when
// one is visible), cuda or cuda:N; anything else is a usage error naming the choices.
std::string device_option(const po::variables_map& vm);  // checked; "auto" said as what it resolves to
int cuda_device_count();  // CUDA devices LibTorch sees (0 on the CPU build or without GPUs)

// A double option's value, a UsageError naming it unless within the range: > 0 (positive), >= 0
// (non-negative), in [0, 1] (fraction). Simulator settings out of range made a specimen unlike
// the one asked for, or an empty one scored as perfect.
double positive_option(const po::variables_map& vm, const char* name);
double non_negative_option(const po::variables_map& vm, const char* name);
double fraction_option(const po::variables_map& vm, const char* name);

// "" or a warning that --search-um is likely in nm: 50 or more and over one whole step between the
// `what` (FoVs, tiles), beyond any stage's error (probe99: 2500 for 2.5 um). Used by run and stitch.
std::string search_um_slip(double search_um, double step_um, const char* what);

// LibTorch threads for one process: --threads, else SLURM_CPUS_PER_TASK, else the CPUs it may run on.
int cpu_threads(const po::variables_map& vm);

// "out/sparse.tif" -> "out/sparse" (the stem used for side files).
std::string path_stem(const std::string& path);
// A command that writes a TIFF refuses -o of another extension (a TIFF named .csv or .png would be
// taken for what its name says): a UsageError naming it.
void require_tiff_name(const std::string& out);
// The page range of option `key` (--widefield-frames 3-5), checked when the command starts (a
// reversed range was an input error found once the widefield was read, or never without one).
PageRange page_range_option(const po::variables_map& vm, const std::string& key);
// --frame-base (render, reconstruct): the number the localization software gave the first camera
// frame, 0 or 1, or -1 to guess it (0 if the table has frame 0, else 1); a UsageError otherwise.
long frame_base_option(const po::variables_map& vm);
// The table's frame range under that base, warning (naming `path`) when a base of 1 leaves frame
// 0's localizations before the first frame.
FrameRange frame_range_logged(const std::string& path, const TableStats& stats, long base);
// "frames: base B, N frames in the table; window [A, E)" (info), as render and reconstruct say it.
void log_frame_window(const FrameRange& range, const FrameWindow& window);
// Whether two paths name the same file or folder: the same file when both exist, else the same
// absolute path once normalised (trailing '/' ignored).
bool same_path(const std::string& a, const std::string& b);
// `s` as one word for a POSIX shell: as it is if it needs no quoting, else in single quotes
// (printed commands users copy: "run it:  annamosaic run --campaign 'my data' -o OUT").
std::string shell_quoted(const std::string& s);
// Before any work: the files a command will write must be distinct and none may be one of its
// inputs (a UsageError naming both), and their folders are created (an IoError naming the folder
// when that fails, e.g. under a regular file), so a bad output path fails fast, not after the work.
// An input that does not exist is an IoError before any folder is made (a typo left an empty
// output folder behind); `inputs_may_be_missing` for stitch, whose missing tiles are holes under
// --skip-missing.
// The files `run` writes at the top of its output folder (which holds manifest.jsonl): what
// another command (stitch) must never replace there.
inline constexpr const char* kRunFolderFiles[] = {
    "config.ini",       "manifest.jsonl",     "events.jsonl",       "bindings.jsonl",       "layout.json",
    "mosaic.ims",       "mosaic.xml",         "mosaic.ome.tif",     "fov_settings.json",    "run_summary.json",
    "stitch_summary.json", "campaign_verdict.json", "stage_now.json", "stitch_stopped.json"};
void prepare_outputs(const std::vector<std::string>& inputs, const std::vector<std::string>& outputs,
                     bool inputs_may_be_missing = false);
// Writes the effective configuration (then `note`, '#' lines) atomically to `path` and logs it.
void write_config_next_to(const std::string& path, const Command& cmd, const po::variables_map& vm,
                          const std::string& note = "");
// Refuses (UsageError) a --config that is `record`, the file where the command writes its
// effective configuration, unless it is such a record itself (a rerun from it): a hand-written
// file was replaced, comments and all (probe102). Called before any work.
void refuse_config_as_record(const std::string& record, const po::variables_map& vm);
// Refuses (UsageError, the option's slip) a --campaign that names a file: campaign.ini for its
// folder is said as the folder to give (run and train alike).
void refuse_campaign_file(const std::string& campaign_dir);

}  // namespace annamosaic::cli
