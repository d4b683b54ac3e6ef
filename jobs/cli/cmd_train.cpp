// `annamosaic train`: trains the A-net (pipeline/anet/trainer.hpp) from simulated data or dense
// localization tables, with checkpoints, exact resume and validation.
#include <fmt/format.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <memory>
#include <string_view>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fmt/ranges.h>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "anet/trainer.hpp"
#include "batch/campaign.hpp"
#include "batch/output_lock.hpp"
#include "batch/signals.hpp"
#include "cli/commands.hpp"
#include "cli/model_file.hpp"
#include "core/error.hpp"
#include "core/log.hpp"

namespace annamosaic::cli {
namespace {

// Threads for LibTorch: --threads, else SLURM_CPUS_PER_TASK, else the CPUs this process may run on.
int torch_threads(const po::variables_map& vm) {
  if (const std::size_t t = vm["threads"].as<std::size_t>(); t > 0) return static_cast<int>(t);
  if (const char* s = std::getenv("SLURM_CPUS_PER_TASK"); s && std::atoi(s) > 0) return std::atoi(s);
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// "A:B" -> {A, B} (or "A": {A, A}); each a whole finite number ("1:2junk", "0.05:inf" refused:
// the latter hung the sample generator).
std::pair<double, double> parse_range(const std::string& name, const std::string& spec) {
  const auto number = [&](std::string_view t) {
    double v = 0;
    const auto r = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || r.ec != std::errc() || r.ptr != t.data() + t.size() || !std::isfinite(v))
      throw UsageError("--" + name + " '" + spec + "': expected MIN:MAX, two finite numbers");
    return v;
  };
  const std::string_view all(spec);
  const auto colon = all.find(':');
  if (colon == std::string_view::npos) {
    const double v = number(all);
    return {v, v};
  }
  return {number(all.substr(0, colon)), number(all.substr(colon + 1))};
}

// A campaign folder's FoVs as table datasets, read as `run` reads them (campaign.ini's table and
// widefield patterns, positions.csv, its camera pixel for the widefields).
std::vector<anet::TableDatasetSpec> campaign_tables(const std::string& dir, const po::variables_map& vm) {
  refuse_campaign_file(dir);  // as run says it: the option's fault, exit 1 (probe102: train said 3)
  const CampaignInfo c = read_campaign(dir);
  // Two camera pixels for one campaign: which the user meant cannot be guessed.
  if (const double given = vm["camera-pixel-nm"].as<double>();
      !vm["camera-pixel-nm"].defaulted() && c.camera_pixel_nm_given && std::abs(given - c.camera_pixel_nm) > 1e-9)
    throw UsageError(fmt::format("--camera-pixel-nm {:g} and {}/campaign.ini's camera-pixel-nm {:g} disagree: give it in one "
                                 "place (campaign.ini describes the campaign's camera)",
                                 given, dir, c.camera_pixel_nm));
  std::vector<anet::TableDatasetSpec> out;
  std::vector<std::string> missing;
  for (const FovEntry& f : plan_fovs(c)) {
    if (!std::filesystem::exists(f.table_path)) {  // a FoV not acquired (or not copied): not a dataset
      missing.push_back(f.table_path);
      continue;
    }
    anet::TableDatasetSpec t;
    t.table = f.table_path;
    t.widefield = f.widefield_path;
    t.widefield_frames = c.widefield_frames;
    t.switch_id = c.switch_id;
    t.skip_if_empty = true;  // a FoV between cells: left out, as `run` marks it failed
    if (c.camera_pixel_nm_given) t.camera_pixel_nm = c.camera_pixel_nm;
    out.push_back(t);
  }
  if (!missing.empty())
    spdlog::warn("{}: {} FoV table(s) listed in {} are missing and not used (first: {})", dir, missing.size(), c.positions,
                 missing.front());
  if (const auto no_wf = std::count_if(out.begin(), out.end(), [](const auto& t) { return t.widefield.empty(); });
      no_wf && c.has_widefields())
    spdlog::warn("{}: {} of {} FoV(s) have no widefield file ({}): they train without one", dir, no_wf, out.size(),
                 c.widefield_pattern);
  if (out.empty()) throw InputError(dir, "campaign has no FoV tables (" + c.table_pattern + ", " + c.positions + ")");
  return out;
}
bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::exists(b, ec) && std::filesystem::equivalent(a, b, ec) && !ec;
}

anet::TrainOptions train_options(const Command& self, const po::variables_map& vm) {
  anet::TrainOptions o;
  auto& n = o.network;
  n.ngf = vm["ngf"].as<int>();
  n.ndf = vm["ndf"].as<int>();
  n.q_nf = vm["q-nf"].as<int>();
  n.dropout = vm["dropout"].as<double>();
  if (n.ngf <= 0 || n.ndf <= 0 || n.q_nf <= 0) throw UsageError("--ngf, --ndf and --q-nf must be > 0");
  if (n.dropout < 0 || n.dropout >= 1) throw UsageError("--dropout must be in [0, 1)");
  try {
    n.decoder = anet::parse_decoder(vm["decoder"].as<std::string>());
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--decoder: ") + e.what());
  }
  o.steps = vm["steps"].as<std::int64_t>();
  o.checkpoint_every = vm["checkpoint-every"].as<std::int64_t>();
  o.validate_every = vm["validate-every"].as<std::int64_t>();
  o.validation_samples = vm["validation-samples"].as<int>();
  o.log_every_s = vm["log-every-s"].as<double>();
  if (o.steps <= 0) throw UsageError("--steps must be > 0, not " + std::to_string(o.steps));
  if (o.checkpoint_every <= 0) throw UsageError("--checkpoint-every must be > 0, not " + std::to_string(o.checkpoint_every));
  if (o.validate_every < 0) throw UsageError("--validate-every must be >= 0 (0: never)");
  if (!(o.log_every_s > 0)) throw UsageError("--log-every-s must be > 0");
  o.lr = vm["lr"].as<double>();
  o.beta1 = vm["beta1"].as<double>();
  o.beta2 = vm["beta2"].as<double>();
  o.alpha = vm["alpha"].as<double>();
  o.beta = vm["beta"].as<double>();
  o.gamma = vm["gamma"].as<double>();
  o.rho = vm["rho"].as<double>();
  // Adam's hyper-parameters: out of range they train nothing useful (or diverge at step 1).
  if (!(o.lr > 0 && o.lr < 1)) throw UsageError("--lr must be in (0, 1), not " + fmt::format("{:g}", o.lr));
  if (!(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1))
    throw UsageError("--beta1 and --beta2 must be in [0, 1)");
  for (const double w : {o.alpha, o.beta, o.gamma})
    if (!(w >= 0) || !std::isfinite(w)) throw UsageError("--alpha, --beta and --gamma must be >= 0");
  if (o.alpha == 0 && o.beta == 0 && o.gamma == 0)  // G's loss would be 0: a model that learnt nothing
    throw UsageError("--alpha, --beta and --gamma are all 0: the generator has no loss to learn from");
  if (!(o.rho >= 0 && o.rho <= 1)) throw UsageError("--rho must be in [0, 1]");
  o.lowres_target = vm["lowres-target"].as<std::string>();
  // Checked here, not at the first step: --dry-run must find it too.
  if (o.lowres_target != "q-of-t" && o.lowres_target != "widefield")
    throw UsageError("--lowres-target must be q-of-t or widefield, not '" + o.lowres_target + "'");
  if (o.validation_samples < 0) throw UsageError("--validation-samples must be >= 0");
  o.target_quantile = vm["target-quantile"].as<double>();
  if (!(o.target_quantile > 0 && o.target_quantile <= 1)) throw UsageError("--target-quantile must be in (0, 1]");
  o.seed = vm["seed"].as<std::uint64_t>();
  o.output = vm.count("output") ? vm["output"].as<std::string>() : "";  // --dry-run writes nothing
  o.checkpoint_dir = vm.count("checkpoint-dir") ? vm["checkpoint-dir"].as<std::string>() : path_stem(o.output) + ".train";
  o.resume = vm["resume"].as<bool>();
  o.stop_requested = stop_requested;  // SIGTERM, SIGUSR1, Ctrl-C: checkpoint, then exit 75
  o.device = device_option(vm);
  o.threads = torch_threads(vm);
  o.config_text = effective_config(self, vm);

  auto& d = o.data;
  d.source = vm["source"].as<std::string>();
  const bool tables_given = vm.count("dataset") || vm.count("campaign");
  if (d.source == "auto") d.source = tables_given ? "tables" : "simulate";
  else if (d.source != "simulate" && d.source != "tables")
    throw UsageError("--source must be auto, simulate or tables, not '" + d.source + "'");
  if (d.source == "simulate" && tables_given)
    throw UsageError("--dataset and --campaign are training data for --source tables; with --source simulate they would be "
                     "ignored (drop --source, or the datasets)");
  if (const auto unused = given_options_marked(self, vm, d.source == "tables" ? "simulate:" : "tables:"); !unused.empty())
    spdlog::warn("{} apply to --source {} and are not used with --source {}", fmt::join(unused, ", "),
                 d.source == "tables" ? "simulate" : "tables", d.source);
  d.crop_px = vm["crop-px"].as<std::size_t>();
  if (d.crop_px == 0 || d.crop_px % 256 != 0)
    throw UsageError("--crop-px must be a positive multiple of 256 (8 stride-2 levels), not " + std::to_string(d.crop_px));
  d.pixel_nm = vm["pixel-nm"].as<double>();
  d.camera_pixel_nm = vm["camera-pixel-nm"].as<double>();
  if (!(d.pixel_nm > 0) || !(d.camera_pixel_nm > 0)) throw UsageError("--pixel-nm and --camera-pixel-nm must be > 0");
  d.warp.rotate = !vm["no-rotate"].as<bool>();
  d.warp.elastic_px = vm["elastic-px"].as<double>();
  d.warp.elastic_spacing_px = vm["elastic-spacing-px"].as<double>();
  d.p_no_widefield = vm["p-no-widefield"].as<double>();
  d.p_no_sparse = vm["p-no-sparse"].as<double>();
  // Probabilities and displacements out of range train on inputs nobody has (or on none at all).
  for (const auto& [name, p] : {std::pair{"--p-no-widefield", d.p_no_widefield}, std::pair{"--p-no-sparse", d.p_no_sparse}})
    if (!(p >= 0 && p <= 1)) throw UsageError(fmt::format("{} must be in [0, 1], not {:g}", name, p));
  if (d.p_no_widefield >= 1 && d.p_no_sparse >= 1)
    throw UsageError("--p-no-widefield 1 and --p-no-sparse 1: every sample would have neither input");
  if (!(d.warp.elastic_px >= 0) || !(d.warp.elastic_spacing_px > 0))
    throw UsageError("--elastic-px must be >= 0 and --elastic-spacing-px > 0");
  d.pairs_per_table = vm["pairs-per-table"].as<int>();
  if (d.pairs_per_table < 1) throw UsageError("--pairs-per-table must be >= 1");
  d.seed = o.seed;
  d.read = table_options(vm);
  auto& s = d.sim;
  s.specimen = specimen_options(vm);  // with simulate's range checks
  s.specimen.seed = vm["specimen-seed"].as<std::uint64_t>();
  // As simulate checks its own (a negative spread or an empty region trained for hours on nothing).
  s.region_um = positive_option(vm, "region-um");
  if (s.region_um > 1000) throw UsageError(fmt::format("--region-um {:g} is beyond any field (at most 1000 um)", s.region_um));
  s.sigma_loc_nm = non_negative_option(vm, "sigma-loc-nm");
  std::tie(s.locs_per_label_min, s.locs_per_label_max) = parse_range("locs-per-label", vm["locs-per-label"].as<std::string>());
  if (!(s.locs_per_label_min > 0) || s.locs_per_label_max < s.locs_per_label_min || s.locs_per_label_max > 1000)
    throw UsageError("--locs-per-label: need 0 < MIN <= MAX <= 1000");
  s.background_max = non_negative_option(vm, "background-max");
  s.widefield.camera_pixel_nm = d.camera_pixel_nm;
  s.widefield.photons_per_label = non_negative_option(vm, "photons-per-label");
  s.widefield.background_photons = non_negative_option(vm, "background-photons");
  s.wf_shift_max_px = non_negative_option(vm, "wf-shift-max-px");
  if (vm.count("dataset"))
    for (const std::string& spec : vm["dataset"].as<std::vector<std::string>>()) {
      // TABLE[,WIDEFIELD[,SWITCH]]
      std::vector<std::string> parts;
      std::stringstream ss(spec);
      for (std::string p; std::getline(ss, p, ',');) {
        const auto b = p.find_first_not_of(" \t"), e = p.find_last_not_of(" \t");  // "a.csv, wf.tif"
        parts.push_back(b == std::string::npos ? std::string() : p.substr(b, e - b + 1));
      }
      if (parts.empty() || parts.size() > 3 || parts[0].empty())
        throw UsageError("--dataset '" + spec + "': expected TABLE[,WIDEFIELD[,SWITCH]]");
      anet::TableDatasetSpec t;
      t.table = parts[0];
      if (parts.size() > 1 && parts[1] != "none") t.widefield = parts[1];  // "none" as in campaign.ini
      // Two tables joined by a comma (meant as two datasets) would read the second as a TIFF.
      if (const std::string ext = t.widefield.size() > 4 ? t.widefield.substr(t.widefield.size() - 4) : "";
          ext == ".csv" || ext == ".tsv" || ext == ".txt" || ext == ".hdf")
        throw UsageError("--dataset '" + spec + "': the second field is the table's widefield TIFF, not '" + t.widefield +
                         "'; give each table its own --dataset");
      if (parts.size() > 2) {
        char* end = nullptr;
        const long id = std::strtol(parts[2].c_str(), &end, 10);
        if (parts[2].empty() || *end != '\0' || id < 0 || id > 1000)
          throw UsageError("--dataset '" + spec + "': SWITCH must be a structure id (0, 1, ...), not '" + parts[2] + "'");
        t.switch_id = static_cast<int>(id);
      }
      t.widefield_frames = vm["widefield-frames"].as<std::string>();
      page_range_option(vm, "widefield-frames");
      if (!t.widefield.empty()) note_camera_pixel(t.widefield, vm);  // tags that disagree: said, as reconstruct does
      d.tables.push_back(t);
    }
  if (vm.count("campaign"))
    for (const std::string& dir : vm["campaign"].as<std::vector<std::string>>())
      for (const auto& t : campaign_tables(dir, vm)) d.tables.push_back(t);
  // The model would be written over one of its own inputs.
  for (const auto& t : d.tables)
    for (const std::string& in : {t.table, t.widefield})
      if (!in.empty() && same_file(in, o.output))
        throw UsageError("-o " + o.output + " is one of the training inputs (" + in + "): choose another model file name");
  return o;
}

constexpr const char* kTrainLockOption = "-o (or --checkpoint-dir)";  // how to choose another folder

// That `dir` exists or can be made, and can be written: the nearest folder on its way is a folder,
// and a file made there can be removed again (permissions, a read-only mount, an immutable
// folder; root passes permission bits, so asking access() would not do).
void check_folder_can_hold(const std::filesystem::path& dir, const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path existing = ".";
  for (fs::path d = dir; !d.empty(); d = d.parent_path()) {
    if (fs::exists(d, ec)) {
      if (!fs::is_directory(d, ec)) throw IoError(d.string(), "is not a folder: " + what + " cannot go under it");
      existing = d;
      break;
    }
    if (d == d.parent_path()) break;
  }
  std::string probe = (existing / ".annamosaic-write-test-XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  if (fd < 0) {
    // An existing folder answering "No such file or directory" takes no new files (/proc, /sys).
    const std::string why = errno == ENOENT ? "it accepts no new files" : std::strerror(errno);
    throw IoError(existing.string(), "cannot write there (" + why + "): " + what + " could not be saved; choose another place");
  }
  ::close(fd);
  ::unlink(probe.c_str());
}

// Where the model goes, checked before any step (and by --dry-run): hours of training must not end
// in "cannot rename" or replace a model this training did not make.
void check_train_output(const anet::TrainOptions& o) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (o.output.back() == '/' || fs::is_directory(o.output, ec))
    throw UsageError("-o " + o.output + " is a folder: give the model's file name (e.g. " +
                     (fs::path(o.output) / "model.h5").lexically_normal().string() + ")");
  // The model is an HDF5 file that run and reconstruct look up by name: a .csv or .tif name would
  // hide what it is (as render and reconstruct insist on .tif).
  if (const std::string ext = fs::path(o.output).extension().string(); ext != ".h5" && ext != ".hdf5")
    throw UsageError("-o " + o.output + ": the model is an HDF5 file: name it .h5 (e.g. " + path_stem(o.output) + ".h5)");
  check_folder_can_hold(fs::path(o.output).parent_path(), "the model " + o.output);
  // The checkpoints' folder: made at the first step, so checked now (and by --dry-run).
  if (fs::exists(o.checkpoint_dir, ec) && !fs::is_directory(o.checkpoint_dir, ec))
    throw IoError(o.checkpoint_dir, "is not a folder: the checkpoints (--checkpoint-dir) cannot go there");
  check_folder_can_hold(o.checkpoint_dir, "the checkpoints (--checkpoint-dir " + o.checkpoint_dir + ")");
  // A training writing there now (its lock): said before the data are read, and by --dry-run too.
  if (fs::is_directory(o.checkpoint_dir, ec))
    if (const auto who = output_lock_holder(o.checkpoint_dir))
      throw InputError(o.checkpoint_dir, folder_busy_text("training", kTrainLockOption, *who));
  // A model file is only ever replaced by the training that made it (its checkpoint is there): a
  // recipe run from the wrong folder must not replace a shipped or a colleague's model.
  if (fs::exists(o.output, ec) && !fs::exists(o.checkpoint_dir + "/checkpoint.h5", ec))
    throw InputError(o.output, "exists and is not this training's model (no checkpoint in " + o.checkpoint_dir +
                                   "): give another -o, or delete the file to replace it");
}

