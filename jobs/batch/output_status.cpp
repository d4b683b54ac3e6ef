#include "batch/output_status.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "batch/input_stamp.hpp"
#include "batch/manifest.hpp"

namespace annamosaic {
namespace fs = std::filesystem;

RunPace latest_run_pace(const std::vector<std::string>& event_lines) {
  RunPace pace;
  double previous = -1;
  for (const std::string& line : event_lines) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("t_s") || !j["t_s"].is_number()) continue;  // a torn last line
    const double t = j["t_s"].get<double>();
    if (t < previous) pace = RunPace{};  // a later invocation started
    ++pace.fovs;
    pace.seconds = t;
    previous = t;
  }
  return pace;
}

std::optional<std::string> output_lock_holder(const std::string& out_dir) {
  const std::string path = out_dir + "/.annamosaic.lock";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;  // no run ever locked it
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  std::optional<std::string> who;
  if (::fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
    char text[256] = {0};
    const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
    std::string s = n > 0 ? std::string(text, static_cast<std::size_t>(n)) : "pid " + std::to_string(fl.l_pid);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    who = s;
  }
  ::close(fd);
  return who;
}

OutputStatus read_output_status(const std::string& out_dir, const std::vector<FovEntry>* plan) {
  OutputStatus st;
  st.out_dir = out_dir;
  std::error_code ec;
  st.exists = fs::is_directory(out_dir, ec);
  if (!st.exists) return st;
  std::set<int> ids;
  if (plan) {
    st.plan_known = true;
    st.planned = plan->size();
    for (const FovEntry& f : *plan) ids.insert(f.id);
  }

  const std::string manifest_path = out_dir + "/manifest.jsonl";
  if (fs::exists(manifest_path, ec)) {
    for (const auto& [id, r] : Manifest(manifest_path).load()) {
      if (plan && !ids.count(id)) {
        ++st.not_in_plan;
        continue;
      }
      if (r.status == "done") {
        if (fs::is_regular_file(out_dir + "/" + r.file, ec)) ++st.done;
        else ++st.missing_results;
      } else {
        ++st.failed;
        st.failed_reasons.emplace_back(id, r.reason);
      }
    }
    struct stat s {};
    if (::stat(manifest_path.c_str(), &s) == 0) {
      const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count();
      st.since_last_record_s = static_cast<double>(now - mtime_ns(s)) * 1e-9;
    }
  }
  {
    std::ifstream in(out_dir + "/events.jsonl");
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(std::move(line));
    st.pace = latest_run_pace(lines);
  }
  st.running = output_lock_holder(out_dir);

  if (std::ifstream in(out_dir + "/stitch_summary.json"); in) {
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded() && j.is_object()) {
      st.stitch_summary = true;
      st.mosaic_width_px = j.value("mosaic_width_px", std::size_t{0});
      st.mosaic_height_px = j.value("mosaic_height_px", std::size_t{0});
    }
  }
  if (std::ifstream in(out_dir + "/qc/qc.json"); in) {
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded() && j.is_object() && j.contains("fovs") && j["fovs"].is_array()) {
      st.qc_report = true;
      for (const auto& f : j["fovs"])
        if (f.is_object() && f.contains("flags") && f["flags"].is_array() && !f["flags"].empty()) ++st.qc_flagged;
    }
  }
  return st;
}

}  // namespace annamosaic
