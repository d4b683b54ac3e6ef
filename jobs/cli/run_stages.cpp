#include "cli/run_stages.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iterator>
#include <map>
#include <numeric>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <tbb/parallel_for.h>

#include "batch/fov_tiles.hpp"
#include "batch/input_stamp.hpp"
#include "batch/manifest.hpp"
#include "batch/output_status.hpp"
#include "batch/output_lock.hpp"
#include "batch/qc.hpp"
#include "batch/signals.hpp"
#include "cli/commands.hpp"
#include "cli/model_file.hpp"
#include "core/atomic_file.hpp"
#include "core/build_info.hpp"
#include "core/checksum.hpp"
#include "core/error.hpp"
#include "core/ini_text.hpp"
#include "core/json_text.hpp"
#include "core/log.hpp"
#include "core/numeric.hpp"
#include "core/process.hpp"
#include "core/progress.hpp"
#include "core/text_list.hpp"
#include "loc/csv_reader.hpp"
#include "loc/frame_window.hpp"
#include "register/widefield_registration.hpp"
#include "tiles/fusion.hpp"
#include "tiles/grid_fit.hpp"
#include "tiles/stitch.hpp"
#include "pyramid/ims_reader.hpp"
#include "pyramid/ims_writer.hpp"
#include "pyramid/ome_tiff.hpp"
#include "tiles/step_check.hpp"

namespace annamosaic::cli {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Rank `root`'s `s` on every rank; collective.
void broadcast_string(std::string& s, int root, MPI_Comm comm) {
  unsigned long long n = s.size();
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, root, comm);
  s.resize(n);
  if (n) MPI_Bcast(s.data(), static_cast<int>(n), MPI_CHAR, root, comm);
}

// The message of the lowest rank that failed ("" if none failed); collective.
std::string first_error(const std::string& mine, MPI_Comm comm) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int failing = mine.empty() ? size : rank, first = size;
  MPI_Allreduce(&failing, &first, 1, MPI_INT, MPI_MIN, comm);
  if (first == size) return "";
  std::string msg = rank == first ? mine : std::string();
  broadcast_string(msg, first, comm);
  return size > 1 ? "rank " + std::to_string(first) + ": " + msg : msg;
}

}  // namespace

int failure_kind(const std::exception& e) {
  if (dynamic_cast<const Stopped*>(&e)) return 5;
  if (dynamic_cast<const UsageError*>(&e)) return 1;
  return exit_status_of(e);
}

// Marks an agreed failure on ranks other than 0 (see mark_failure_echoed).
void mark_echo_unless_rank0() {
  int init = 0, fin = 0, rank = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) mark_failure_echoed();
}

void throw_of_kind(int kind, const std::string& msg, const std::string& where) {
  if (kind != 5) mark_echo_unless_rank0();  // a stop is said per rank: which signal reached which
  if (kind == 5) throw Stopped(msg);
  if (kind == 1) throw UsageError(msg);
  if (kind == 2) throw InputError(where, msg);
  if (kind == 3) throw IoError(where, msg);
  throw std::runtime_error(msg);
}

void on_rank0(MPI_Comm comm, const std::function<void()>& step) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  int kind = 0;
  std::string msg;
  std::exception_ptr mine;
  if (rank == 0) {
    try {
      step();
    } catch (const std::exception& e) {
      mine = std::current_exception();
      msg = error_text(e);
      kind = failure_kind(e);
    }
  }
  MPI_Bcast(&kind, 1, MPI_INT, 0, comm);
  if (kind == 0) return;
  broadcast_string(msg, 0, comm);
  if (mine) std::rethrow_exception(mine);
  throw_of_kind(kind, "on rank 0: " + msg);
}

std::vector<std::string> simulate_section_differences(const std::string& config_path, const std::string& campaign_dir) {
  const std::string made_with = campaign_dir + "/simulate.config.ini";
  const auto section = ini_section(config_path, "simulate");
  if (!std::filesystem::exists(made_with) || !section) return {};
  // A section that makes its campaign elsewhere (the embedded demo's, with --campaign DIR) is not
  // this campaign's description.
  if (const auto into = section->find("output"); into != section->end() && !same_path(into->second, campaign_dir)) return {};
  const auto settings = [](const std::string& text, const std::string& path) {
    std::map<std::string, std::string> kv;
    for (const IniEntry& e : parse_ini_text(text, path))
      if (e.section == "simulate") kv[e.key] = e.value;
    for (const char* k : {"output", "quiet", "verbose", "threads"}) kv.erase(k);
    return kv;
  };
  std::map<std::string, std::string> now, then;
  try {
    then = settings(effective_config(simulate_command(), options_of("simulate", {"simulate", "--config", made_with, "-o", campaign_dir})), made_with);
  } catch (const std::exception&) {
    return {};  // written by another version, with other settings: nothing to compare with
  }
  try {
    now = settings(effective_config(simulate_command(), options_of("simulate", {"simulate", "--config", config_path, "-o", campaign_dir})),
                   config_path);
  } catch (const std::exception& e) {
    throw UsageError(e.what());
  }
  std::vector<std::string> out;
  for (const auto& [key, value] : now)
    if (const auto it = then.find(key); it != then.end() && it->second != value)
      out.push_back(key + " " + (value.empty() ? "(none)" : value) + " (campaign: " + (it->second.empty() ? "(none)" : it->second) + ")");
  return out;
}

std::optional<std::string> why_not_simulated(const po::variables_map& vm, const std::string& config_path,
                                             const std::string& campaign_dir, const std::string& config_name) {
  if (!vm["simulate-if-missing"].as<bool>()) return std::string();
  const std::string& name = config_name.empty() ? config_path : config_name;
  const auto sim = ini_section(config_path, "simulate");
  if (!sim) return ", and " + name + " has no [simulate] section to simulate one: check the campaign path";
  const auto into = sim->find("output");
  if (into != sim->end() && !same_path(into->second, campaign_dir) && vm["simulate-if-missing"].defaulted())
    return "; the [simulate] section of " + name + " makes its campaign in " + into->second +
           ": check the campaign path (a campaign folder holds positions.csv and campaign.ini; `annamosaic "
           "init-campaign` makes them for your files), or give --simulate-if-missing true explicitly to simulate "
           "that section's campaign here";
  return std::nullopt;
}

std::string program_checksum() {
  // The program's own bytes, not its version number: a rebuilt binary may register or fuse
  // differently. Read once per process (a few MB; the digest and the summary both need it).
  static const std::string checksum = [] {
    try {
      return file_checksum("/proc/self/exe");
    } catch (const std::exception&) {
      return annamosaic_version();
    }
  }();
  return checksum;
}

