#include "cli/model_file.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "anet/model_file.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/log.hpp"

namespace annamosaic::cli {
namespace fs = std::filesystem;

std::vector<std::string> model_search_dirs() {
  std::vector<std::string> dirs;
  // A list like PATH, as module files set it; empty entries are skipped.
  if (const char* env = std::getenv("ANNAMOSAIC_MODELS"); env && *env) {
    std::string list = env;
    for (std::size_t start = 0; start <= list.size();) {
      const std::size_t end = std::min(list.find(':', start), list.size());
      if (end > start) dirs.push_back(list.substr(start, end - start));
      start = end + 1;
    }
  }
  std::error_code ec;
  for (std::string& d : dirs) d = fs::absolute(d, ec).lexically_normal().string();  // said as searched
  const fs::path exe = fs::weakly_canonical(fs::read_symlink("/proc/self/exe", ec), ec);
  if (exe.empty()) return dirs;
  // The source tree's models only for the binary in its build tree (which has no share/): an
  // installed copy that lost its share/ folder must say so, not quietly use a build host's tree
  // that happens to be mounted.
  if (const fs::path built = fs::weakly_canonical(ANNAMOSAIC_BUILD_EXE_DIR, ec); !ec && exe.parent_path() == built)
    dirs.push_back(ANNAMOSAIC_SOURCE_DIR "/models");
  else
    dirs.push_back((exe.parent_path().parent_path() / "share/annamosaic/models").string());  // cmake --install
  // Each folder once (ANNAMOSAIC_MODELS naming the source tree's models/ was listed twice).
  std::vector<std::string> unique;
  for (const std::string& d : dirs)
    if (std::find(unique.begin(), unique.end(), d) == unique.end()) unique.push_back(d);
  return unique;
}

std::string resolve_model(const std::string& name, const std::string& option) {
  std::error_code ec;
  // A folder is the option's slip (exit 1, as a name that finds no file); a training's folder
  // (NAME.train) holds the model it means.
  if (fs::is_directory(name, ec)) {
    const fs::path best = fs::path(name) / "best.h5";
    throw UsageError(option + " " + name + ": is a folder, not a model file" +
                     (fs::is_regular_file(best, ec) ? "; did you mean " + best.string() +
                                                          " (the best model of the training it holds so far)?"
                                                    : std::string()));
  }
  if (fs::exists(name, ec)) return name;
  // A folder on its path that this user cannot enter: not "not found".
  const auto denied = [](const std::error_code& e) {
    return e == std::errc::permission_denied || e == std::errc::operation_not_permitted;
  };
  if (denied(ec)) throw IoError(name, "cannot look the model file up: " + ec.message() + " (a folder on its path you cannot enter)");
  const std::string here = fs::current_path(ec).string();
  if (name.find('/') != std::string::npos)
    throw UsageError(option + " " + name + ": file not found" +
                     (fs::path(name).is_relative() ? " (relative to the working folder " + here + ")" : std::string()) +
                     "; a bare name such as anet-microtubules-ngf16.h5 is also looked for in $ANNAMOSAIC_MODELS and the "
                     "models folder annamosaic was built or installed with");
  const std::vector<std::string> dirs = model_search_dirs();
  // Folders this user cannot search are said: a same-named model found further on is not the
  // one in the folder the user set up.
  std::vector<std::string> unsearchable;
  const auto found = [&](const fs::path& p) {
    static std::atomic<bool> said{false};  // run looks its model up several times: said once
    if (!unsearchable.empty() && !said.exchange(true))
      spdlog::warn("model folder(s) {} cannot be searched: using {}", fmt::join(unsearchable, ", "), p.string());
    return p.string();
  };
  // The first file of that name (a folder of that name in an earlier place does not hide it).
  for (const auto& d : dirs) {
    std::error_code e;
    if (const fs::path p = fs::path(d) / name; fs::is_regular_file(p, e)) return found(p);
    if (denied(e)) unsearchable.push_back(d + " (" + e.message() + ")");
  }
  for (const auto& d : dirs)
    if (const fs::path p = fs::path(d) / name; fs::exists(p, ec)) return found(p);  // said by its reader
  std::string where = "the working folder " + here;
  for (const auto& d : dirs) where += ", " + d;
  if (!unsearchable.empty())
    throw IoError(option + " " + name, "not found, and folder(s) " + fmt::format("{}", fmt::join(unsearchable, ", ")) +
                                         " cannot be searched by this user (searched: " + where + ")");
  throw UsageError(option + " " + name + ": file not found in " + where +
                   "; give its path, or set ANNAMOSAIC_MODELS to the folder(s) holding it (':' between folders)");
}

std::string model_pixel_refusal(const std::string& model, double model_pixel_nm, double run_pixel_nm) {
  // The network has learned structures at its pixel size (reconstruct refuses another one too).
  if (model_pixel_nm <= 0 || run_pixel_nm <= 0 || std::abs(model_pixel_nm - run_pixel_nm) <= 1e-6) return "";
  return fmt::format("{} was trained at {:g} nm pixels, the run renders at {:g} nm (--pixel-nm): give --pixel-nm {:g}, or "
                     "a model trained at {:g} nm",
                     model, model_pixel_nm, run_pixel_nm, model_pixel_nm, run_pixel_nm);
}

void check_model_switch(const std::string& model_path, int switch_id, const std::string& setting,
                        const std::string& input_file) {
  const anet::ModelFile m = anet::read_model_header(model_path);
  const std::string refusal = anet::switch_id_refusal(model_path, m, switch_id, setting);
  if (refusal.empty()) return;
  if (!input_file.empty()) throw InputError(input_file, refusal);
  throw UsageError(refusal);
}

std::string check_model_for_run(const std::string& name, double run_pixel_nm, bool read_arrays) {
  const std::string model = resolve_model(name);
  const anet::ModelFile m = read_arrays ? anet::read_model_file(model) : anet::read_model_header(model);
  if (const std::string refusal = model_pixel_refusal(model, m.data.pixel_nm, run_pixel_nm); !refusal.empty())
    throw UsageError(refusal);
  return model;
}

}  // namespace annamosaic::cli
