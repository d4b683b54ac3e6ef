#include <torch/version.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>
#include <fstream>
#include <future>
#include <sstream>

#include "anet/inference.hpp"
#include "anet/losses.hpp"
#include "anet/metrics.hpp"
#include "anet/normalisation.hpp"
#include "anet/torch_util.hpp"
#include "anet/trainer_core.hpp"
#include "core/atomic_file.hpp"
#include "core/build_info.hpp"
#include "core/checksum.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "sim/geometry.hpp"

namespace annamosaic::anet {

PreparedSample TrainerCore::prepare(const TrainingSample& s) const {
  PreparedSample p;
  const std::size_t W = s.target.width(), H = s.target.height();
  const ImageF sn = standardise_sparse(s.sparse.view());
  const bool has_w = !s.widefield.empty();
  const ImageF l01 = has_w ? scale_widefield(s.widefield.view(), opt_.data.pixel_nm) : ImageF(W, H);
  p.x = torch::stack({image_to_tensor(sn.view()), image_to_tensor(l01.view())}).unsqueeze(0).to(device_);
  p.m = torch::full({1}, static_cast<float>(s.switch_id)).to(device_);
  p.m_plane = torch::full({1, 1, static_cast<std::int64_t>(H), static_cast<std::int64_t>(W)}, static_cast<float>(s.switch_id))
                  .to(device_);
  const ImageF t01 = normalise_to_unit(s.target.view(), opt_.target_quantile);
  p.t01 = image_to_tensor(t01.view()).reshape({1, 1, static_cast<std::int64_t>(H), static_cast<std::int64_t>(W)}).to(device_);
  // A widefield that is absent or flat carries nothing to learn from (the authors' mask).
  if (has_w && *std::max_element(l01.begin(), l01.end()) > 0) {
    const ImageF wq = widefield_on_q_grid(l01.view());
    p.wq = image_to_tensor(wq.view()).reshape({1, 1, static_cast<std::int64_t>(wq.height()), static_cast<std::int64_t>(wq.width())})
               .to(device_);
  }
  return p;
}

StepLosses TrainerCore::step(const TrainingSample& sample, std::int64_t step) { return this->step(prepare(sample), step); }

namespace {
std::map<std::string, std::string> with_architecture(std::map<std::string, std::string> prov, const TrainOptions& o) {
  prov["seed"] = std::to_string(o.seed);
  return prov;
}
}  // namespace

ModelFile TrainerCore::model_file(const std::map<std::string, std::string>& provenance) const {
  ModelFile m;
  m.kind = "model";
  m.network = opt_.network;
  m.data.pixel_nm = opt_.data.pixel_nm;
  m.data.target_quantile = opt_.target_quantile;
  m.provenance = with_architecture(provenance, opt_);
  m.groups["generator"] = export_module(*g);
  m.groups["lowres_estimator"] = export_module(*q);
  // Steps Q trained on (only samples with a widefield train it): 0 tells reconstruct and run that
  // the model never saw a widefield.
  m.scalars["lowres_estimator_steps"] = static_cast<double>(opt_q->steps()) + init_q_steps_;
  return m;
}

ModelFile TrainerCore::checkpoint(const std::map<std::string, std::string>& provenance, std::int64_t step) const {
  ModelFile m = model_file(provenance);
  m.kind = "checkpoint";
  m.groups["discriminator"] = export_module(*d);
  m.scalars["step"] = static_cast<double>(step);
  // The started-from model's Q steps (fine-tuning), kept apart from this training's optimiser
  // count so that a resume adds them again (probe101: a resumed fine-tuning recorded 0).
  m.scalars["init_lowres_estimator_steps"] = init_q_steps_;
  auto moments = [&](const char* net, Adam& a, const torch::nn::Module& mod) {
    const auto params = mod.named_parameters();
    std::vector<NamedArray> ms, vs;
    for (std::size_t i = 0; i < params.size(); ++i) {
      auto to_arr = [&](const torch::Tensor& t) {
        const torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
        NamedArray arr;
        arr.name = params[i].key();
        arr.shape.assign(c.sizes().begin(), c.sizes().end());
        arr.data.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
        return arr;
      };
      ms.push_back(to_arr(a.m()[i]));
      vs.push_back(to_arr(a.v()[i]));
    }
    m.groups[std::string("adam/") + net + "/m"] = std::move(ms);
    m.groups[std::string("adam/") + net + "/v"] = std::move(vs);
    m.scalars[std::string("adam_steps_") + net] = static_cast<double>(a.steps());
  };
  moments("generator", *opt_g, *g);
  moments("discriminator", *opt_d, *d);
  moments("lowres_estimator", *opt_q, *q);
  return m;
}

std::string TrainerCore::start_from(const ModelFile& m, const std::string& path) {
  const auto group = [&](const std::string& name) -> const std::vector<NamedArray>& {
    const auto it = m.groups.find(name);
    if (it == m.groups.end()) throw InputError(path, "has no '" + name + "' group: not a complete A-net model (truncated?)");
    return it->second;
  };
  import_module(*g, group("generator"), path, "generator");
  import_module(*q, group("lowres_estimator"), path, "lowres_estimator");
  // Q's training so far, so that a fine-tuning on tables without widefields still has a trained Q.
  // A model from before that was recorded: its whole step count, an upper bound.
  if (const auto it = m.scalars.find("lowres_estimator_steps"); it != m.scalars.end()) init_q_steps_ = it->second;
  else if (const auto st = m.provenance.find("steps"); st != m.provenance.end()) init_q_steps_ = std::atof(st->second.c_str());
  const auto d_arrays = m.groups.find("discriminator");
  if (d_arrays == m.groups.end()) return "D from fresh weights (a model file holds none)";
  if (m.network.ndf != opt_.network.ndf)
    return fmt::format("D from fresh weights (the checkpoint's D has ndf {}, this training's {})", m.network.ndf, opt_.network.ndf);
  import_module(*d, d_arrays->second, path, "discriminator");
  return "D too (a checkpoint)";
}

std::string init_from_mismatch(const TrainOptions& opt) {
  if (opt.init_from.empty()) return "";
  const ModelFile m = read_model_header(opt.init_from);  // not a model: its InputError names the file
  std::string differ;
  const auto compare = [&](const char* what, const std::string& file_v, const std::string& opt_v) {
    if (file_v != opt_v) differ += fmt::format("{}{} {} (this training: {})", differ.empty() ? "" : ", ", what, file_v, opt_v);
  };
  compare("ngf", std::to_string(m.network.ngf), std::to_string(opt.network.ngf));
  compare("q-nf", std::to_string(m.network.q_nf), std::to_string(opt.network.q_nf));
  compare("decoder", decoder_name(m.network.decoder), decoder_name(opt.network.decoder));
  compare("input channels", std::to_string(m.network.in_channels), std::to_string(opt.network.in_channels));
  compare("pixel-nm", fmt::format("{:g}", m.data.pixel_nm), fmt::format("{:g}", opt.data.pixel_nm));
  if (differ.empty()) return "";
  return "its networks cannot start this training: " + differ +
         "; give the model's settings (--ngf, --q-nf, --decoder, --pixel-nm) to fine-tune it";
}

std::int64_t TrainerCore::restore(const ModelFile& c, const std::string& path) {
  if (c.kind != "checkpoint") throw InputError(path, "is a '" + c.kind + "' file, not a training checkpoint");
  const NetworkConfig& a = c.network;
  const NetworkConfig& b = opt_.network;
  auto differ = [&](const std::string& what, const std::string& file_v, const std::string& opt_v) {
    if (file_v != opt_v)
      throw InputError(path, "checkpoint has " + what + " " + file_v + " but the configuration says " + opt_v +
                                 " (resume needs the same recipe)");
  };
  differ("ngf", std::to_string(a.ngf), std::to_string(b.ngf));
  differ("ndf", std::to_string(a.ndf), std::to_string(b.ndf));
  differ("q_nf", std::to_string(a.q_nf), std::to_string(b.q_nf));
  differ("decoder", decoder_name(a.decoder), decoder_name(b.decoder));
  differ("seed", c.provenance.count("seed") ? c.provenance.at("seed") : "?", std::to_string(opt_.seed));
  auto group = [&](const std::string& name) -> const std::vector<NamedArray>& {
    const auto it = c.groups.find(name);
    if (it == c.groups.end()) throw InputError(path, "checkpoint has no '" + name + "' group (truncated?)");
    return it->second;
  };
  import_module(*g, group("generator"), path, "generator");
  import_module(*d, group("discriminator"), path, "discriminator");
  import_module(*q, group("lowres_estimator"), path, "lowres_estimator");
  if (const auto it = c.scalars.find("init_lowres_estimator_steps"); it != c.scalars.end()) init_q_steps_ = it->second;
  auto moments = [&](const char* net, Adam& opt, const torch::nn::Module& mod) {
    const auto params = mod.named_parameters();
    for (const char* which : {"m", "v"}) {
      const std::string gname = std::string("adam/") + net + "/" + which;
      const auto& arrs = group(gname);
      if (arrs.size() != params.size()) throw InputError(path, "checkpoint group '" + gname + "' has the wrong number of arrays");
      for (std::size_t i = 0; i < params.size(); ++i) {
        torch::Tensor& dst = std::string(which) == "m" ? opt.m()[i] : opt.v()[i];
        if (arrs[i].name != params[i].key() || arrs[i].data.size() != static_cast<std::size_t>(dst.numel()))
          throw InputError(path, "checkpoint array '" + gname + "/" + arrs[i].name + "' does not match parameter '" +
                                     params[i].key() + "'");
        torch::NoGradGuard no_grad;
        dst.copy_(torch::from_blob(const_cast<float*>(arrs[i].data.data()), dst.sizes(), torch::kFloat32).to(dst.device()));
      }
    }
    const auto it = c.scalars.find(std::string("adam_steps_") + net);
    if (it == c.scalars.end()) throw InputError(path, std::string("checkpoint lacks adam_steps_") + net);
    opt.set_steps(static_cast<std::int64_t>(it->second));
  };
  moments("generator", *opt_g, *g);
  moments("discriminator", *opt_d, *d);
  moments("lowres_estimator", *opt_q, *q);
  const auto it = c.scalars.find("step");
  if (it == c.scalars.end()) throw InputError(path, "checkpoint lacks its step");
  return static_cast<std::int64_t>(it->second);
}

// ---------------------------------------------------------------- train()

namespace {

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

constexpr std::size_t kLossTerms = 6;
std::array<double, kLossTerms> loss_terms(const StepLosses& L) { return {L.d, L.q, L.g, L.superres, L.lowres, L.gan}; }

// The value of `key = value` in an INI text ("" if absent).
std::string ini_value(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    auto trim = [](std::string v) {
      v.erase(0, v.find_first_not_of(" \t"));
      v.erase(v.find_last_not_of(" \t\r") + 1);
      return v;
    };
    if (trim(line.substr(0, eq)) == key) return trim(line.substr(eq + 1));
  }
  return "";
}

// Lines naming the tables whose content differs between a checkpoint's training and this one
// (both TrainingData::table_checksums texts; "" when the same). A renamed or moved table with the
// same content is the same table.
std::string changed_tables(const std::string& was, const std::string& now) {
  auto entries = [](const std::string& text) {
    std::vector<std::pair<std::string, std::string>> v;  // checksum, path
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (const auto sp = line.find(' '); sp != std::string::npos) v.emplace_back(line.substr(0, sp), line.substr(sp + 1));
    return v;
  };
  const auto a = entries(was), b = entries(now);
  std::string out;
  if (a.size() != b.size()) out += fmt::format("\n  tables: {} in the checkpoint's training, {} now", a.size(), b.size());
  std::size_t shown = 0, more = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i].first == b[i].first) continue;
    if (shown++ < 5)
      out += fmt::format("\n  table {}: {} {} (localizations, field, widefield or structure id)", i + 1, b[i].second,
                         a[i].second == b[i].second ? "changed since the checkpoint's training"
                                                    : "does not hold what " + a[i].second + " held then");
    else
      ++more;
  }
  if (more) out += fmt::format("\n  ... and {} more tables changed", more);
  return out;
}