namespace {
// What decides the stitch stage's outputs but the FoVs: the program, the campaign's geometry and
// the stitch options (kept in stitch_summary.json, so that a rerun can say which one changed).
nlohmann::json stitch_settings(const CampaignInfo& c, const po::variables_map& vm) {
  return {{"program", program_checksum()},
          // campaign.ini's, each by its key (an out-of-date mosaic names the one that changed)
          {"campaign-name", c.name},
          {"fov-um", c.fov_um},
          {"overlap-um", c.overlap_um},
          {"pixel-nm", vm["pixel-nm"].as<double>()},
          {"search-um", vm["search-um"].as<double>()},
          {"min-ncc-margin", vm["min-ncc-margin"].as<double>()},
          {"register-widefield", vm["register-widefield"].as<bool>()},
          {"blend", vm["blend"].as<std::string>()},
          {"block-px", vm["block-px"].as<std::size_t>()},
          {"mosaic-deflate", vm["mosaic-deflate"].as<int>()}};
}

// ... and with every FoV result (by checksum) and where the campaign puts it: all of it.
std::string stitch_inputs_digest(const CampaignInfo& c, const std::vector<FovEntry>& fovs,
                                 const std::map<int, ManifestRecord>& records, const po::variables_map& vm) {
  nlohmann::json j = stitch_settings(c, vm);
  nlohmann::json tiles = nlohmann::json::array();
  for (const FovEntry& f : fovs) {
    const auto it = records.find(f.id);
    tiles.push_back({f.id, f.row, f.col, f.x_um, f.y_um, it == records.end() ? "" : it->second.status,
                     it == records.end() ? "" : it->second.checksum});
  }
  j["fovs"] = std::move(tiles);
  return text_checksum(json_text(j));
}

// Size and modification time of the stitch stage's outputs, as kept in stitch_summary.json.
nlohmann::json output_stamps(const std::string& out, const std::vector<std::string>& names) {
  nlohmann::json j = nlohmann::json::object();
  for (const std::string& n : names) {
    struct stat st {};
    if (::stat((out + "/" + n).c_str(), &st) == 0) j[n] = {static_cast<std::uint64_t>(st.st_size), mtime_ns(st)};
  }
  return j;
}
std::vector<std::string> stitch_outputs(bool ome_tiff) {
  std::vector<std::string> names = {"layout.json", "mosaic.ims", "mosaic.xml"};
  if (ome_tiff) names.push_back("mosaic.ome.tif");
  return names;
}

// Why the mosaic in `out` is not what the last complete stitch stage left for these inputs
// ("" when it is: stitch_summary.json has this digest and the outputs are as it wrote them).
std::string stitch_out_of_date_reason(const std::string& out, const std::string& digest, bool ome_tiff,
                                      const nlohmann::json& settings = nlohmann::json()) {
  // Anything unreadable there (a folder of that name, say) is "not up to date": the stitch stage
  // then says what is wrong with it when it writes.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(out + "/stitch_summary.json", ec))
    return std::filesystem::exists(out + "/stitch_summary.json", ec) ? "stitch_summary.json is not a regular file"
                                                                     : "no mosaic was completed here yet";
  std::ifstream in(out + "/stitch_summary.json");
  const std::string text(std::istreambuf_iterator<char>(in), {});
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("outputs") || !j["outputs"].is_object())
    return "stitch_summary.json cannot be read";
  if (j.value("inputs_digest", "") != digest) {
    if (j.value("program", "") != program_checksum()) return "it was made by another build of annamosaic than this one";
    // Which setting, where the summary kept them (made by this version or later).
    if (!settings.is_object() || !j.contains("settings") || !j["settings"].is_object())
      return "the FoV results, their positions or the stitch settings changed since it was made";
    std::string changed;
    for (const auto& [key, now] : settings.items())
      if (key != "program" && (!j["settings"].contains(key) || j["settings"][key] != now))
        changed += (changed.empty() ? "" : ", ") + key + " " + now.dump() +
                   (j["settings"].contains(key) ? " (was " + j["settings"][key].dump() + ")" : std::string());
    return changed.empty() ? "the FoV results or their positions changed since it was made"
                           : "a setting changed since it was made: " + changed;
  }
  const auto names = stitch_outputs(ome_tiff);
  const nlohmann::json now = output_stamps(out, names);
  for (const std::string& n : names) {
    if (!now.contains(n)) return n + " is missing";
    if (!j["outputs"].contains(n)) return n + " was not part of it";
    if (j["outputs"][n] != now[n]) return n + " changed since it was written";
  }
  return "";
}

bool stitch_up_to_date(const std::string& out, const std::string& digest, bool ome_tiff) {
  return stitch_out_of_date_reason(out, digest, ome_tiff).empty();
}

// OUT/stage_now.json: the stitch-stage step under way, for `status` (which shows it only while
// this process holds the run's lock). Rank 0; a note that cannot be written costs nothing else.
void note_step(const std::string& out, const std::string& step) {
  try {
    const double now_s = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    write_file_atomic(out + "/stage_now.json",
                      json_text(nlohmann::json({{"step", step}, {"holder", this_process_as_holder()}, {"since_unix_s", now_s}}), 1) +
                          "\n");
  } catch (const std::exception& e) {
    spdlog::debug("{}/stage_now.json not written: {}", out, e.what());
  }
}

}  // namespace

void record_stitch_stopped(const std::string& out, const std::string& why, int signal) {
  try {
    const double now_s = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    write_file_atomic(out + "/stitch_stopped.json",
                      json_text(nlohmann::json({{"stopped", true}, {"signal", signal}, {"why", why}, {"unix_s", now_s}}), 1) +
                          "\n");
  } catch (const std::exception& e) {
    spdlog::warn("{}/stitch_stopped.json not written: {}", out, e.what());
  }
}

void clear_stitch_stopped(const std::string& out) {
  std::error_code ec;
  std::filesystem::remove(out + "/stitch_stopped.json", ec);
}

namespace {

// OUT/mosaic.ome.tif from OUT/mosaic.ims (rank 0); its seconds.
double export_mosaic_ome_tiff(const std::string& out) {
  note_step(out, "exporting mosaic.ome.tif");
  const auto t0 = Clock::now();
  ImsReader reader(out + "/mosaic.ims");
  reader.open();
  OmeTiffOptions oo;
  oo.stop_requested = stop_requested;
  // Progress lines on a long export (no final one: the "wrote" line below is that).
  std::unique_ptr<Progress> progress;
  oo.tiles_written = [&](std::size_t n, std::size_t total) {
    if (!progress) progress = std::make_unique<Progress>("mosaic.ome.tif", total, "tiles");
    progress->advance(n);
  };
  const OmeTiffStats os = export_ome_tiff(reader, out + "/mosaic.ome.tif", oo);
  progress.reset();  // its line ended before the next (on a terminal it is redrawn in place)
  const double s = seconds_since(t0);
  spdlog::info("wrote {}/mosaic.ome.tif ({} levels, {:.1f} MB) in {:.1f} s", out, os.levels, os.file_bytes / 1e6, s);
  return s;
}

// Whether `mine` holds on some rank; collective.
bool any_rank(bool mine, MPI_Comm comm) {
  int m = mine ? 1 : 0, any = 0;
  MPI_Allreduce(&m, &any, 1, MPI_INT, MPI_MAX, comm);
  return any != 0;
}

// Throws Stopped on every rank when any rank was asked to stop (SIGTERM, SIGUSR1); collective.
void stop_point(const char* before, MPI_Comm comm) {
  if (any_rank(stop_requested(), comm)) throw Stopped(std::string("stitch stage stopped before ") + before);
}
}  // namespace

std::string canonical_table_setting(const std::string& key, const std::string& value) {
  if (key == "xy-unit")
    if (const auto u = parse_xy_unit(value)) return xy_unit_name(*u);
  if (key == "delimiter")
    if (const auto d = parse_delimiter(value)) return delimiter_name(*d);
  return value;
}

std::string run_config_working_folder(const std::string& config_path) {
  std::ifstream in(config_path);
  std::string first;
  if (config_path.empty() || !std::getline(in, first) || first.rfind(kWorkingFolderMark, 0) != 0) return "";
  return first.substr(std::string(kWorkingFolderMark).size());
}

void default_table_options_of_run_config(po::variables_map& vm, const std::string& config_path) {
  if (run_config_working_folder(config_path).empty()) return;
  for (const auto& [key, default_value] : {std::pair<const char*, const char*>{"xy-unit", "nm"}, {"delimiter", "auto"}})
    if (vm.count(key) && !vm[key].defaulted() && vm[key].as<std::string>() == default_value) {
      vm.erase(key);
      vm.insert({key, po::variable_value(boost::any(std::string(default_value)), true)});
    }
}

po::variables_map with_campaign_table_settings(po::variables_map vm, const CampaignInfo& c) {
  for (const auto& [key, value] : {std::pair<const char*, const std::string&>{"xy-unit", c.xy_unit},
                                   {"columns", c.columns}, {"delimiter", c.delimiter}}) {
    if (value.empty()) continue;
    if (vm.count(key) && !vm[key].defaulted()) {
      const std::string given = vm[key].as<std::string>();
      bool same = canonical_table_setting(key, given) == value;
      if (std::string(key) == "delimiter" && canonical_table_setting(key, given) == "auto") same = true;  // detect: no choice
      if (std::string(key) == "columns") try {
          same = parse_column_mapping(given) == parse_column_mapping(value);
        } catch (const std::exception&) {  // a malformed --columns is said where it is parsed
        }
      if (!same)
        throw UsageError(fmt::format("--{} {} and {}/campaign.ini's {} = {} disagree: give it in one place (campaign.ini "
                                     "says how the campaign's tables are read)",
                                     key, given, c.dir, key, value));
    }
    vm.erase(key);
    vm.insert({key, po::variable_value(boost::any(value), false)});
  }
  return vm;
}

po::variables_map with_widefield_search_default(po::variables_map vm, const CampaignInfo& c) {
  if (!vm.count("widefield-search-um")) return vm;
  const double given = vm["widefield-search-um"].as<double>();
  const double default_um = WidefieldRegOptions{}.max_shift_camera_px * c.camera_pixel_nm / 1000.0;
  if (given > 0 && std::abs(given - default_um) <= 1e-6 * default_um) {
    vm.erase("widefield-search-um");
    vm.insert({"widefield-search-um", po::variable_value(boost::any(0.0), false)});
  }
  return vm;
}