int run_train(const Command& self, const po::variables_map& vm, const std::string& command_line) {
  // First thing (the data are read and the networks made before the first step, seconds for large
  // tables): a pre-emption then ends in exit 75 before any step, having written nothing, not in a
  // kill by SIGTERM (143). A dry run has nothing to save: a signal ends it as usual.
  if (!vm["dry-run"].as<bool>())
    install_stop_handlers(/*also_interrupt=*/true,
                          "\nCtrl-C: stopping after this step, with a checkpoint saved (--resume continues; before the "
                          "first step nothing is written). Ctrl-C again quits at once (--resume then continues from the "
                          "last checkpoint, if one was saved)\n");
  anet::TrainOptions o = train_options(self, vm);
  o.command_line = command_line;
  // Fine-tuning: the model it starts from, checked before the data are read (and by --dry-run).
  // A resume takes every weight from its checkpoint: the file need not be there any more, and is
  // only compared with the checkpoint's record (by path, as resolved when it started).
  if (vm.count("init-from")) {
    const std::string given = vm["init-from"].as<std::string>();
    std::error_code ec;
    if (o.resume && std::filesystem::exists(o.checkpoint_dir + "/checkpoint.h5", ec)) {
      try {
        o.init_from = std::filesystem::absolute(resolve_model(given, "--init-from")).lexically_normal().string();
      } catch (const UsageError&) {
        o.init_from = given;
      }
    } else {
      o.init_from = std::filesystem::absolute(resolve_model(given, "--init-from")).lexically_normal().string();
      if (const std::string why = anet::init_from_mismatch(o); !why.empty()) throw InputError(o.init_from, why);
    }
  }
  const anet::ParameterCounts pc = anet::parameter_counts(o.network);
  if (!o.output.empty()) check_train_output(o);
  if (!o.output.empty()) refuse_config_as_record(path_stem(o.output) + ".config.ini", vm);
  if (vm["dry-run"].as<bool>()) {
    std::cout << "A-net parameters (ngf " << o.network.ngf << ", ndf " << o.network.ndf << ", q-nf " << o.network.q_nf
              << ", " << anet::decoder_name(o.network.decoder) << "):\n"
              << "  generator G              " << pc.generator << "\n"
              << "  discriminator D          " << pc.discriminator << "\n"
              << "  low-res estimator Q      " << pc.estimator << "\n"
              << "  total                    " << pc.generator + pc.discriminator + pc.estimator << "\n"
              << "  model file (G + Q, fp32) " << (pc.generator + pc.estimator) * 4 / 1e6 << " MB\n";
    if (!o.output.empty())
      std::cout << "model " << o.output << ", checkpoints and losses.csv in " << o.checkpoint_dir << "\n";
    if (!o.init_from.empty()) std::cout << "fine-tuning: G and Q start from " << o.init_from << "\n";
    const anet::TrainingData data(o.data);
    if (!o.output.empty()) anet::check_checkpoint(o, &data);  // what the real run would refuse
    // A few samples as training draws them: an empty S or a missing widefield shows here, not
    // hours into the run.
    constexpr std::uint64_t kSamples = 8;
    std::vector<std::uint64_t> locs;
    std::size_t with_wf = 0, empty_s = 0;
    std::set<int> switches;
    for (std::uint64_t i = 0; i < kSamples; ++i) {
      const anet::TrainingSample s = data.sample(i);
      locs.push_back(s.localizations);
      with_wf += !s.widefield.empty();
      empty_s += s.localizations == 0;
      switches.insert(s.switch_id);
    }
    std::sort(locs.begin(), locs.end());
    std::cout << "data: " << data.describe() << "\n"
              << fmt::format("samples 0-{}: {}..{} localizations in S (median {}), {} with no S, widefield in {} of {}{}, "
                             "switch {}\n",
                             kSamples - 1, locs.front(), locs.back(), locs[kSamples / 2], empty_s, with_wf, kSamples,
                             o.data.source == "tables" && std::none_of(o.data.tables.begin(), o.data.tables.end(),
                                                                       [](const auto& t) { return !t.widefield.empty(); })
                                 ? std::string(" (no table has one)")
                                 : std::string(" (--p-no-sparse / --p-no-widefield leave some out on purpose)"),
                             fmt::join(switches, ","));
    return 0;
  }
  if (o.output.empty()) throw UsageError("the option '--output' (-o MODEL.h5) is required (all but --dry-run write a model)");
  // One training per checkpoint folder: two at once (a job resubmitted while the first runs, two
  // configs with one -o) mixed their checkpoints, losses and final model (probe58), as the checks
  // above see only what is on disk when each starts. Locked once the data are read (a refused
  // dataset leaves no folder), held to the end.
  std::unique_ptr<OutputLock> lock;
  o.on_checkpoint_dir_made = [&] { lock = std::make_unique<OutputLock>(o.checkpoint_dir, "training", kTrainLockOption); };
  spdlog::info("training {} steps, {} LibTorch threads, checkpoints in {}", o.steps, o.threads, o.checkpoint_dir);
  const anet::TrainSummary sum = anet::train(o);
  if (sum.last_step == sum.first_step)  // resumed at --steps already: the model was written again
    spdlog::info("nothing trained: the checkpoint was at step {} = --steps; wrote {} again", sum.last_step, o.output);
  else if (sum.best_step > 0)
    spdlog::info("trained steps {}..{} in {:.0f} s ({:.2f} steps/s); best validation MS-SSIM {:.4f} at step {}",
                 sum.first_step + 1, sum.last_step, sum.seconds, (sum.last_step - sum.first_step) / std::max(sum.seconds, 1e-9),
                 sum.best_score, sum.best_step);
  else
    spdlog::info("trained steps {}..{} in {:.0f} s ({:.2f} steps/s); no validation ran ({})", sum.first_step + 1,
                 sum.last_step, sum.seconds, (sum.last_step - sum.first_step) / std::max(sum.seconds, 1e-9),
                 o.validation_samples == 0 ? "--validation-samples 0" : "--validate-every");
  // Said at the end too, where a job's log is read: a model below the baseline does worse than
  // its sparse input itself, however high its score looks (probe58: 0.4654 against 0.8827).
  if (sum.best_step > 0 && sum.histogram_score >= 0 && sum.best_score < sum.histogram_score)
    spdlog::warn("the best model ({:.4f} at step {}) scores below the sparse histograms of its validation samples ({:.4f}): "
                 "it reconstructs worse than its input; train longer (--steps, then --resume) or check the data",
                 sum.best_score, sum.best_step, sum.histogram_score);
  write_config_next_to(path_stem(o.output) + ".config.ini", self, vm);
  return 0;
}

}  // namespace