// No checkpoint to resume from, yet an earlier training's best model or loss curve beside it (its
// checkpoint deleted, or a training killed before its first checkpoint): this training's first
// validation and step would replace them. They are kept under another name, and said (a loss
// curve alone, of a training that never validated, is replaced as before).
void keep_an_earlier_trainings_files(const std::string& dir) {
  namespace fs = std::filesystem;
  if (!fs::exists(fs::path(dir) / "best.h5")) return;
  // One suffix for both, so that the pair stays recognisable as one training's.
  const std::string suffix = earlier_file_suffix([&](const std::string& x) {
    return fs::exists(fs::path(dir) / ("best." + x + ".h5")) || fs::exists(fs::path(dir) / ("losses." + x + ".csv"));
  });
  for (const auto& [stem, ext] : {std::pair<const char*, const char*>{"best", ".h5"}, {"losses", ".csv"}}) {
    const fs::path from = fs::path(dir) / (std::string(stem) + ext);
    if (!fs::exists(from)) continue;
    std::string what;
    if (std::string(stem) == "best") try {
        const ModelFile b = read_model_header(from.string());
        const auto score = b.scalars.find("validation_ms_ssim"), at = b.scalars.find("validation_step");
        if (score != b.scalars.end() && at != b.scalars.end())
          what = fmt::format(" (validation MS-SSIM {:.4f} at step {})", score->second, static_cast<std::int64_t>(at->second));
      } catch (const std::exception&) {  // not a model: kept all the same
      }
    const fs::path to = fs::path(dir) / fmt::format("{}.{}{}", stem, suffix, ext);
    fs::rename(from, to);
    spdlog::warn("{}{} is an earlier training's (no checkpoint.h5 beside it to resume): kept as {}; this training starts "
                 "afresh",
                 from.string(), what, to.filename().string());
  }
}

}  // namespace