// Unsigned options given as negative numbers arrive wrapped around: hence the upper bounds.
void validate_run_options(const po::variables_map& vm) {
  const std::string device = vm["device"].as<std::string>();
  if (device != "auto" && device != "cpu" && device != "cuda")
    throw UsageError("--device must be auto, cpu or cuda, not '" + device + "'" +
                     (device.rfind("cuda:", 0) == 0 ? ": run gives each rank its own GPU by its local rank; to use some GPUs "
                                                      "only, set CUDA_VISIBLE_DEVICES (e.g. CUDA_VISIBLE_DEVICES=1)"
                                                    : ""));
  // Checked here, before the output folder is made or locked (refused later, they left a folder
  // that status called a run stopped in its first seconds).
  const std::string precision = vm["precision"].as<std::string>();
  if (precision != "fp32" && precision != "tf32" && precision != "bf16" && precision != "fp16")
    throw UsageError("--precision must be fp32, tf32, bf16 or fp16, not '" + precision + "'");
  if (precision != "fp32" && device == "cpu")  // with auto, run checks that this node has a GPU (status may run elsewhere)
    throw UsageError("--precision " + precision + " needs a GPU (the CPU path runs fp32) and --device is cpu");
  if (const std::string t = vm["failed-tile"].as<std::string>(); t != "widefield" && t != "empty")
    throw UsageError("--failed-tile must be widefield or empty, not '" + t + "'");
  const double px = vm["pixel-nm"].as<double>();
  if (!(px > 0) || !std::isfinite(px)) throw UsageError("--pixel-nm must be > 0, not " + fmt::format("{}", px));
  if (vm["in-flight"].as<std::size_t>() > 65536) throw UsageError("--in-flight must be between 0 and 65536");
  if (vm["anet-memory-mb"].as<std::size_t>() > (std::size_t{1} << 30)) throw UsageError("--anet-memory-mb must be >= 0");
  try {
    parse_frame_window(vm["frames"].as<std::string>(), FrameRange{0, 1000000}, 0);
  } catch (const std::exception& e) {
    throw UsageError(e.what());
  }
  if (!(vm["search-um"].as<double>() >= 0)) throw UsageError("--search-um must be >= 0");
  if (const double m = vm["min-ncc-margin"].as<double>(); !(m >= 0) || m >= 1)
    throw UsageError(fmt::format("--min-ncc-margin must be >= 0 and below 1 (a difference of NCCs), not {:g}", m));
  if (const double s = vm["widefield-search-um"].as<double>(); !(s >= 0) || !std::isfinite(s))
    throw UsageError("--widefield-search-um must be >= 0 (0: 5 camera pixels)");
  if (const int l = vm["mosaic-deflate"].as<int>(); l < 1 || l > 9)
    throw UsageError("--mosaic-deflate must be 1..9, not " + std::to_string(l));
  if (const std::size_t b = vm["block-px"].as<std::size_t>(); b == 0 || b % 1024 || b > (std::size_t{1} << 20))
    throw UsageError("--block-px must be a positive multiple of 1024 (the mosaic's chunks), not " + std::to_string(b));
  try {
    parse_blend_mode(vm["blend"].as<std::string>());
  } catch (const InputError& e) {
    throw UsageError(e.what());
  }
}

nlohmann::json fov_settings(const po::variables_map& vm) {
  std::string model_id = vm["model"].as<std::string>();
  try {
    model_id = file_checksum(resolve_model(model_id));
  } catch (const std::exception&) {
    // No such model here: the FoV stage will say so; the name stands in for it.
  }
  nlohmann::json j = {{"pixel-nm", vm["pixel-nm"].as<double>()},
                      {"frames", vm["frames"].as<std::string>()},
                      {"no-widefield", vm["no-widefield"].as<bool>()},
                      {"failed-tile", vm["failed-tile"].as<std::string>()},
                      {"model", model_id}};
  // Only where it chooses frames: folders of fixed windows (and those recorded before it) agree.
  if (frames_window_is_random(vm["frames"].as<std::string>())) j["frames-seed"] = vm["frames-seed"].as<std::uint64_t>();
  for (const char* k : kOptionalTableSettings)
    if (vm.count(k)) j[k] = canonical_table_setting(k, vm[k].as<std::string>());
  j["camera-pixel-nm"] = vm["camera-pixel-nm"].as<double>();
  j["skip-bad-rows"] = vm["skip-bad-rows"].as<bool>();
  j["widefield-search-um"] = vm["widefield-search-um"].as<double>();  // 0: not given (its default), as below
  return j;
}

SettingsChange recorded_settings_change(const nlohmann::json& before, const po::variables_map& vm, bool stitch_only) {
  if (!before.is_object()) return {};
  nlohmann::json now = stitch_only ? nlohmann::json{{"pixel-nm", vm["pixel-nm"].as<double>()}} : fov_settings(vm);
  // A model that is not there is said as such (run refuses it first), not as another model.
  if (now.contains("model")) try {
      resolve_model(vm["model"].as<std::string>());
    } catch (const std::exception&) {
      now.erase("model");
    }
  // Settings recorded before XXH3 name the model by its FNV-1a checksum: compared like with like.
  if (now.contains("model") && before.contains("model") && before["model"].is_string() &&
      before["model"].get<std::string>().rfind("fnv1a64:", 0) == 0) {
    try {
      now["model"] = file_checksum_as(resolve_model(vm["model"].as<std::string>()), before["model"].get<std::string>());
    } catch (const std::exception&) {
    }
  }
  std::string diff;
  const auto is_table_setting = [](const std::string& k) {
    return std::find(std::begin(kOptionalTableSettings), std::end(kOptionalTableSettings), k) != std::end(kOptionalTableSettings);
  };
  // --camera-pixel-nm 0 is "not given" (campaign.ini's then), not a pixel of 0 nm; likewise
  // --widefield-search-um 0 (5 camera pixels). Folders written before such an option agree with 0.
  const auto not_given = [](const std::string& k, const nlohmann::json& v) {
    return (k == "camera-pixel-nm" || k == "widefield-search-um") && v.is_number() && v.get<double>() == 0;
  };
  const auto shown = [&](const std::string& k, const nlohmann::json& v) {
    return not_given(k, v) ? std::string("(not given)") : json_text(v);
  };
  // The camera pixel in effect (campaign.ini's or the option's) is compared with campaign_settings:
  // moved from the command line into campaign.ini, it is the same pixel.
  const bool pixel_in_campaign_settings = before.contains("campaign_settings") && before["campaign_settings"].is_object() &&
                                          before["campaign_settings"].contains("camera-pixel-nm");
  for (const auto& [k, v] : now.items())
    if (!is_table_setting(k) && !(k == "camera-pixel-nm" && pixel_in_campaign_settings) &&
        !(!before.contains(k) && not_given(k, v)) && (!before.contains(k) || before[k] != v))
      diff += (diff.empty() ? "" : ", ") + k + " " + (before.contains(k) ? shown(k, before[k]) : "(not recorded)") + " -> " + shown(k, v);
  // The table options in their canonical spellings.
  if (!stitch_only)
    if (const std::string t = table_settings_change(before, vm); !t.empty()) diff += (diff.empty() ? "" : ", ") + t;
  SettingsChange change{diff, ""};
  // The models by their files too (the checksums alone name none).
  if (before.contains("model-file") && before["model-file"].is_string() && now.contains("model") &&
      (!before.contains("model") || before["model"] != now["model"]))
    change.model_files = "those results were made with " + before["model-file"].get<std::string>() +
                         ", this run's model is " + vm["model"].as<std::string>();
  return change;
}

bool frame_windows_recorded(const nlohmann::json& recorded) {
  return !(recorded.is_object() && recorded.contains("frames") && recorded["frames"] == "all");
}

std::string inference_mix(const std::map<int, ManifestRecord>& records, const std::vector<FovEntry>& fovs) {
  std::set<int> planned;
  for (const FovEntry& f : fovs) planned.insert(f.id);
  std::map<std::string, std::vector<int>> by_kind;  // inference -> FoV ids
  for (const auto& [id, r] : records)
    if (planned.count(id) && r.status == "done" && r.extra.contains("inference") && r.extra["inference"].is_string())
      by_kind[r.extra["inference"].get<std::string>()].push_back(id);
  if (by_kind.size() < 2) return "";
  std::vector<std::string> kinds;
  for (const auto& [kind, ids] : by_kind)
    kinds.push_back(fmt::format("{} FoV(s) {} (e.g. FoV {})", ids.size(), kind, ids.front()));
  return fmt::format("the FoV results were made in {} ways: {}; their reconstructions differ beyond rounding (a campaign "
                     "resumed on another kind of node, or with another --precision or --anet-memory-mb). For one kind, "
                     "delete the others' fov/NNNN.h5 and manifest.jsonl lines (or use another --output) and rerun with "
                     "one setting",
                     by_kind.size(), fmt::join(kinds, "; "));
}