Command train_command() {
  Command c;
  c.name = "train";
  c.summary = "Train the A-net (G, Q, D) on simulated data or dense localization tables.";
  c.usage = "annamosaic train --config configs/train-microtubules-demo.ini [--resume] [--dry-run]";
  c.details =
      "Sources: 'simulate' (the simulator draws a new field every step: S from the labels, T = perfect image,\n"
      "W = simulated widefield) or 'tables' (--dataset TABLE[,WIDEFIELD[,SWITCH]] and/or --campaign DIR, repeatable:\n"
      "T = 95% frame window, S = 300-500-frame window in the first half, widefield registered to T).\n"
      "Checkpoints: CHECKPOINT_DIR/checkpoint.h5 every --checkpoint-every steps (atomic; --resume continues\n"
      "exactly), CHECKPOINT_DIR/best.h5 = best validation MS-SSIM; OUTPUT = the best model at the end.\n"
      "--dry-run prints the parameter counts and draws 8 training samples (their localizations in S, widefields);\n"
      "with -o it also checks the output and the checkpoint as the training would.";
  c.add_options = [](po::options_description& d) {
    d.add_options()
        ("output,o", po::value<std::string>(), "model file to write (HDF5; required but for --dry-run)")
        ("checkpoint-dir", po::value<std::string>(), "checkpoint folder (default: OUTPUT without extension + .train)")
        ("init-from", po::value<std::string>(), "fine-tune: start G and Q from this trained model (a path or a bare name, as --model; its ngf, q-nf, decoder and pixel-nm must be this training's) instead of fresh weights")
        ("resume", po::bool_switch(), "continue from CHECKPOINT_DIR/checkpoint.h5 (none yet: start afresh); without it an existing checkpoint is refused")
        ("dry-run", po::bool_switch(), "print parameter counts, check the data, do not train")
        ("device", po::value<std::string>()->default_value("auto"), "auto (a GPU when one is visible, else the CPU), cpu, cuda or cuda:N")
        ("seed", po::value<std::uint64_t>()->default_value(1), "seed of initialisation, data and dropout")
        ("steps", po::value<std::int64_t>()->default_value(1000), "training steps (batch 1)")
        ("checkpoint-every", po::value<std::int64_t>()->default_value(100), "steps between checkpoints")
        ("validate-every", po::value<std::int64_t>()->default_value(100), "steps between validations (0: never)")
        ("validation-samples", po::value<int>()->default_value(4), "held-out samples scored at each validation")
        ("log-every-s", double_default(10.0), "seconds between progress lines")
        ("ngf", po::value<int>()->default_value(64), "generator width (64: the paper; 16: the authors' fast setting)")
        ("ndf", po::value<int>()->default_value(64), "discriminator width")
        ("q-nf", po::value<int>()->default_value(8), "low-res estimator width (8 -> 8, 16, 32 channels)")
        ("decoder", po::value<std::string>()->default_value("resize-conv"), "resize-conv or transposed-conv")
        ("dropout", double_default(0.5), "dropout on d8..d6 and in Q")
        ("lr", double_default(2e-4), "Adam learning rate")
        ("beta1", double_default(0.5), "Adam beta1")
        ("beta2", double_default(0.999), "Adam beta2")
        ("alpha", double_default(50.0), "weight of L_SuperRes")
        ("beta", double_default(25.0), "weight of L_LowRes")
        ("gamma", double_default(1.0), "weight of the LSGAN term")
        ("rho", double_default(0.84), "MS-SSIM vs smoothed-L1 balance in L_SuperRes")
        ("lowres-target", po::value<std::string>()->default_value("q-of-t"), "L_LowRes against q-of-t or widefield")
        ("target-quantile", double_default(0.999), "T is scaled by this quantile, clipped to [0, 1]")
        ("source", po::value<std::string>()->default_value("auto"), "simulate, tables, or auto (tables when --dataset or --campaign is given)")
        ("crop-px", po::value<std::size_t>()->default_value(256), "training crop (multiple of 256; paper: 512)")
        ("pixel-nm", double_default(20.0), "super-resolution pixel")
        ("no-rotate", po::bool_switch(), "no random rotation")
        ("elastic-px", double_default(2.0), "elastic deformation rms displacement (px)")
        ("elastic-spacing-px", double_default(64.0), "elastic control-point spacing (px)")
        ("p-no-widefield", double_default(0.3), "fraction of samples without widefield")
        ("p-no-sparse", double_default(0.1), "fraction of samples without sparse image")
        ("background-max", double_default(0.002), "structured background added to S (max counts/px)")
        ("dataset", po::value<std::vector<std::string>>()->composing(), "tables: TABLE[,WIDEFIELD[,SWITCH]] (repeatable)")
        ("campaign", po::value<std::vector<std::string>>()->composing(), "tables: a campaign folder (repeatable; its campaign.ini's patterns and camera-pixel-nm apply)")
        ("widefield-frames", po::value<std::string>()->default_value("3-5"), "tables: widefield pages averaged")
        ("pairs-per-table", po::value<int>()->default_value(20), "tables: (S, T) window pairs per table")
        ("specimen-seed", po::value<std::uint64_t>()->default_value(1), "simulate: specimen seed (evaluate uses another)")
        ("region-um", double_default(1000.0), "simulate: specimen region edge")
        ("sigma-loc-nm", double_default(10.0), "simulate: localization precision")
        ("locs-per-label", po::value<std::string>()->default_value("0.05:50"), "simulate: MIN:MAX localizations per label (log-uniform)")
        ("photons-per-label", double_default(20.0), "simulate: widefield photons per label per frame")
        ("background-photons", double_default(100.0), "simulate: widefield background per pixel")
        ("wf-shift-max-px", double_default(1.5), "simulate: widefield misregistration per axis (camera px, uniform in +-this)");
    add_specimen_options(d, "simulate: ");
    add_table_options(d, 108.0);
  };
  c.run = [c](const po::variables_map& vm) {
    return run_train(c, vm, invocation());  // the command line as typed, for the model's provenance
  };
  return c;
}

}  // namespace annamosaic::cli