std::optional<ModelFile> check_checkpoint(const TrainOptions& opt, const TrainingData* data) {
  const std::string ckpt_path = opt.checkpoint_dir + "/checkpoint.h5", best_path = opt.checkpoint_dir + "/best.h5";
  if (!std::filesystem::exists(ckpt_path)) return std::nullopt;
  // A training's checkpoint is hours of work: never overwritten by a run that forgot --resume.
  if (!opt.resume)
    throw InputError(ckpt_path, "holds the checkpoint of an earlier training: --resume continues it; to start afresh, "
                                "give another -o (or --checkpoint-dir), or delete " + opt.checkpoint_dir);
  if (!data) return std::nullopt;
  ModelFile c = read_model_file(ckpt_path);
  // Continuing with other data or another recipe would be a different training under the old
  // one's step count and best score.
  std::string changed;
  if (const auto it = c.provenance.find("data"); it != c.provenance.end() && it->second != data->describe())
    changed += "\n  data: " + it->second + " -> " + data->describe();
  // The recipe: optimiser, losses, sampling and augmentation, the validation samples (the best
  // score so far was scored on them: 4 new samples against a best of 8 compared unlike scores),
  // and the simulator's specimen when it makes the data.
  std::vector<const char*> recipe = {"pixel-nm", "crop-px", "lr", "beta1", "beta2", "alpha", "beta", "gamma", "rho",
                                     "lowres-target", "target-quantile", "seed", "p-no-widefield", "p-no-sparse",
                                     "pairs-per-table", "dropout", "no-rotate", "elastic-px", "elastic-spacing-px",
                                     "background-max", "widefield-frames", "validation-samples"};
  if (data->describe().rfind("simulator", 0) == 0)
    recipe.insert(recipe.end(), {"structure", "specimen-seed", "region-um", "filaments-per-100um2", "labels-per-um",
                                 "bundle-fraction", "pore-occupancy", "cell-radius-um", "cell-fraction", "gradient",
                                 "sigma-loc-nm", "locs-per-label", "photons-per-label", "background-photons",
                                 "wf-shift-max-px"});
  if (const auto it = c.provenance.find("config"); it != c.provenance.end())
    for (const char* key : recipe) {
      const std::string was = ini_value(it->second, key), now = ini_value(opt.config_text, key);
      if (was.empty() || now.empty() || was == now) continue;
      // Numbers are compared as numbers: earlier versions wrote 0.0005 as 0.00050000000000000001.
      char* a_end = nullptr;
      char* b_end = nullptr;
      const double a = std::strtod(was.c_str(), &a_end), b = std::strtod(now.c_str(), &b_end);
      if (*a_end == '\0' && *b_end == '\0' && a == b) continue;
      changed += fmt::format("\n  {}: {} -> {}", key, was, now);
    }
  // The model a fine-tuning started from, by its file (a bare name and its path are one file; the
  // file need not be there any more: the weights come from the checkpoint). Not given on a resume:
  // the checkpoint's record stands.
  if (const auto it = c.provenance.find("init_from"); !opt.init_from.empty()) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const std::string was = it == c.provenance.end() ? std::string("(none: fresh weights)") : it->second;
    const bool same = it != c.provenance.end() &&
                      (fs::weakly_canonical(it->second, ec) == fs::weakly_canonical(opt.init_from, ec) ||
                       (opt.init_from.find('/') == std::string::npos && fs::path(it->second).filename() == opt.init_from));
    if (!same) changed += fmt::format("\n  init-from: {} -> {}", was, opt.init_from);
  }
  // A table's record depends on the pixel size and seed too: compared only once the settings
  // agree, so that a changed --pixel-nm is not also reported as every table changed.
  if (const auto it = c.provenance.find("data_tables"); it != c.provenance.end() && changed.empty())
    changed += changed_tables(it->second, data->table_checksums());
  if (!changed.empty())
    throw InputError(ckpt_path, "was trained with other settings; --resume needs the same ones:" + changed +
                                    "\n(to train with the new ones, give another -o or --checkpoint-dir)");
  // At --steps already (a finished training resubmitted with --resume): only the model is written
  // again. Beyond it: the user asked for fewer steps than were made.
  const auto step = c.scalars.find("step");
  if (step != c.scalars.end() && static_cast<std::int64_t>(step->second) > opt.steps)
    throw InputError(ckpt_path, fmt::format("is at step {} already: give --steps {} or more{}",
                                            static_cast<std::int64_t>(step->second), static_cast<std::int64_t>(step->second),
                                            std::filesystem::exists(best_path)
                                                ? " (its best-validated model is " + best_path + ")"
                                                : std::string(" (it has no validated model yet)")));
  return c;
}