std::string frame_base_disagreement(const std::map<int, ManifestRecord>& records, const std::vector<FovEntry>& fovs,
                                    const std::string& frames) {
  if (frames == "all") return "";
  std::map<int, const FovEntry*> plan;
  for (const FovEntry& f : fovs) plan[f.id] = &f;
  std::vector<std::string> examples[2];
  std::size_t count[2] = {0, 0};
  for (const auto& [id, r] : records) {
    const auto it = plan.find(id);
    if (it == plan.end() || r.status != "done" || !r.extra.contains("frame_base_guessed") ||
        !r.extra["frame_base_guessed"].is_number_integer())
      continue;
    const int base = r.extra["frame_base_guessed"].get<int>();
    if (base != 0 && base != 1) continue;
    if (examples[base].size() < 3) examples[base].push_back(it->second->table_path);
    ++count[base];
  }
  if (!count[0] || !count[1]) return "";
  return fmt::format("the tables do not agree on the first frame's number: {} with a frame 0 (e.g. {}) count --frames {} "
                     "from 0, {} without (e.g. {}) from 1: their windows are one frame apart. Set frame-base = 0 (or 1) "
                     "in campaign.ini, as the localization software counts, and run into a new output folder",
                     count[0], fmt::join(examples[0], ", "), frames, count[1], fmt::join(examples[1], ", "));
}

std::string fov_settings_unreadable() {
  return "cannot be read (cut short, or edited?), so the settings this folder's FoV results were made with are "
         "unknown: delete it to reuse the results unchecked (the next whole run then warns that their settings were not "
         "recorded, and records its own), or delete fov/ and manifest.jsonl (or use another --output) to redo them";
}

CampaignInfo with_camera_pixel_option(CampaignInfo c, const po::variables_map& vm) {
  const double given = vm.count("camera-pixel-nm") ? vm["camera-pixel-nm"].as<double>() : 0.0;
  if (!(given > 0)) return c;  // 0: not given
  if (c.camera_pixel_nm_given && std::abs(given - c.camera_pixel_nm) > 1e-9)
    throw UsageError(fmt::format("--camera-pixel-nm {:g} and {}/campaign.ini's camera-pixel-nm {:g} disagree: give it in one "
                                 "place (campaign.ini describes the campaign's camera)",
                                 given, c.dir, c.camera_pixel_nm));
  if (!c.camera_pixel_nm_given) c.camera_pixel_from = "--camera-pixel-nm";
  c.camera_pixel_nm = given;
  c.camera_pixel_nm_given = true;
  return c;
}

std::string camera_pixel_option_history_refusal(const nlohmann::json& recorded, const CampaignInfo& c) {
  if (c.camera_pixel_from != "--camera-pixel-nm" || !c.has_widefields() || !recorded.is_object()) return "";
  const auto number = [](const nlohmann::json& j, const char* k) {
    return j.is_object() && j.contains(k) && j[k].is_number() ? j[k].get<double>() : -1.0;
  };
  if (recorded.contains("no-widefield") && recorded["no-widefield"] == true) return "";
  // The same option then (else the settings comparison names the change), and the widefields
  // recorded at another pixel (campaign_settings, since 2026-12-05) or not recorded at all.
  if (std::abs(number(recorded, "camera-pixel-nm") - c.camera_pixel_nm) > 1e-9) return "";
  const double widefield_nm = number(recorded.value("campaign_settings", nlohmann::json()), "camera-pixel-nm");
  if (recorded.contains("campaign_settings") && std::abs(widefield_nm - c.camera_pixel_nm) <= 1e-9) return "";
  return fmt::format("holds FoV results made by an earlier version with --camera-pixel-nm {:g}, which used it for tables "
                     "in px only and scaled the widefields at the default {:g} nm: delete its fov/ and manifest.jsonl to "
                     "redo them (or use another --output)",
                     c.camera_pixel_nm, CampaignInfo{}.camera_pixel_nm);
}

std::string table_settings_change(const nlohmann::json& recorded, const po::variables_map& vm) {
  std::string diff;
  if (!recorded.is_object()) return diff;
  for (const char* k : kOptionalTableSettings) {
    const bool had = recorded.contains(k) && recorded[k].is_string(), has = vm.count(k) > 0;
    const std::string before = had ? canonical_table_setting(k, recorded[k].get<std::string>()) : "",
                      now = has ? canonical_table_setting(k, vm[k].as<std::string>()) : "";
    bool same = before == now;
    if (had && has && std::string(k) == "columns") try {  // one mapping, however written
        same = parse_column_mapping(before) == parse_column_mapping(now);
      } catch (const std::exception&) {
      }
    // A delimiter detected then and named now (or the reverse) reads the same tables alike, or
    // fails them loudly.
    if (had && has && std::string(k) == "delimiter" && (before == "auto" || now == "auto")) same = true;
    // A value now that was not recorded (a record older than the option) counts only for
    // --columns, which changes how every table is read.
    if ((had && !has) || (has && had && !same) || (has && !had && std::string(k) == "columns"))
      diff += fmt::format("{}{} {} -> {}", diff.empty() ? "" : ", ", k, had ? nlohmann::json(before).dump() : "(unset)",
                          has ? nlohmann::json(now).dump() : "(unset)");
  }
  return diff;
}

MosaicVerdict stitch_stage_verdict(const CampaignInfo& campaign, const std::vector<FovEntry>& fovs,
                                   const po::variables_map& vm, const std::string& out) {
  MosaicVerdict v;
  std::error_code ec;
  if (!std::filesystem::exists(out + "/manifest.jsonl", ec)) {
    v.why = "no FoV results yet";
    return v;
  }
  const auto records = Manifest(out + "/manifest.jsonl").load();
  const std::string digest = stitch_inputs_digest(campaign, fovs, records, vm);
  const bool ome = vm["ome-tiff"].as<bool>();
  v.why = stitch_out_of_date_reason(out, digest, ome, stitch_settings(campaign, vm));
  v.current = v.why.empty();
  // As run_stitch_stage decides: the mosaic current without its export (a stop during it).
  if (!v.current && ome && stitch_up_to_date(out, digest, false)) {
    v.export_only = true;
    v.why = "only its OME-TIFF export is missing or changed since: the next run makes mosaic.ome.tif from it";
  }
  return v;
}

