// `annamosaic evaluate`: the A-net against the plain histogram (pipeline/anet/evaluation.hpp).
#include <sched.h>
#include <unistd.h>

#include <fmt/ranges.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <thread>

#include "anet/evaluation.hpp"
#include "anet/metrics.hpp"
#include "anet/model_file.hpp"
#include "anet/reconstructor.hpp"
#include "cli/commands.hpp"
#include "cli/model_file.hpp"
#include "core/checksum.hpp"
#include "core/error.hpp"
#include "core/log.hpp"

namespace annamosaic::cli {
namespace {

std::vector<double> parse_list(const std::string& spec) {
  std::vector<double> v;
  std::stringstream ss(spec);
  for (std::string item; std::getline(ss, item, ',');) {
    try {
      v.push_back(std::stod(item));
    } catch (const std::exception&) {
      throw UsageError("--n '" + spec + "': expected comma-separated numbers");
    }
    if (!(v.back() >= 2)) throw UsageError("--n: every n must be >= 2");
    // Past that a field holds more localizations than any acquisition of it (a dense one of the
    // default 10 um field has ~1e6), and simulating them takes hours and gigabytes.
    if (v.back() > 1e7) throw UsageError("--n: at most 1e7 localizations per field, not " + item);
  }
  if (std::adjacent_find(v.begin(), v.end(), std::greater_equal<double>()) != v.end())
    throw UsageError("--n: values must increase (each n once)");
  return v;
}

// The A-net refuses its options (--mode, --tile-px, --precision, --device) with
// std::invalid_argument when it is built: built once here, before the evaluation, so that those
// are usage errors (as in `reconstruct`) and nothing deeper is mistaken for one.
void check_reconstructor_options(const anet::EvaluateOptions& o) {
  try {
    anet::Reconstructor(o.model, o.reconstructor);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
}

// What --table writes into -o must not replace an input: a FoV folder given as -o holds its
// widefield.tif, which the processed widefield would overwrite.
void refuse_outputs_over_inputs(const anet::EvaluateOptions& o) {
  std::vector<std::string> outputs = {o.output_dir + "/evaluate-table.csv", o.output_dir + "/evaluate.config.ini"};
  for (const char* name : {"sparse", "dense", "anet", "widefield", "anet-widefield"})
    for (const char* ext : {".tif", ".png"}) outputs.push_back(o.output_dir + "/" + name + ext);
  for (const std::string& in : {o.table, o.widefield, o.model})
    for (const std::string& out : outputs)
      if (!in.empty() && same_path(out, in))
        throw UsageError("-o " + o.output_dir + ": evaluate would write " + out + " over the input " + in +
                         ": choose another output folder");
}

// The output folder, made and checked before the work (a file in the way or a read-only folder
// was found after minutes of fields, probe102). create_directories' error is worded by main. One
// it made is removed again if the command ends with it empty (bad input found in the work).
struct OutputFolder {
  std::string made;
  explicit OutputFolder(const std::string& dir) {
    std::error_code ec;
    const bool there = std::filesystem::exists(dir, ec);
    std::filesystem::create_directories(dir);
    if (!there) made = dir;
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
      throw IoError(dir, std::string("cannot write in the output folder (") + std::strerror(errno) + "): nothing was written");
  }
  ~OutputFolder() {
    std::error_code ec;
    if (!made.empty() && std::filesystem::is_empty(made, ec)) std::filesystem::remove(made, ec);
  }
  OutputFolder(const OutputFolder&) = delete;
  OutputFolder& operator=(const OutputFolder&) = delete;
};

// Nor are its images mixed into a run's results or a campaign's data (it wrote anet.tif,
// dense.tif... among them).
void refuse_results_folders(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(fs::path(dir) / "manifest.jsonl", ec))
    throw UsageError("-o " + dir + " is a run's output folder (it has a manifest.jsonl): choose another folder for the "
                     "evaluation");
  if (fs::exists(fs::path(dir) / "campaign.ini", ec))
    throw UsageError("-o " + dir + " is a campaign folder (it has a campaign.ini): choose another folder for the evaluation");
}

// A table the model was trained on scores what it remembers, not how it reconstructs. The model
// records its tables as "checksum ROLE path" lines: by the file's bytes ("data_files": a copy, or
// a path from another folder, is the same table) and by its localizations whatever their order or
// format ("data_content": given `content`, the table's content_fingerprint; a re-export with its
// rows shuffled is the same too, probe96). Older models: by path. True when it was recognised.
bool warn_if_trained_on(const std::string& model, const std::string& table, const std::string& content = "") {
  try {
    const anet::ModelFile h = anet::read_model_header(model);
    const char* const kind = content.empty() ? "data_files" : "data_content";
    if (const auto files = h.provenance.find(kind); files != h.provenance.end()) {
      const std::string mine = content.empty() ? file_checksum(table) : content;
      std::istringstream lines(files->second);
      for (std::string line; std::getline(lines, line);) {
        std::istringstream f(line);
        std::string sum, role;
        f >> sum >> role;
        if (sum != mine) continue;
        const std::string same = content.empty() ? "the same file" : "the same localizations, in another order or format";
        if (role == "validation")
          spdlog::info("{} was held out of {}'s training for validation ({}): not trained on, but its best step was "
                       "chosen on it, so its scores are slightly optimistic", table, model, same);
        else
          spdlog::warn("{} is one of {}'s training tables ({}): its scores measure what the model saw in training, not "
                       "how it reconstructs new data; evaluate on a table it was not trained on",
                       table, model, same);
        return true;
      }
      return false;
    }
    if (!content.empty()) return false;
    const auto it = h.provenance.find("data_tables");
    if (it == h.provenance.end()) return false;
    std::istringstream lines(it->second);
    for (std::string line; std::getline(lines, line);)
      if (const auto sp = line.find(' '); sp != std::string::npos && same_path(line.substr(sp + 1), table)) {
        spdlog::warn("{} is one of {}'s training tables: its scores measure what the model saw in training, not how it "
                     "reconstructs new data; evaluate on a table it was not trained on",
                     table, model);
        return true;
      }
  } catch (const std::exception&) {  // an unreadable model is reported where it is loaded
  }
  return false;
}

int run_evaluate(const Command& self, const po::variables_map& vm) {
  anet::EvaluateOptions o;
  o.model = resolve_model(vm["model"].as<std::string>());
  spdlog::info("model {}", std::filesystem::absolute(o.model).lexically_normal().string());
  o.output_dir = vm["output"].as<std::string>();
  refuse_results_folders(o.output_dir);
  refuse_config_as_record(o.output_dir + "/evaluate.config.ini", vm);
  o.reconstructor.device = device_option(vm);
  o.reconstructor.precision = vm["precision"].as<std::string>();
  o.reconstructor.threads = cpu_threads(vm);
  o.reconstructor.mode = vm["mode"].as<std::string>();
  o.reconstructor.tile_px = vm["tile-px"].as<std::size_t>();
  o.reconstructor.overlap_px = vm["overlap-px"].as<std::size_t>();
  o.seed = vm["seed"].as<std::uint64_t>();
  o.frc = !vm["no-frc"].as<bool>();
  o.write_images = vm["write-images"].as<bool>();
  if (vm.count("widefield") && !vm.count("table"))
    throw UsageError("--widefield goes with --table (the simulated protocol makes its own widefield)");
  // The other protocol's results in the folder would lie beside this one's, described by neither
  // evaluate.config.ini (rewritten) nor anything else.
  if (const std::string other = o.output_dir + (vm.count("table") ? "/evaluate.csv" : "/evaluate-table.csv");
      std::filesystem::exists(other))
    throw UsageError(fmt::format("-o {} holds a {} evaluation ({}): give this one another -o", o.output_dir,
                                 vm.count("table") ? "simulated-protocol" : "--table", other));
  // Options of the other protocol are said, not silently dropped (a config file may hold both).
  if (const auto unused = given_options_marked(self, vm, vm.count("table") ? "simulated:" : "table:"); !unused.empty())
    spdlog::warn("{} {} to the {} protocol and {} not used {}", fmt::join(unused, ", "), unused.size() > 1 ? "belong" : "belongs",
                 vm.count("table") ? "simulated" : "--table", unused.size() > 1 ? "are" : "is",
                 vm.count("table") ? "with --table" : "without --table");
  if (vm.count("table")) {
    o.table = vm["table"].as<std::string>();
    o.sparse_fraction = vm["sparse-fraction"].as<double>();
    if (!(o.sparse_fraction > 0 && o.sparse_fraction <= 1)) throw UsageError("--sparse-fraction must be in (0, 1]");
    o.read = table_options(vm);
    o.switch_id = vm["switch"].as<int>();
    if (o.switch_id < 0) throw UsageError("--switch must be a structure id >= 0, not " + std::to_string(o.switch_id));
    check_model_switch(o.model, o.switch_id, "--switch");
    if (vm.count("widefield")) {
      o.widefield = vm["widefield"].as<std::string>();
      o.widefield_frames = vm["widefield-frames"].as<std::string>();
      page_range_option(vm, "widefield-frames");
      o.camera_pixel_nm = vm["camera-pixel-nm"].as<double>();
      if (!(o.camera_pixel_nm > 0)) throw UsageError("--camera-pixel-nm must be > 0");
      note_camera_pixel(o.widefield, vm);
    }
    check_reconstructor_options(o);
    refuse_outputs_over_inputs(o);
    const OutputFolder folder(o.output_dir);
    bool recognised = warn_if_trained_on(o.model, o.table);
    const anet::TableEvaluation e = anet::evaluate_table(o);
    if (!recognised) recognised = warn_if_trained_on(o.model, o.table, e.content);
    std::cout << "table " << o.table << ": " << e.width_px << " x " << e.height_px << " px; sparse = first " << e.sparse_frames
              << " of " << e.frames << " frames (" << e.sparse_localizations << " localizations), reference = all frames ("
              << e.dense_localizations << ")\n";
    std::printf("%-10s %8s %8s %8s %10s\n", "image", "MS-SSIM", "SSIM", "PSNR", "FRC nm");
    // --no-frc: "-"; "<=": the FRC stayed above 1/7 up to Nyquist, 2 pixels is a bound.
    const auto nm = [](const anet::Score& sc) { return std::isnan(sc.frc_nm) ? std::string("-") : anet::frc_text(sc); };
    std::printf("%-10s %8.4f %8.4f %8.2f %10s\n", "histogram", e.histogram.ms_ssim, e.histogram.ssim, e.histogram.psnr,
                nm(e.histogram).c_str());
    std::printf("%-10s %8.4f %8.4f %8.2f %10s%s\n", "A-net", e.anet.ms_ssim, e.anet.ssim, e.anet.psnr, nm(e.anet).c_str(),
                std::isnan(e.anet.frc_nm) ? "" : "   (FRC optimistic: both halves share the network's prior)");
    if (e.with_widefield)
      std::printf("%-10s %8.4f %8.4f %8.2f %10s   (S + widefield; registration confidence %.2f)\n", "A-net+wf",
                  e.anet_widefield.ms_ssim, e.anet_widefield.ssim, e.anet_widefield.psnr, "-", e.widefield_confidence);
    anet::Score dense;
    dense.frc_nm = e.dense_frc_nm;
    dense.frc_at_limit = e.dense_frc_at_limit;
    std::printf("%-10s %8s %8s %8s %10s\n", "all frames", "1", "1", "inf", nm(dense).c_str());
    if (e.histogram.frc_at_limit || e.anet.frc_at_limit || e.dense_frc_at_limit)
      std::printf("FRC \"<=\": the correlation stayed above 1/7 up to Nyquist; 2 pixels is an upper bound, not a "
                  "measurement\n");
    // The answer the table is read for, in words (probe96: 0.98 against 0.34 went unremarked).
    const auto verdict = [&](const char* image, const anet::Score& a) {
      const double gain = a.ms_ssim - e.histogram.ms_ssim;
      std::printf("verdict: %s of the first %lld frames scores MS-SSIM %.4f against all frames, the plain histogram of "
                  "the same frames %.4f: %s%s\n",
                  image, static_cast<long long>(e.sparse_frames), a.ms_ssim, e.histogram.ms_ssim,
                  !std::isfinite(gain) ? "not judged (a score is not a number)"
                  : gain > 0.01        ? "the A-net reconstructs better than its input"
                  : gain < -0.01       ? "the A-net reconstructs WORSE than its input (a model for other structures, "
                                         "pixel size or density?)"
                                       : "no better than its input",
                  recognised ? " (on one of the model's training or validation tables: optimistic)" : "");
    };
    verdict("the A-net's image", e.anet);
    if (e.with_widefield) verdict("the A-net's image from S + widefield", e.anet_widefield);
    spdlog::info("wrote {}", e.csv_path);
  } else {
    o.field_px = vm["field-px"].as<std::size_t>();
    o.fields = vm["fields"].as<int>();
    if (o.field_px < kMsSsimMinSidePx || o.field_px > 8192 || o.fields <= 0)
      throw UsageError(fmt::format("--field-px must be {} to 8192 (MS-SSIM scales; 164 um at 20 nm) and --fields > 0",
                                   kMsSsimMinSidePx));
    if (vm.count("n")) o.n_values = parse_list(vm["n"].as<std::string>());
    auto& s = o.sim;
    s.specimen.structure = parse_structure(vm["structure"].as<std::string>());
    check_model_switch(o.model, structure_switch_id(s.specimen.structure), "the --structure of switch");
    s.specimen.seed = vm["specimen-seed"].as<std::uint64_t>();
    // An empty specimen (no filaments) scores as perfect: refused with the other impossible values.
    s.specimen.filaments_per_100um2 = positive_option(vm, "filaments-per-100um2");
    s.specimen.cell_radius_um = positive_option(vm, "cell-radius-um");
    s.specimen.cell_fraction = 1.0;
    s.specimen.gradient = fraction_option(vm, "gradient");
    s.sigma_loc_nm = non_negative_option(vm, "sigma-loc-nm");
    s.widefield.camera_pixel_nm = positive_option(vm, "camera-pixel-nm");
    check_reconstructor_options(o);
    // Said now, not after minutes of fields (probe102: a file in the way was found after the work).
    const OutputFolder folder(o.output_dir);
    const anet::SimulatedEvaluation e = anet::evaluate_simulated(o);
    std::printf("simulated %s, %d field%s of %.2f um (specimen seed %llu); MS-SSIM (Wang) vs the perfect image\n",
                structure_name(s.specimen.structure), o.fields, o.fields == 1 ? "" : "s", e.field_um, static_cast<unsigned long long>(s.specimen.seed));
    std::printf("%10s %10s %10s %10s %10s %10s %10s\n", "n", "locs/um2", "histogram", "A-net S", "A-net S+W", "gain S", "gain S+W");
    for (const anet::EvalRow& r : e.rows)
      std::printf("%10.0f %10.2f %10.4f %10.4f %10.4f %9s%.1f %9s%.1f\n", r.n, r.locs_per_um2, r.histogram.ms_ssim, r.anet_s.ms_ssim,
                  r.anet_sw.ms_ssim, anet::bound_mark(r.equivalent_s_lower_bound, r.equivalent_s_upper_bound), r.equivalent_n_s / r.n,
                  anet::bound_mark(r.equivalent_sw_lower_bound, r.equivalent_sw_upper_bound), r.equivalent_n_sw / r.n);
    std::printf("gain = n the histogram needs for the A-net's MS-SSIM / n (\">\": beyond the largest n tried; \"<=\": the A-net "
                "is no better than the histogram at the smallest n tried, possibly worse)\n");
    std::printf("widefield only (S = 0): MS-SSIM %.4f\n", e.widefield_only.ms_ssim);
    spdlog::info("wrote {} and {}", e.csv_path, e.plot_path);
  }
  write_config_next_to(o.output_dir + "/evaluate.config.ini", self, vm);
  return 0;
}

}  // namespace

Command evaluate_command() {
  Command c;
  c.name = "evaluate";
  c.summary = "Score a trained A-net against the plain histogram (simulated Fig. 2g protocol, or a real table).";
  c.usage = "annamosaic evaluate --model M.h5 -o OUT_DIR [--fields 4 --field-px 512 --n 316,1000,...] [--table T.csv]";
  c.details =
      "Simulated (default): held-out fields of a specimen the model never saw (--specimen-seed); for each n,\n"
      "MS-SSIM (Wang pyramid), SSIM, PSNR and FRC of the histogram, the A-net from S and from S + widefield,\n"
      "against the perfect image; the gain = how many more localizations the histogram needs for the A-net's\n"
      "score. Writes OUT_DIR/evaluate.csv and evaluate.png.\n"
      "--table: S = the first --sparse-fraction of the frames, reference = all frames; writes\n"
      "OUT_DIR/evaluate-table.csv and sparse/dense/anet .tif/.png. With --widefield (the same field, the table in\n"
      "its camera frame, --camera-pixel-nm), also the A-net from S + widefield (anet-widefield, widefield .tif/.png).";
  c.add_options = [](po::options_description& d) {
    d.add_options()
        ("model,m", po::value<std::string>()->required(), "A-net model file (HDF5; a bare name is also looked for in $ANNAMOSAIC_MODELS and the models folder)")
        ("output,o", po::value<std::string>()->required(), "output folder")
        ("device", po::value<std::string>()->default_value("auto"), "auto (a GPU when one is visible, else the CPU), cpu, cuda or cuda:N")
        ("precision", po::value<std::string>()->default_value("fp32"), "fp32; on CUDA also tf32, bf16 or fp16")
        ("mode", po::value<std::string>()->default_value("auto"), "inference mode: auto, whole or tiled")
        ("tile-px", po::value<std::size_t>()->default_value(512), "tile size for --mode tiled (multiple of 256)")
        ("overlap-px", po::value<std::size_t>()->default_value(128), "tile overlap (>= 64)")
        ("seed", po::value<std::uint64_t>()->default_value(7), "seed of the fields and localizations drawn")
        ("no-frc", po::bool_switch(), "skip the FRC (saves 4 reconstructions per n)")
        ("write-images", po::bool_switch(), "simulated: write field 0's perfect image, histograms and reconstructions")
        ("fields", po::value<int>()->default_value(4), "simulated: held-out fields averaged")
        ("field-px", po::value<std::size_t>()->default_value(512), "simulated: field edge in px")
        ("n", po::value<std::string>(), "simulated: localization counts (default 10^2.5 .. 10^6, half decades)")
        ("structure", po::value<std::string>()->default_value("microtubules"), "simulated: microtubules or nuclear-pores")
        ("specimen-seed", po::value<std::uint64_t>()->default_value(1001), "simulated: specimen seed (held out: training uses 1)")
        ("filaments-per-100um2", double_default(20.0), "simulated: microtubule density (dense fields, as the paper's)")
        ("cell-radius-um", double_default(1000.0), "simulated: cell radius (large: fields inside one cell)")
        ("gradient", double_default(0.0), "simulated: density gradient across the specimen")
        ("sigma-loc-nm", double_default(10.0), "simulated: localization precision")
        ("table", po::value<std::string>(), "evaluate on a localization table instead")
        ("sparse-fraction", double_default(0.1), "table: fraction of the frames in S (from the start)")
        ("switch", po::value<int>()->default_value(0), "table: structure id")
        ("widefield", po::value<std::string>(), "table: widefield TIFF of the same field (the table in its camera frame); adds the A-net from S + widefield")
        ("widefield-frames", po::value<std::string>()->default_value("3-5"), "table: widefield pages averaged");
    add_table_options(d, 108.0);
  };
  c.run = [c](const po::variables_map& vm) { return run_evaluate(c, vm); };
  return c;
}

}  // namespace annamosaic::cli