DegenerateOutput degenerate_output(double score, double blank_score, double lit_ratio, double widest_range) {
  if (std::abs(score - blank_score) < 0.02 && lit_ratio < 0.25) return DegenerateOutput::kBlank;
  if (widest_range < 0.02) return DegenerateOutput::kFlat;
  return DegenerateOutput::kNone;
}

TrainSummary train(const TrainOptions& opt) {
  if (opt.steps <= 0) throw InputError("steps", "must be > 0");
  if (opt.checkpoint_dir.empty()) throw InputError("checkpoint-dir", "must be given");
  if (opt.lowres_target != "q-of-t" && opt.lowres_target != "widefield")
    throw InputError("lowres-target", "must be q-of-t or widefield, not '" + opt.lowres_target + "'");
  const torch::Device device = resolve_device(opt.device);  // the same rule as inference
  if (opt.threads > 0) torch::set_num_threads(opt.threads);
  const std::string ckpt_path = opt.checkpoint_dir + "/checkpoint.h5", best_path = opt.checkpoint_dir + "/best.h5";
  const bool have_checkpoint = std::filesystem::exists(ckpt_path);
  if (have_checkpoint && !opt.resume) check_checkpoint(opt, nullptr);  // refuses, before the data are read
  if (opt.resume && !have_checkpoint)
    spdlog::info("--resume: no checkpoint in {} yet; starting afresh", opt.checkpoint_dir);

  const TrainingData data(opt.data);
  const std::optional<ModelFile> resumed = check_checkpoint(opt, &data);  // read once, used below
  TrainerCore core(opt, device);
  // Stopped while the data were read or the networks made (a pre-emption soon after the start):
  // nothing trained since the checkpoint: exit 75 now, before the folder is touched, not after
  // another step.
  if (opt.stop_requested && opt.stop_requested())
    throw Stopped(resumed ? "training stopped before its next step: nothing new to save; the same command with --resume "
                            "continues"
                          : "training stopped before its first step: nothing was written; the same command starts it");
  // Only once the data are read: a refused dataset leaves no empty checkpoint folder behind.
  std::filesystem::create_directories(opt.checkpoint_dir);
  if (opt.on_checkpoint_dir_made) opt.on_checkpoint_dir_made();
  if (!resumed) keep_an_earlier_trainings_files(opt.checkpoint_dir);  // once the folder is this training's
  // Only the files training writes there: --checkpoint-dir may be a folder with other files, one
  // of them named like a temporary (notes.tmp.999999, probe50).
  std::size_t removed_files = 0;
  std::uintmax_t removed_bytes = 0;
  for (const char* name : {"checkpoint.h5", "best.h5", "losses.csv"}) {
    const auto [n, bytes] = remove_abandoned_temporaries(opt.checkpoint_dir, /*only_dead_writers=*/true, name);
    removed_files += n, removed_bytes += bytes;
  }
  if (removed_files > 0)
    spdlog::info("removed {} temporary file(s) ({:.1f} MB) left in {} by a training that was killed", removed_files,
                 removed_bytes / 1e6, opt.checkpoint_dir);
  if (!opt.output.empty()) {  // and beside the final model (a kill while it was written)
    const std::filesystem::path model(opt.output);
    const std::string dir = model.has_parent_path() ? model.parent_path().string() : std::string(".");
    if (const auto [n, bytes] = remove_abandoned_temporaries(dir, /*only_dead_writers=*/true, model.filename().string()); n > 0)
      spdlog::info("removed {} temporary file(s) ({:.1f} MB) of {} left by a training that was killed", n, bytes / 1e6,
                   opt.output);
  }
  const ParameterCounts pc{parameter_count(*core.g), parameter_count(*core.d), parameter_count(*core.q)};
  spdlog::info("A-net: G {} parameters (ngf {}, {}), D {} (ndf {}), Q {}; data: {}", pc.generator, opt.network.ngf,
               decoder_name(opt.network.decoder), pc.discriminator, opt.network.ndf, pc.estimator, data.describe());

  TrainSummary sum;
  double elapsed_before = 0;
  if (resumed) {
    const ModelFile& c = *resumed;
    sum.first_step = core.restore(c, ckpt_path);
    if (c.scalars.count("best_score")) sum.best_score = c.scalars.at("best_score");
    if (c.scalars.count("best_step")) sum.best_step = static_cast<std::int64_t>(c.scalars.at("best_step"));
    // A resume of a diverged training at --steps makes no validation of its own: the blank ones
    // before it still count.
    if (c.scalars.count("blank_validations")) sum.blank_validations = static_cast<int>(c.scalars.at("blank_validations"));
    if (c.scalars.count("elapsed_s")) elapsed_before = c.scalars.at("elapsed_s");
    // best.h5 is written at every better validation, the checkpoint every --checkpoint-every
    // steps: a kill between the two leaves a best.h5 later and better than the checkpoint knows.
    // It is a validated model of this training, so it stays the best under its own score and
    // step (the replayed steps need not reproduce it bit for bit on another machine).
    if (std::filesystem::exists(best_path)) {
      const ModelFile b = read_model_header(best_path);
      const auto score = b.scalars.find("validation_ms_ssim"), at = b.scalars.find("validation_step");
      if (score != b.scalars.end() && at != b.scalars.end() && score->second > sum.best_score &&
          static_cast<std::int64_t>(at->second) > sum.best_step) {
        spdlog::info("{} (validation MS-SSIM {:.4f} at step {}) was saved after the checkpoint: it stays the best model",
                     best_path, score->second, static_cast<std::int64_t>(at->second));
        sum.best_score = score->second;
        sum.best_step = static_cast<std::int64_t>(at->second);
      }
    }
    spdlog::info("resumed from {} at step {}", ckpt_path, sum.first_step);
    if (sum.first_step == opt.steps) spdlog::info("the checkpoint is at step {} = --steps: nothing to train", opt.steps);
  }
  if (!resumed && !opt.init_from.empty()) {
    if (const std::string why = init_from_mismatch(opt); !why.empty()) throw InputError(opt.init_from, why);
    const std::string d_from = core.start_from(read_model_file(opt.init_from), opt.init_from);
    spdlog::info("fine-tuning: G and Q start from {}, {}; the optimisers start afresh", opt.init_from, d_from);
  } else if (resumed && !opt.init_from.empty()) {
    spdlog::info("--init-from {}: not read, the checkpoint holds every weight of this training", opt.init_from);
  }

  std::map<std::string, std::string> prov;
  prov["command"] = opt.command_line;
  prov["config"] = opt.config_text;
  prov["data"] = data.describe();
  // Inference refuses other switch ids: their weights never had a gradient (M = 0 multiplies them).
  prov["switch_ids"] = fmt::format("{}", fmt::join(data.switch_ids(), ","));
  if (const std::string t = data.table_checksums(); !t.empty()) prov["data_tables"] = t;
  if (const std::string t = data.table_files(); !t.empty()) prov["data_files"] = t;
  if (const std::string t = data.table_contents(); !t.empty()) prov["data_content"] = t;
  prov["annamosaic_version"] = annamosaic_version();
  prov["libtorch_version"] = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
                             std::to_string(TORCH_VERSION_PATCH);
  prov["device"] = opt.device;
  // Where the weights first came from: the started-from model's, or on a resume the checkpoint's
  // record (given again or not: probe101's resume without it erased it).
  if (resumed) {
    for (const char* k : {"init_from", "init_from_checksum"})
      if (const auto it = resumed->provenance.find(k); it != resumed->provenance.end()) prov[k] = it->second;
  } else if (!opt.init_from.empty()) {
    prov["init_from"] = opt.init_from;
    prov["init_from_checksum"] = file_checksum(opt.init_from);
  }

  std::vector<PreparedSample> validation;
  // What the validation score means: the same samples' sparse histograms against T, scored as
  // `evaluate` scores the histogram. A model below it does worse than S itself.
  // (Over the samples that have an S: one drawn without it, as training draws some, has no
  // histogram to compare.)
  double histogram_score = 0;
  std::size_t with_s = 0;
  for (int i = 0; i < (opt.validate_every > 0 ? opt.validation_samples : 0); ++i) {
    const TrainingSample v = data.validation_sample(static_cast<std::uint64_t>(i));
    if (v.localizations > 0) {
      histogram_score += ms_ssim_wang(normalise_to_unit(v.sparse.view(), opt.target_quantile).view(),
                                      normalise_to_unit(v.target.view(), opt.target_quantile).view());
      ++with_s;
    }
    validation.push_back(core.prepare(v));
  }
  if (with_s > 0) {
    histogram_score /= static_cast<double>(with_s);
    sum.histogram_score = histogram_score;
    spdlog::info("validation: {} samples; the sparse histograms of the {} with an S score MS-SSIM {:.4f} against T (the "
                 "baseline the model should beat)", validation.size(), with_s, histogram_score);
  } else if (!validation.empty()) {
    // Said, or the baseline the README promises on every validation line is missing unexplained.
    spdlog::warn("validation: none of its {} sample(s) has a sparse image S ({}): no histogram baseline to compare the "
                 "scores with{}",
                 validation.size(),
                 opt.data.p_no_sparse >= 1 ? std::string("--p-no-sparse 1 draws every sample without one")
                                           : fmt::format("each drawn without one, as --p-no-sparse {:g} draws some", opt.data.p_no_sparse),
                 opt.data.p_no_sparse >= 1 ? std::string() : std::string("; give more --validation-samples"));
  }
  // A blank image scores high against targets that are mostly background (higher than a model in
  // its first thousand steps): a generator that has gone blank (a diverged training) would be kept
  // as the best. The blank image's own score is the tell.
  double blank_score = 0;
  for (const PreparedSample& p : validation) {
    const ImageF t = tensor_to_image(p.t01);
    ImageF blank(t.width(), t.height());
    blank_score += ms_ssim_wang(blank.view(), t.view());
  }
  if (!validation.empty()) {
    blank_score /= static_cast<double>(validation.size());
    spdlog::info("validation: a blank image scores MS-SSIM {:.4f} on these samples (a model at that score whose outputs "
                 "are nearly blank reconstructs nothing: it is not kept as the best)", blank_score);
  }
  // A score near the blank image's is not enough to tell (a training passes through it on its
  // way up): the output must be nearly blank too, lit on under a quarter of the pixels T lights.
  const auto lit = [](const ImageF& a) {
    return static_cast<double>(std::count_if(a.data(), a.data() + a.size(), [](float v) { return v > 0.01f; }));
  };
  double lit_ratio = 1;      // of the last validation: pixels lit in the outputs / in the targets
  double widest_range = 0;   // ... and the largest max - min of an output
  auto validate = [&]() {
    double s = 0, lit_out = 0, lit_target = 0;
    widest_range = 0;
    for (const PreparedSample& p : validation) {
      const ImageF a = tensor_to_image(core.predict(p)), t = tensor_to_image(p.t01);
      s += ms_ssim_wang(a.view(), t.view());
      lit_out += lit(a);
      lit_target += lit(t);
      if (a.size() > 0) {
        const auto [lo, hi] = std::minmax_element(a.data(), a.data() + a.size());
        widest_range = std::max(widest_range, static_cast<double>(*hi - *lo));
      }
    }
    lit_ratio = lit_target > 0 ? lit_out / lit_target : 1;
    return validation.empty() ? -1.0 : s / static_cast<double>(validation.size());
  };

  const auto t0 = std::chrono::steady_clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  auto save_checkpoint = [&](std::int64_t step) {
    ModelFile c = core.checkpoint(prov, step);
    c.scalars["best_score"] = sum.best_score;
    c.scalars["best_step"] = static_cast<double>(sum.best_step);
    c.scalars["blank_validations"] = sum.blank_validations;
    c.scalars["elapsed_s"] = elapsed_before + seconds();
    write_model_file(ckpt_path, c);
  };
  auto model_provenance = [&](std::int64_t step) {
    std::map<std::string, std::string> p = prov;
    p["steps"] = std::to_string(step);
    p["training_seconds"] = std::to_string(std::lround(elapsed_before + seconds()));
    p["created"] = utc_now();
    return p;
  };

  // The loss curve, one line per step (CHECKPOINT_DIR/losses.csv): a resumed training drops the
  // lines after its checkpoint (those steps are made again).
  const std::string losses_path = opt.checkpoint_dir + "/losses.csv";
  {
    std::string kept = "step,d,q,g,superres,lowres,gan,validation_ms_ssim\n";
    long long dropped = 0, last_dropped = 0;
    if (sum.first_step > 0)
      if (std::ifstream in(losses_path); in) {
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
          if (line.empty()) continue;
          const long long step = std::strtoll(line.c_str(), nullptr, 10);
          if (step <= sum.first_step) kept += line + "\n";
          else ++dropped, last_dropped = std::max(last_dropped, step);
        }
      }
    write_file_atomic(losses_path, kept);
    // Said: the curve loses lines a user may have plotted (probe96: cut back silently).
    if (dropped > 0)
      spdlog::info("{}: the {} line(s) of steps {}..{}, made after the checkpoint, are dropped (those steps are made "
                   "again)", losses_path, dropped, sum.first_step + 1, last_dropped);
  }
  std::ofstream losses(losses_path, std::ios::app);
  if (!losses) throw IoError(losses_path, std::string("cannot open for appending: ") + std::strerror(errno));

  // The next sample is made while the current step trains (each is a pure function of its index).
  std::future<TrainingSample> next = std::async(std::launch::async, [&data, s = sum.first_step] { return data.sample(static_cast<std::uint64_t>(s)); });
  double last_log = 0, window_start_time = 0;
  std::int64_t window_start_step = sum.first_step;
  StepLosses L;
  std::array<double, kLossTerms> window_sum{};
  int window_count = 0, window_wf = 0;
  for (std::int64_t step = sum.first_step + 1; step <= opt.steps; ++step) {
    TrainingSample sample = next.get();
    if (step < opt.steps)
      next = std::async(std::launch::async, [&data, step] { return data.sample(static_cast<std::uint64_t>(step)); });
    L = core.step(sample, step);
    if (!std::isfinite(L.g) || !std::isfinite(L.d)) throw Error("training diverged at step " + std::to_string(step) + " (loss is not finite)");
    const double now = seconds();
    double score = -1;
    // The last step too: a training continued past its last validation would otherwise return the
    // same best model without having looked at the steps since (probe93).
    if (opt.validate_every > 0 && !validation.empty() && (step % opt.validate_every == 0 || step == opt.steps)) {
      score = validate();
      const DegenerateOutput degenerate = degenerate_output(score, blank_score, lit_ratio, widest_range);
      const bool blank = degenerate != DegenerateOutput::kNone;
      if (degenerate == DegenerateOutput::kBlank)
        spdlog::warn("step {}: the validation score is a blank image's ({:.4f}) and the outputs light {:.1f}% of the "
                     "pixels the targets light: the generator reconstructs nothing, the training has diverged (G {:.4g}, "
                     "D {:.4g}; a lower --lr?). Not kept as the best model",
                     step, blank_score, 100 * lit_ratio, L.g, L.d);
      else if (degenerate == DegenerateOutput::kFlat)
        spdlog::warn("step {}: the validation outputs are flat (one value everywhere: max - min {:.3g} at most) and light "
                     "{:.1f}% of the pixels the targets light: the generator reconstructs nothing, the training has "
                     "diverged (G {:.4g}, D {:.4g}; a lower --lr?). Not kept as the best model",
                     step, widest_range, 100 * lit_ratio, L.g, L.d);
      if (blank) ++sum.blank_validations;
      const double best_now = blank ? sum.best_score : std::max(sum.best_score, score);
      spdlog::info("step {}: validation MS-SSIM {:.4f}{} ({}{})", step, score, blank ? " (blank or flat output)" : "",
                   with_s > 0 ? fmt::format("histogram of S {:.4f}; ", histogram_score) : std::string(),
                   best_now < 0 ? std::string("no best model yet")
                                : fmt::format("best {:.4f} at step {}", best_now,
                                              !blank && score > sum.best_score ? step : sum.best_step));
      if (!blank && score > sum.best_score) {
        sum.best_score = score;
        sum.best_step = step;
        ModelFile best = core.model_file(model_provenance(step));
        best.scalars["validation_ms_ssim"] = score;
        best.scalars["validation_step"] = static_cast<double>(step);
        write_model_file(best_path, best);
      }
    }
    // Q and the low-resolution term exist only for samples with a widefield: empty cells, not 0.
    const auto wf_only = [&](double v) { return L.widefield ? fmt::format("{:.6g}", v) : std::string(); };  // as the others
    losses << step << ',' << L.d << ',' << wf_only(L.q) << ',' << L.g << ',' << L.superres << ',' << wf_only(L.lowres) << ','
           << L.gan << ',' << (score >= 0 ? std::to_string(score) : std::string()) << '\n';
    losses.flush();
    // A full disk: the loss curve would stop silently while training went on.
    if (!losses) throw IoError(losses_path, "cannot write the losses of step " + std::to_string(step) + " (disk full?)");
    for (std::size_t k = 0; k < kLossTerms; ++k) window_sum[k] += loss_terms(L)[k];
    ++window_count;
    window_wf += L.widefield;
    const bool stop = step < opt.steps && opt.stop_requested && opt.stop_requested();  // the last step: finish
    if (step % opt.checkpoint_every == 0 || step == opt.steps || stop) save_checkpoint(step);
    if (stop)
      throw Stopped(fmt::format("training stopped after step {} of {}; checkpoint saved in {}: the same command with "
                                "--resume continues",
                                step, opt.steps, ckpt_path));
    if (now - last_log >= opt.log_every_s || step == opt.steps || step == sum.first_step + 1) {
      const double rate = (step - window_start_step) / std::max(1e-9, now - window_start_time);
      // Means since the last line: one sample's losses jump with its content (widefield or not).
      // Q and LowRes over the steps that had a widefield only (the others have neither).
      std::array<double, kLossTerms> m{};
      for (std::size_t k = 0; k < kLossTerms; ++k) m[k] = window_sum[k] / std::max(1, window_count);
      const auto wf_mean = [&](std::size_t k) {
        return window_wf > 0 ? fmt::format("{:.4f}", window_sum[k] / window_wf) : std::string("-");
      };
      spdlog::info("step {}/{}: mean of {} step(s): D {:.4f} Q {} G {:.3f} (SR {:.4f} LowRes {} GAN {:.4f}; Q and LowRes of "
                   "the {} with a widefield) | {:.2f} steps/s | ETA {}",
                   step, opt.steps, window_count, m[0], wf_mean(1), m[2], m[3], wf_mean(4), m[5], window_wf, rate,
                   duration_text((opt.steps - step) / std::max(rate, 1e-9)));
      window_sum.fill(0);
      window_count = 0;
      window_wf = 0;
      last_log = now;
      window_start_time = now;
      window_start_step = step;
    }
  }
  sum.last_step = opt.steps;
  sum.last_g_loss = L.g;
  sum.seconds = seconds();
  if (!opt.output.empty()) {
    if (sum.best_score >= 0 && std::filesystem::exists(best_path)) {
      ModelFile best = read_model_file(best_path);
      best.provenance["note"] = "best validation score at step " + std::to_string(sum.best_step) + " of " + std::to_string(opt.steps);
      write_model_file(opt.output, best);
    } else {
      // A model that reconstructs blank images is no model: nothing is written under its name.
      if (sum.blank_validations > 0)
        throw InputError(fmt::format("--lr {}", opt.lr),
                         fmt::format("the training diverged: every validation ({}) gave a blank or flat output (the "
                                     "generator reconstructs nothing), so no model was written to {}. Train again from "
                                     "scratch (another -o or --checkpoint-dir) with a lower --lr (the paper's is 2e-4; "
                                     "configs/train-microtubules-demo.ini takes 5e-4 for its short run)",
                                     sum.blank_validations, opt.output));
      write_model_file(opt.output, core.model_file(model_provenance(opt.steps)));
    }
    spdlog::info("wrote {}", opt.output);
  }
  return sum;
}

}  // namespace annamosaic::anet