StitchStageResult run_stitch_stage(MPI_Comm comm, const CampaignInfo& campaign, const std::vector<FovEntry>& fovs,
                                   const po::variables_map& vm, const std::string& out, bool verify_results) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const auto t_stage = Clock::now();
  const double pixel_nm = vm["pixel-nm"].as<double>();
  StitchStageResult result;
  const auto records = Manifest(out + "/manifest.jsonl").load();
  for (const FovEntry& f : fovs) {
    auto it = records.find(f.id);
    if (it != records.end() && it->second.status != "done") {
      ++result.failed_fovs;
      if (it->second.not_acquired()) ++result.not_acquired_fovs;
    }
  }
  // Every rank reads the same manifest; rank 0 says whether it is complete.
  std::string error;
  int error_kind = 2;  // the kind of the stage's failure below: 2 (its input), 3 (a write: a full disk)
  if (rank == 0) {
    std::size_t missing = 0;
    for (const FovEntry& f : fovs) missing += records.count(f.id) == 0;
    if (missing)
      error = out + "/manifest.jsonl: " + std::to_string(missing) + " FoV(s) have no result yet: run --stage fovs first";
    // Results deleted or cut short since (a whole run has just redone them; --stage stitch has
    // not): neither a mosaic nor a QC report is made without them.
    std::vector<std::string> lost;
    for (const FovEntry& f : fovs)
      if (const auto it = records.find(f.id); error.empty() && it != records.end() && it->second.status == "done")
        if (std::string p = recorded_result_problem(out, it->second); !p.empty()) lost.push_back(fmt::format("FoV {}: {}", f.id, p));
    if (!lost.empty())
      error = fmt::format("{}: {} FoV result(s) are gone or damaged since they were recorded ({}{}): run without --stage "
                          "(or with --stage fovs) to redo them; nothing was stitched",
                          out, lost.size(), fmt::join(lost.begin(), lost.begin() + std::min<std::size_t>(3, lost.size()), "; "),
                          lost.size() > 3 ? "; ..." : "");
  }
  error = first_error(error, comm);
  if (!error.empty()) throw_of_kind(2, error, "stitch stage");
  // Nothing changed since the last complete stitch stage (a rerun to make sure, a requeued job that
  // had finished it): keep its mosaic rather than register and fuse again.
  std::string digest;  // rank 0's (it alone writes stitch_summary.json)
  std::string why_remade;
  int up_to_date = 0;
  if (rank == 0) {
    try {
      digest = stitch_inputs_digest(campaign, fovs, records, vm);
      why_remade = stitch_out_of_date_reason(out, digest, vm["ome-tiff"].as<bool>(), stitch_settings(campaign, vm));
      up_to_date = why_remade.empty() ? 1 : 0;
    } catch (const std::exception& e) {
      why_remade = std::string("its record cannot be read: ") + e.what();  // redone (which rewrites it)
    }
  }
  MPI_Bcast(&up_to_date, 1, MPI_INT, 0, comm);
  // The mosaic is current and only its OME-TIFF is asked for anew (--ome-tiff added to a finished
  // run, or the export deleted): export it from mosaic.ims, as `annamosaic export` would, instead
  // of registering and fusing again.
  int ome_only = 0;
  if (rank == 0 && !up_to_date && vm["ome-tiff"].as<bool>()) {
    try {
      ome_only = stitch_up_to_date(out, digest, false) ? 1 : 0;
    } catch (const std::exception&) {
    }
  }
  MPI_Bcast(&ome_only, 1, MPI_INT, 0, comm);
  if (ome_only) {
    on_rank0(comm, [&] {
      spdlog::info("stitch stage: the mosaic is up to date; only its OME-TIFF export is missing or changed since: "
                   "writing {}/mosaic.ome.tif from mosaic.ims", out);
      const double ome_s = export_mosaic_ome_tiff(out);
      std::ifstream in(out + "/stitch_summary.json");
      nlohmann::json summary = nlohmann::json::parse(in);
      summary["ome_tiff_s"] = ome_s;
      summary["outputs"] = output_stamps(out, stitch_outputs(true));
      write_file_atomic(out + "/stitch_summary.json", json_text(summary, 1) + "\n");
    });
    result.mosaic_kept = true;
    return result;
  }
  if (up_to_date) {
    result.mosaic_kept = true;
    if (rank == 0)
      spdlog::info("stitch stage: the mosaic is up to date (the same FoV results and stitch settings as when it was "
                   "made, its files untouched since; see stitch_summary.json): nothing to redo (delete {}/stitch_summary.json "
                   "to redo it)",
                   out);
    return result;
  }
  // Without the FoV stage before it (--stage stitch), nothing has checked the result files since
  // they were recorded: one copied over another or damaged would be fused (and the mosaic then
  // taken as up to date). Each rank checks a share against the manifest's checksums; only when
  // the mosaic is to be made (an up-to-date one was fused from the files as they were).
  if (verify_results) {
    std::vector<std::pair<int, std::string>> mine;  // FoV id, result file
    std::size_t k = 0;
    for (const FovEntry& f : fovs)
      if (const auto it = records.find(f.id); it != records.end() && it->second.status == "done" && k++ % size == static_cast<std::size_t>(rank))
        mine.emplace_back(f.id, it->second.file);
    std::vector<std::string> bad(mine.size());
    tbb::parallel_for(std::size_t{0}, mine.size(), [&](std::size_t i) {
      const auto& [id, file] = mine[i];
      const std::string path = out + "/" + file;
      try {
        if (file_checksum_as(path, records.at(id).checksum) != records.at(id).checksum)
          bad[i] = path + " does not match the checksum recorded when FoV " + std::to_string(id) +
                   " was made (copied over, or damaged since)";
      } catch (const std::exception& e) {
        bad[i] = path + ": " + e.what();
      }
    });
    std::string mine_error;
    std::size_t n_bad = 0;
    for (const std::string& b : bad) {
      if (b.empty()) continue;
      if (mine_error.empty()) mine_error = b;
      ++n_bad;
    }
    if (n_bad > 1) mine_error += " (and " + std::to_string(n_bad - 1) + " more on this rank)";
    error = first_error(mine_error, comm);
    if (!error.empty())
      throw_of_kind(2, error + ": run without --stage stitch (the FoV stage redoes such FoVs), which stitches after", "stitch stage");
  }
  // A rerun that spends minutes on a mosaic that was there says why (not for the first one); a
  // mosaic.ims without its record too (probe89: a kill after fusion, before the record, remade it
  // without a word).
  if (std::error_code ec; rank == 0 && std::filesystem::exists(out + "/stitch_summary.json", ec))
    spdlog::info("stitch stage: making the mosaic again: {}", why_remade);
  else if (rank == 0 && std::filesystem::exists(out + "/mosaic.ims", ec))
    spdlog::info("stitch stage: making the mosaic again: {}/mosaic.ims is there, but no stitch_summary.json records it "
                 "(a run stopped or killed before it was recorded, or another program's file)",
                 out);
  stop_point("registering the tiles", comm);
  if (rank == 0) note_step(out, "registering the overlaps of neighbouring tiles");
  // The error-map and widefield channels only where some FoV read a widefield: without one they
  // would be zeros, which viewers list and users take for a failure (and registration would try
  // a featureless widefield signal).
  const bool any_widefield = std::any_of(records.begin(), records.end(), [](const auto& r) {
    const nlohmann::json& x = r.second.extra;
    return x.contains("inputs") && x["inputs"].is_object() && x["inputs"].contains("widefield");
  });

  // Registration: the neighbour pairs spread over the ranks by blocks of grid rows (WorkShare),
  // every rank then holds all results and solves the same layout; rank 0 writes layout.json.
  WorkShare share;
  share.rank = rank;
  share.ranks = size;
  share.sum_all = [comm](std::vector<double>& v) {
    MPI_Allreduce(MPI_IN_PLACE, v.data(), static_cast<int>(v.size()), MPI_DOUBLE, MPI_SUM, comm);
  };
  std::string layout_text;
  double register_s = 0, solve_s = 0;
  try {
    // Register on the reconstruction; where a strip is featureless there, try the registered
    // widefield (coarser but present in every covered FoV).
    FovResultTiles tiles(out, campaign, fovs, records, pixel_nm, {"reconstruction", "widefield"});
    StitchOptions so;
    so.registration.search_um = vm["search-um"].as<double>();
    so.registration.min_ncc_margin = vm["min-ncc-margin"].as<double>();
    // Searched a whole FoV step, a pair can match the next tile over (a copied table, a periodic
    // specimen) and stack tiles: at most half a step.
    bool search_at_limit = false;
    // The step between the positions in use (measured ones may differ from campaign.ini's).
    const double positions_step_um = shorter_grid_step_um(tile_infos(tiles));
    if (const double step_um = positions_step_um > 0 ? positions_step_um : campaign.fov_um - campaign.overlap_um;
        step_um > 0 && so.registration.search_um >= step_um / 2) {
      search_at_limit = true;
      // Said, not warned: a protection, and the configured value (demo.ini's 2.5 um) is most
      // often no one's choice for small FoVs.
      if (const std::string slip = search_um_slip(so.registration.search_um, step_um, "FoVs"); rank == 0 && !slip.empty())
        spdlog::warn("{} Searching +-{:.4g} um", slip, step_um / 2);
      else if (rank == 0 && so.registration.search_um > step_um / 2)
        spdlog::info("--search-um {} is more than half the step between FoVs ({:.4g} um: {}), where a pair could match "
                     "a tile a whole FoV over: searching +-{:.4g} um",
                     so.registration.search_um, step_um,
                     positions_step_um > 0 ? "the positions' shorter median step" : "fov-um - overlap-um", step_um / 2);
      so.registration.search_um = step_um / 2;
    }
    so.registration.stop_requested = stop_requested;  // every rank learns of it at the exchange
    RegistrationSignal recon;
    recon.channel = 0;
    const double thinner_overlap_px = thinner_axis_overlap_um(tiles) * 1000.0 / tiles.pixel_nm();
    recon.scale = default_registration_scale(thinner_overlap_px);
    if (rank == 0 && recon.scale == 1)
      spdlog::info("layout: registering at full resolution: {}", full_resolution_reason(thinner_overlap_px));
    recon.min_strip_level_fraction = 0.01;  // the A-net's faint texture over an empty overlap is no match
    RegistrationSignal wf;
    wf.channel = 1;
    wf.scale = 4;
    so.registration.signals = {recon};
    // A failed FoV's tile (widefield-only, or empty) is placed by the stage, next to its
    // neighbours: registered, its other structure matched them falsely and moved them.
    so.registration.skip_tiles.assign(fovs.size(), 0);
    for (std::size_t i = 0; i < fovs.size(); ++i) {
      const auto it = records.find(fovs[i].id);
      so.registration.skip_tiles[i] = it == records.end() || it->second.status != "done";
    }
    if (vm["register-widefield"].as<bool>() && any_widefield) so.registration.signals.push_back(wf);
    // Progress lines on rank 0 (minutes for a paper-size campaign); its share of the pairs when
    // ranks share them, so no total then. No final line: "layout: N pairs ..." below is that.
    std::unique_ptr<Progress> progress;
    if (rank == 0) {
      progress = std::make_unique<Progress>(size > 1 ? "layout: pairs registered (rank 0's share)" : "layout: pairs registered",
                                            0, "pairs");
      if (size == 1) so.registration.signal_started = [&](std::size_t, std::size_t pairs) { progress->add_to_total(pairs); };
    }
    const StitchLayout layout = compute_layout(tiles, so, [&] {
      if (progress) progress->advance();
    }, &share);
    progress.reset();
    register_s = layout.register_seconds;
    solve_s = layout.solve_seconds;
    layout_text = layout_json(tiles, layout, so);
    if (rank == 0) {
      write_file_atomic(out + "/layout.json", layout_text + "\n");
      const auto& sol = layout.solution;
      std::size_t accepted = 0;
      for (char u : sol.link_used) accepted += u != 0;
      // Pairs with a failed FoV are not tried: said here, so that the warnings' counts of overlaps
      // tried add up (probe90: "4 pairs", then "0 of the 2 overlaps tried").
      const std::size_t untried = static_cast<std::size_t>(std::count_if(
          layout.registration.pairs.begin(), layout.registration.pairs.end(), [](const PairResult& p) { return p.skipped; }));
      spdlog::info("layout: {} pairs{} on {} rank(s), {} links used, {} dropped as outliers, {} component(s) ({} isolated "
                   "tiles), residual RMS {:.2f} px, max {:.2f} px (register {:.1f} s, solve {:.1f} s)",
                   layout.pairs.size(),
                   untried ? fmt::format(" ({} not tried: one of their FoVs failed or was not acquired)", untried)
                           : std::string(),
                   size, accepted, sol.dropped, sol.components, sol.isolated_tiles, sol.rms_residual_px,
                   sol.max_residual_px, layout.register_seconds, layout.solve_seconds);
      // The acceptance threshold each signal calibrated (as stitch says it): a high one (thin or
      // repetitive overlaps, where chance pairs match well) explains true links left out.
      for (const SignalCalibration& c : layout.registration.calibration)
        spdlog::info("layout: {}", calibration_text(c, tiles, so.registration.accept_quantile));
      // Overlaps this thin hold too little to tell a match from chance: the first cause to name.
      const std::string thin_cause =
          thinner_overlap_px < thin_overlap_full_resolution_px
              ? fmt::format("overlaps too thin to tell a match from chance ({}; random non-adjacent pairs match nearly as "
                            "well: see the NCC threshold above); ",
                            thinner_overlap_text(thinner_overlap_px))
              : std::string();
      // Most overlaps unmatched: the mosaic is largely the stage's guess. Said with the usual
      // causes here, where the numbers are, not only in the per-tile QC flags. Pairs with a
      // failed FoV were not tried: not counted. One direction failing whole while the other
      // registers is the sign of an axis flipped or swapped in positions.csv.
      // The positions file campaign.ini names (positions = stage.csv), as the user knows it.
      const std::string positions_name = campaign.in_campaign(campaign.positions);
      std::vector<char> pair_used(layout.registration.pairs.size(), 0);
      for (std::size_t k = 0; k < sol.link_used.size(); ++k)
        if (sol.link_used[k]) pair_used[layout.link_pair[k]] = 1;
      // A pair with a nearly empty FoV (under 5% of the median count, as the QC report flags it)
      // has nothing to match: its failure says nothing of the axes. Tile i is fovs[i].
      std::vector<double> counts(fovs.size(), -1), done_counts;
      for (std::size_t i = 0; i < fovs.size(); ++i)
        if (const auto it = records.find(fovs[i].id); it != records.end() && it->second.status == "done" &&
                                                       it->second.extra.contains("localizations") &&
                                                       it->second.extra["localizations"].is_number())
          done_counts.push_back(counts[i] = it->second.extra["localizations"].get<double>());
      const double sparse_below = done_counts.empty() ? 0 : 0.05 * median(done_counts);
      const auto sparse = [&](std::size_t tile) { return tile < counts.size() && counts[tile] >= 0 && counts[tile] < sparse_below; };
      std::size_t tried = 0, tried_dir[2] = {0, 0}, used_dir[2] = {0, 0};  // [0] along rows (x), [1] down cols (y)
      std::size_t failed_dense_dir[2] = {0, 0};  // failed pairs of two FoVs that are not nearly empty
      for (std::size_t i = 0; i < layout.registration.pairs.size(); ++i) {
        const PairResult& pr = layout.registration.pairs[i];
        if (pr.skipped) continue;
        ++tried;
        const int d = std::abs(pr.nominal_dy_px) > std::abs(pr.nominal_dx_px) ? 1 : 0;
        ++tried_dir[d];
        used_dir[d] += pair_used[i];
        failed_dense_dir[d] += !pair_used[i] && !sparse(pr.pair.a) && !sparse(pr.pair.b);
      }
      for (int d : {0, 1})
        if (tried_dir[d] >= 2 && used_dir[d] == 0 && failed_dense_dir[d] >= 2 && tried_dir[1 - d] >= 1 &&
            2 * used_dir[1 - d] >= tried_dir[1 - d])
          spdlog::warn("layout: none of the {} overlaps {} registered, while {} of the {} {} did: is {} flipped in "
                       "{} (the stage's axis the other way), are x_um and y_um swapped, or were the FoVs acquired in "
                       "another order than the ids say (snake vs raster: init-campaign --order)? After fixing it, rerun: "
                       "finished FoVs are kept",
                       tried_dir[d], d ? "down the columns (y)" : "along the rows (x)", used_dir[1 - d], tried_dir[1 - d],
                       d ? "along the rows" : "down the columns", d ? "y_um" : "x_um", positions_name);
      // Pairs left out that matched well but had another offset nearly as good: the margin rule,
      // not the overlaps' structure, kept them out (probe99: real single-filament FoVs matched at
      // NCC 0.99, and the warning named only thin overlaps and the axes).
      // Counted over the pairs `counted` keeps (all, or those of FoVs left apart).
      const auto ambiguous_text = [&](const std::function<bool(const PairResult&)>& counted) {
        const AmbiguousPairs a = ambiguous_pairs(layout.registration, so.registration.min_ncc_margin, counted);
        return a.count == 0
                   ? std::string()
                   : fmt::format("{} overlap(s) left out matched (NCC up to {:.2f}) but another offset of the same one nearly "
                                 "as well ({:.2f}; --min-ncc-margin {:g}): repetitive or single-filament overlaps, where a "
                                 "smaller --min-ncc-margin accepts such matches at the risk of a wrong one (layout.json: "
                                 "their second_dx_px, second_dy_px); ",
                                 a.count, a.best_ncc, a.its_second, so.registration.min_ncc_margin);
      };
      const std::string ambiguous_cause = ambiguous_text([](const PairResult&) { return true; });
      if (tried >= 2 && 2 * accepted < tried)
        spdlog::warn("layout: only {} of the {} overlaps tried registered ({} tile(s) placed by their stage position "
                     "alone). Usual causes: {}{}little structure in the overlaps (overlap-um, sparse FoVs), or positions "
                     "that do not match the images (x_um / y_um swapped or an axis flipped in {}, or FoVs acquired in "
                     "another order than its: snake vs raster, init-campaign --order; after fixing it, rerun: finished "
                     "FoVs are kept)",
                     accepted, tried, sol.isolated_tiles, ambiguous_cause, thin_cause, positions_name);
      // FoVs (done ones: failed FoVs take no part) that no registered overlap joins to the main
      // group, as stitch says them: placed by the stage, or as a group of their own.
      if (sol.component.size() == fovs.size() && sol.components > 1) {
        std::vector<std::size_t> members(static_cast<std::size_t>(sol.components), 0);
        for (int c : sol.component) ++members[static_cast<std::size_t>(c)];
        const int main_group = static_cast<int>(std::max_element(members.begin(), members.end()) - members.begin());
        std::vector<int> apart;
        // Failed FoVs beside them take no part in registration: a hole that can cut them off (a
        // probe's 4 FoVs were joined through one FoV alone, then deleted; the warning blamed
        // their overlaps' structure).
        std::map<std::pair<int, int>, std::size_t> at;
        for (std::size_t i = 0; i < fovs.size(); ++i) at[{fovs[i].row, fovs[i].col}] = i;
        std::set<int> failed_beside;
        // No group of two or more: none is joined to another, the largest "group" included (it
        // was left out, and QC flagged one FoV more than this said, probe95).
        const bool no_main_group = members[static_cast<std::size_t>(main_group)] < 2;
        for (std::size_t i = 0; i < fovs.size(); ++i) {
          if ((sol.component[i] == main_group && !no_main_group) || so.registration.skip_tiles[i]) continue;
          apart.push_back(fovs[i].id);
          for (const auto& [dr, dc] : {std::pair{0, 1}, std::pair{0, -1}, std::pair{1, 0}, std::pair{-1, 0}})
            if (const auto it = at.find({fovs[i].row + dr, fovs[i].col + dc}); it != at.end() && so.registration.skip_tiles[it->second])
              failed_beside.insert(fovs[it->second].id);
        }
        const std::string hole =
            failed_beside.empty()
                ? std::string()
                : fmt::format("FoV(s) beside them that failed or are not acquired yet (ids {}), which take no part in "
                              "registration, cutting their links to the others; else ",
                              fmt::join(failed_beside, ", "));
        if (!apart.empty() && apart_by_positions(layout.registration.pairs, sol.component))
          spdlog::warn("layout: {}", apart_by_positions_warning(apart, "FoV(s)"));
        else if (!apart.empty())
          spdlog::warn("layout: {} FoV(s) are not joined {} by any registered overlap (ids {}): placed "
                       "by their stage positions, alone or as a group, off by the stage's error (qc/qc.json flags each: "
                       "stage-placed alone, detached-group in a group). Usual cause: {}{}{}too little structure in their "
                       "overlaps (FoVs between cells)",
                       apart.size(), no_main_group ? "to one another" : "to the main group", first_items(apart, 10), hole,
                       ambiguous_text([&](const PairResult& pr) {
                         return no_main_group || sol.component[pr.pair.a] != main_group || sol.component[pr.pair.b] != main_group;
                       }),
                       thin_cause);
      }
      if (const std::string w = implausible_links_warning(layout, tiles); !w.empty()) spdlog::warn("layout: {}", w);
      if (const std::string w = search_range_warning(layout, so.registration.search_um, pixel_nm, search_at_limit, &tiles); !w.empty())
        spdlog::warn("layout: {}", w);
      // The positions' steps against the images' (a wrong overlap-um or fov-um misleads every pair).
      const auto t_steps = Clock::now();
      const StepCheck steps = check_steps(tiles, layout.registration.pairs, recon.channel);
      spdlog::debug("layout: {} ({:.1f} s)", step_check_text(steps), seconds_since(t_steps));
      if (const std::string w = step_check_warning(steps, so.registration.search_um, pixel_nm); !w.empty())
        spdlog::warn("layout: {}", w);
      for (const SignalCalibration& c : layout.registration.calibration)
        if (const std::string w = calibration_warning(c, so.registration.min_ncc); !w.empty()) spdlog::warn("layout: {}", w);
      if (sol.max_residual_px > LayoutOptions{}.max_residual_px)
        spdlog::warn("layout: some registered links disagree with the solved positions by up to {:.1f} px: those tiles "
                     "may be misplaced by about that much (flagged in qc/qc.json; each link in layout.json)",
                     sol.max_residual_px);
    }
  } catch (const Stopped&) {
    throw;  // on every rank: registration's exchange told them all
  } catch (const std::exception& e) {
    error = e.what();
    error_kind = failure_kind(e) == 3 ? 3 : 2;
  }
  error = first_error(error, comm);
  // layout.json not written (a full disk) is the environment's failure, exit 3 (probe76: 2, as for bad input).
  MPI_Allreduce(MPI_IN_PLACE, &error_kind, 1, MPI_INT, MPI_MAX, comm);
  if (!error.empty()) throw_of_kind(error_kind, error, "stitch stage");
  stop_point("fusing the mosaic (layout.json is written)", comm);
  if (rank == 0) note_step(out, "fusing the mosaic and its pyramid (mosaic.ims)");

  // Fusion: each rank fuses its bands of blocks (FuseOptions rank/ranks) into the one writer.
  const auto t_fuse = Clock::now();
  // An error map only where some FoV has one (a model trained without widefields makes none).
  const bool any_error_map = any_widefield && std::any_of(records.begin(), records.end(), [](const auto& r) {
    return r.second.status == "done" && r.second.extra.contains("error_score") && r.second.extra["error_score"].is_number();
  });
  std::vector<std::string> channel_names = {"reconstruction"};
  if (any_error_map) channel_names.push_back("error map");
  if (any_widefield) channel_names.push_back("widefield");
  FovResultTiles tiles(out, campaign, fovs, records, pixel_nm, channel_names);
  std::vector<double> xs, ys;
  if (rank == 0) {
    try {
      std::tie(xs, ys) = read_layout_positions(out + "/layout.json", tiles);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  error = first_error(error, comm);
  if (!error.empty()) throw_of_kind(2, error, "stitch stage");
  unsigned long long n = xs.size();
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, comm);
  xs.resize(n);
  ys.resize(n);
  MPI_Bcast(xs.data(), static_cast<int>(n), MPI_DOUBLE, 0, comm);
  MPI_Bcast(ys.data(), static_cast<int>(n), MPI_DOUBLE, 0, comm);
  const MosaicPlan plan = plan_mosaic(tiles, xs, ys);
  const nlohmann::json j = nlohmann::json::parse(layout_text);
  MosaicInfo info;
  info.name = campaign.name;
  info.width_px = plan.width_px;
  info.height_px = plan.height_px;
  info.pixel_nm = pixel_nm;
  info.origin_x_um = plan.origin_x_px * pixel_nm / 1000.0;
  info.origin_y_um = plan.origin_y_px * pixel_nm / 1000.0;
  info.block_px = vm["block-px"].as<std::size_t>();
  info.channels = {{"reconstruction", "1 1 1", 65535.0, "reconstruction: A-net output A in [0, 1], scaled per FoV (intensities are not comparable between FoVs); value = stored / 65535"}};
  if (any_error_map)
    info.channels.push_back({"error map", "1 0 1", 16384.0, "error map: A-net error map E (>= 0), each value over 4 x 4 pixels; value = stored / 16384; 0 also where a FoV "
                             "has no error map (its widefield not given to the A-net: error_score null in qc/qc.json), so 0 is "
                             "not always agreement"});
  if (any_widefield)
    info.channels.push_back({"widefield", "0 1 0", 1.0, "widefield: registered, camera counts (ADU) resampled to the SR grid"});
  if (rank == 0 && !any_widefield)
    spdlog::info("mosaic: reconstruction channel only (no FoV had a widefield, so there is no error map nor widefield to stitch)");
  else if (rank == 0 && !any_error_map)
    spdlog::info("mosaic: no error-map channel (no FoV has an error map: the model never trained with a widefield, or "
                 "every widefield was ignored)");
  ImsWriterOptions wo;
  wo.comm = comm;
  wo.deflate_level = vm["mosaic-deflate"].as<int>();
  wo.qc = {{"fovs", std::to_string(fovs.size())},
           {"failed fovs", std::to_string(result.failed_fovs - result.not_acquired_fovs)},
           {"fovs not acquired yet", std::to_string(result.not_acquired_fovs)}};
  if (j.contains("summary"))
    for (const auto& [k, v] : j["summary"].items())
      if (v.is_number()) wo.qc.emplace_back("layout " + k, json_text(v));
  const std::string path = out + "/mosaic.ims";
  if (size > 1) wo.block_row_owner = fusion_block_row_owner(plan, info, static_cast<std::size_t>(size));
  // An OME-TIFF export of the mosaic being replaced would stay beside the new one, looking current
  // (also when --ome-tiff writes it anew: a stop before that export would leave the old one).
  // Removed as the new mosaic.ims replaces the old: a remake stopped earlier keeps the old mosaic
  // and its export together (probe77), and none is left beside the new one (probe81).
  const bool ome_anew = vm["ome-tiff"].as<bool>();
  wo.before_replacing = [out, ome_anew] {
    std::error_code ec;
    if (std::filesystem::remove(out + "/mosaic.ome.tif", ec)) {
      // And the settings file an `export` there wrote beside it (it would describe nothing).
      const bool with_config = std::filesystem::remove(out + "/mosaic.ome.config.ini", ec);
      spdlog::info("removed {}/mosaic.ome.tif{}: it showed the previous mosaic, which this stage replaces{}", out,
                   with_config ? " and its mosaic.ome.config.ini" : "", ome_anew ? " (--ome-tiff writes it anew)" : "");
    }
  };
  ImsWriter writer(path, info, wo);
  writer.open();
  FuseOptions fo;
  fo.mode = parse_blend_mode(vm["blend"].as<std::string>());
  fo.feather_px = campaign.overlap_um * 1000.0 / pixel_nm;
  fo.cache_mb = vm["cache-mb"].as<std::size_t>();
  fo.rank = static_cast<std::size_t>(rank);
  fo.ranks = static_cast<std::size_t>(size);
  fo.stop_requested = stop_requested;  // mpirun and srun signal every rank
  std::unique_ptr<Progress> progress;
  if (rank == 0)
    progress = std::make_unique<Progress>(size > 1 ? "mosaic blocks (rank 0's share)" : "mosaic blocks",
                                          fused_block_count(plan, info, fo), "blocks");
  // A rank that fails here still takes part in finish(), which then fails on every rank (its
  // blocks are missing) instead of leaving the others waiting; the rank's own error is reported.
  std::exception_ptr fuse_error;
  FuseStats fs;
  bool stopped_here = false;
  try {
    std::vector<std::size_t> all_channels(info.channels.size());
    std::iota(all_channels.begin(), all_channels.end(), std::size_t{0});
    fs = fuse_mosaic(tiles, plan, all_channels, info, writer, fo, [&] {
      if (progress) progress->advance();
    });
  } catch (const Stopped&) {
    fuse_error = std::current_exception();
    stopped_here = true;
  } catch (...) {
    fuse_error = std::current_exception();
  }
  const double fused_s = seconds_since(t_fuse);
  // A signal that reached only some ranks (a kill -USR1 of one process) stops them all: the
  // others fail on the missing blocks in finish(), and that is the stop too.
  stopped_here = stopped_here || stop_requested();
  const bool stopped_any = any_rank(stopped_here, comm);
  try {
    writer.finish();
  } catch (...) {
    if (!fuse_error && stopped_any)
      throw Stopped(stopped_here ? "stitch stage stopped during fusion"
                                 : "stitch stage stopped during fusion (a stop signal reached another rank)");
    if (!fuse_error) throw;
  }
  if (fuse_error) std::rethrow_exception(fuse_error);
  if (progress) progress->finish();
  const double fuse_s = seconds_since(t_fuse);
  // Per rank: peak memory and where the fusion's time went.
  constexpr int kPerRank = 7;
  double mine[kPerRank] = {peak_rss_mb(), fused_s, static_cast<double>(fs.blocks), static_cast<double>(fs.tile_loads),
                           fs.load_thread_s, fs.fuse_thread_s, fs.sink_thread_s};
  std::vector<double> all(static_cast<std::size_t>(kPerRank * size));
  MPI_Gather(mine, kPerRank, MPI_DOUBLE, all.data(), kPerRank, MPI_DOUBLE, 0, comm);
  std::vector<double> rss_all;
  nlohmann::json fuse_ranks = nlohmann::json::array();
  for (int r = 0; r < size && rank == 0; ++r) {
    const double* a = all.data() + kPerRank * r;
    rss_all.push_back(a[0]);
    fuse_ranks.push_back({{"rank", r}, {"peak_rss_mb", a[0]}, {"fused_by_s", a[1]}, {"blocks", std::llround(a[2])},
                          {"tile_loads", std::llround(a[3])},
                          {"load_thread_s", a[4]}, {"fuse_thread_s", a[5]}, {"write_block_thread_s", a[6]}});
    spdlog::info("fusion rank {}: {:.0f} blocks, {:.0f} tile loads, done at {:.1f} s; thread-s: load {:.1f}, fuse {:.1f}, "
                 "compress/hand over {:.1f}; peak RSS {:.0f} MB", r, a[2], a[3], a[1], a[4], a[5], a[6], a[0]);
  }
  std::function<void()> export_and_record;  // rank 0's, after the stop point below
  on_rank0(comm, [&] {
    const ImsWriteStats& s = writer.stats();
    spdlog::info("wrote {} ({} x {} px, {} levels, {:.1f} MB, compression {:.1f}x) and its BigDataViewer XML in {:.1f} s on {} rank(s)",
                 path, info.width_px, info.height_px, s.levels, s.file_bytes / 1e6,
                 s.compressed_bytes ? static_cast<double>(s.pixel_bytes) / s.compressed_bytes : 0.0, fuse_s, size);
    // Recorded before the OME-TIFF export and again after it: a stop before or during the export
    // then leaves a mosaic that the next run keeps, exporting it only.
    const nlohmann::json settings = stitch_settings(campaign, vm);
    const auto record = [=](double ome_s, bool with_ome) {
      write_file_atomic(out + "/stitch_summary.json",
                        json_text(nlohmann::json({{"ranks", size},
                                        {"register_s", register_s},
                                        {"solve_s", solve_s},
                                        {"fuse_and_pyramid_s", fuse_s},
                                        {"ome_tiff_s", ome_s},
                                        {"seconds", seconds_since(t_stage)},
                                        {"mosaic_width_px", info.width_px},
                                        {"mosaic_height_px", info.height_px},
                                        {"mosaic_bytes", s.file_bytes},
                                        {"peak_rss_mb_per_rank", rss_all},
                                        {"fusion_ranks", fuse_ranks},
                                        // For the next run: what this mosaic was made from, and
                                        // its files as written (stitch_up_to_date).
                                        {"inputs_digest", digest},
                                        {"settings", settings},  // to say which one changed
                                        {"program", program_checksum()},  // apart, so that status can say why
                                        {"outputs", output_stamps(out, stitch_outputs(with_ome))}}),
                                  1) + "\n");
    };
    record(0, false);
    if (vm["ome-tiff"].as<bool>()) export_and_record = [record, out] { record(export_mosaic_ome_tiff(out), true); };
  });
  if (vm["ome-tiff"].as<bool>()) {  // the same on every rank: these collectives match
    stop_point("exporting (mosaic.ims is complete and recorded: a rerun keeps it)", comm);
    on_rank0(comm, [&] { export_and_record(); });
  }
  return result;
}

bool qc_report_current(const std::string& out_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto qc = fs::last_write_time(out_dir + "/qc/qc.json", ec);
  if (ec) return false;
  for (const char* f : {"manifest.jsonl", "layout.json", "stitch_summary.json"}) {
    const auto t = fs::last_write_time(out_dir + "/" + f, ec);
    if (ec || t > qc) return false;
  }
  return true;
}

void run_qc_stage(MPI_Comm comm, const CampaignInfo& campaign, const std::vector<FovEntry>& fovs, const std::string& out,
                  double pixel_nm) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  stop_point("the QC report (the mosaic is complete)", comm);
  if (rank == 0) note_step(out, "writing the QC report");
  const auto t0 = Clock::now();
  // The layout as rank 0 reads it: every rank then places the FoVs on the same canvas.
  std::string layout_text;
  if (rank == 0)
    if (std::ifstream in(out + "/layout.json"); in) layout_text.assign(std::istreambuf_iterator<char>(in), {});
  broadcast_string(layout_text, 0, comm);
  std::map<int, ManifestRecord> records;
  nlohmann::json layout;
  const nlohmann::json* lp = nullptr;
  QcOverview overview;
  bool loaded = false;
  std::string why;
  try {
    records = Manifest(out + "/manifest.jsonl").load();
    if (!layout_text.empty()) layout = nlohmann::json::parse(layout_text), lp = &layout;
    loaded = true;
    overview = build_qc_overview(out, campaign, fovs, records, lp, pixel_nm, rank, size);
  } catch (const std::exception& e) {
    why = e.what();
  }
  // Each rank read its share of the FoV results; rank 0 combines the canvases. If a rank failed,
  // rank 0 reads them all itself.
  const std::string failed = first_error(why, comm);
  if (failed.empty()) {
    for (ImageF* img : {&overview.reconstruction, &overview.error_map})
      MPI_Reduce(rank == 0 ? MPI_IN_PLACE : img->data(), img->data(), static_cast<int>(img->size()), MPI_FLOAT, MPI_MAX, 0,
                 comm);
    int any[2] = {overview.any_reconstruction, overview.any_error};
    MPI_Reduce(rank == 0 ? MPI_IN_PLACE : any, any, 2, MPI_INT, MPI_LOR, 0, comm);
    overview.any_reconstruction = any[0] != 0;
    overview.any_error = any[1] != 0;
  }
  on_rank0(comm, [&] {
    if (!loaded) {
      spdlog::error("QC report not written: {}", why);
      return;
    }
    if (!failed.empty()) spdlog::warn("QC overview over the ranks failed ({}); rank 0 reads every FoV result", failed);
    const QcSummary q = write_qc_report(out, campaign, fovs, records, lp, pixel_nm, failed.empty() ? &overview : nullptr);
    // The flags by kind, commonest first: at a thousand FoVs the count alone says nothing.
    std::vector<std::pair<std::size_t, std::string>> by_count;
    for (const auto& [kind, n] : q.flag_counts) by_count.emplace_back(n, kind);
    std::stable_sort(by_count.begin(), by_count.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<std::string> kinds;
    for (const auto& [n, kind] : by_count) kinds.push_back(fmt::format("{} {}", n, kind));
    spdlog::info("QC: {} done, {} failed, {}{} without a result; {} flagged{} (reasons in qc.json); see {}/qc/ ({:.1f} s)",
                 q.done, q.failed, q.not_acquired ? fmt::format("{} not acquired yet, ", q.not_acquired) : std::string(),
                 q.missing, q.flagged.size(),
                 kinds.empty() ? "" : fmt::format(" (flags: {})", fmt::join(kinds, ", ")), out, seconds_since(t0));
  });
  if (rank == 0) {
    std::error_code ec;
    std::filesystem::remove(out + "/stage_now.json", ec);
  }
}

}  // namespace annamosaic::cli
