#include "batch/output_status.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <tbb/parallel_for.h>

#include "batch/input_stamp.hpp"
#include "batch/manifest.hpp"
#include "batch/output_lock.hpp"
#include "core/atomic_file.hpp"
#include "core/checksum.hpp"
#include "core/progress.hpp"

namespace annamosaic {
namespace fs = std::filesystem;

RunPace latest_run_pace(const std::vector<std::string>& event_lines) {
  RunPace pace;
  double previous = -1, start = 0;
  for (const std::string& line : event_lines) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("t_s") || !j["t_s"].is_number()) continue;  // a torn last line
    const double t = j["t_s"].get<double>();
    if (j.contains("event") && j["event"] == "start") {  // a later invocation started its FoVs here
      pace = RunPace{};
      if (j.contains("to_process") && j["to_process"].is_number_integer()) pace.to_process = j["to_process"].get<long long>();
      previous = start = t;
      continue;
    }
    if (t < previous) pace = RunPace{}, start = 0;  // the same, from a run that wrote no start line
    if (++pace.fovs == 1) pace.first_s = t - start;
    pace.seconds = t - start;
    if (pace.seconds <= 1.25 * pace.first_s) pace.wave_fovs = pace.fovs, pace.wave_s = pace.seconds;
    previous = t;
  }
  return pace;
}

namespace {
// A JSON file as an object, or nullopt when it is absent, not a regular file, unreadable or not
// a JSON object (a status reports on what is there; it must not fail on what a kill left).
std::optional<nlohmann::json> json_object_file(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream in(path);
  std::string text;
  try {
    text.assign(std::istreambuf_iterator<char>(in), {});
  } catch (const std::exception&) {
    return std::nullopt;
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}
std::size_t count_of(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number_unsigned() ? j[key].get<std::size_t>() : 0;
}
}  // namespace

OutputStatus read_output_status(const std::string& out_dir, const std::vector<FovEntry>* plan, bool verify_results) {
  OutputStatus st;
  st.out_dir = out_dir;
  std::error_code ec;
  st.exists = fs::is_directory(out_dir, ec);
  std::set<int> ids;
  std::map<int, const FovEntry*> entries;
  // A FoV recorded as not acquired whose files have come since (looked at for those alone).
  const auto arrived = [&](int id, const ManifestRecord& r) {
    const auto it = entries.find(id);
    return it != entries.end() && !still_not_acquired(*it->second, r.extra.value("widefield_present", false));
  };
  if (plan) {  // known before the run starts: a campaign list counts a grid not started yet too
    st.plan_known = true;
    st.planned = plan->size();
    for (const FovEntry& f : *plan) ids.insert(f.id), entries[f.id] = &f;
  }
  if (!st.exists) return st;

  const std::string manifest_path = out_dir + "/manifest.jsonl";
  st.run_started = fs::exists(manifest_path, ec) || fs::exists(out_dir + "/events.jsonl", ec);
  if (fs::is_regular_file(manifest_path, ec)) {
    std::map<int, ManifestRecord> records;
    std::vector<std::size_t> not_records;
    try {
      records = Manifest(manifest_path).load(&not_records);
    } catch (const std::exception& e) {
      st.problem = manifest_path + ": " + e.what();
    }
    // A damaged manifest is said (a run goes on and redoes those FoVs; status cannot vouch).
    if (!not_records.empty() && st.problem.empty())
      st.manifest_damaged = manifest_path + ": line " + std::to_string(not_records.front()) + " is not a FoV record" +
                            (not_records.size() > 1 ? " (and " + std::to_string(not_records.size() - 1) + " more)" : "") +
                            " (edited, or damaged)";
    std::vector<std::pair<int, const ManifestRecord*>> to_verify;
    for (const auto& [id, r] : records) {
      if (plan && !ids.count(id)) {
        ++st.not_in_plan;
        continue;
      }
      if (r.status == "done") {
        const std::string problem = recorded_result_problem(out_dir, r);
        const bool present = fs::is_regular_file(out_dir + "/" + r.file, ec);
        if (present && !problem.empty()) {  // cut short or copied over: seen without reading it
          ++st.damaged_results;
          st.recorded[id] = RecordedFov::result_damaged;
          st.damaged.emplace_back(id, problem);
          continue;
        }
        ++(present ? st.done : st.missing_results);
        st.recorded[id] = present ? RecordedFov::done : RecordedFov::result_missing;
        if (present && verify_results) to_verify.emplace_back(id, &r);
      } else if (r.not_acquired() && arrived(id, r)) {
        continue;  // its files are there now: not done, the next run does it
      } else if (r.not_acquired()) {
        ++st.failed, ++st.not_acquired;  // failed for the run's verdict (exit 5), said apart
        st.recorded[id] = RecordedFov::not_acquired;
        st.not_acquired_ids.push_back(id);
      } else {
        ++st.failed;
        st.recorded[id] = RecordedFov::failed;
        st.failed_reasons.emplace_back(id, r.reason);
      }
    }
    st.verified = verify_results;
    if (verify_results && !to_verify.empty()) {
      std::vector<std::string> why(to_verify.size());  // "" when the file matches
      Progress progress("verifying FoV results", to_verify.size(), "FoVs");
      tbb::parallel_for(std::size_t{0}, to_verify.size(), [&](std::size_t i) {
        const ManifestRecord& r = *to_verify[i].second;
        try {  // (a record without a checksum has nothing to compare with)
          if (!r.checksum.empty() && file_checksum_as(out_dir + "/" + r.file, r.checksum) != r.checksum)
            why[i] = r.file + " does not match its recorded checksum";
        } catch (const std::exception& e) {
          why[i] = e.what();
        }
        progress.advance();
      });
      progress.finish();
      for (std::size_t i = 0; i < to_verify.size(); ++i) {
        if (why[i].empty()) continue;
        --st.done;
        ++st.damaged_results;
        st.recorded[to_verify[i].first] = RecordedFov::result_damaged;
        st.damaged.emplace_back(to_verify[i].first, why[i]);
      }
    }
    std::sort(st.damaged.begin(), st.damaged.end());  // by id: size and checksum mismatches both
    struct stat s {};
    if (!records.empty() && ::stat(manifest_path.c_str(), &s) == 0) {
      const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count();
      st.since_last_record_s = static_cast<double>(now - mtime_ns(s)) * 1e-9;
    }
  } else if (fs::exists(manifest_path, ec)) {
    st.problem = manifest_path + ": not a regular file";
  }
  if (fs::is_regular_file(out_dir + "/events.jsonl", ec)) {  // checked first: opening a FIFO would wait
    std::ifstream in(out_dir + "/events.jsonl");
    std::vector<std::string> lines;
    try {
      for (std::string line; std::getline(in, line);) lines.push_back(std::move(line));
    } catch (const std::exception&) {
    }
    st.pace = latest_run_pace(lines);
  }
  st.running = output_lock_holder(out_dir, &st.lock_error);
  if (!st.running && st.lock_error.empty())  // no run there, as far as the lock tells
    for (const std::string& dir : {out_dir, out_dir + "/fov", out_dir + "/qc"}) {
      const auto [n, bytes] = count_temporaries(dir);
      st.leftover_files += n, st.leftover_bytes += bytes;
    }
  // The step the running run's stitch stage is in: only the lock holder's own note counts (a
  // killed run's stays behind).
  if (const auto j = json_object_file(out_dir + "/stage_now.json"); j && st.running && j->contains("holder") &&
                                                                       (*j)["holder"].is_string() && j->contains("step") &&
                                                                       (*j)["step"].is_string() && j->contains("since_unix_s") &&
                                                                       (*j)["since_unix_s"].is_number()) {
    if (st.running->rfind((*j)["holder"].get<std::string>() + " since ", 0) == 0) {
      st.stage_now = (*j)["step"].get<std::string>();
      st.stage_now_for_s = std::max(0.0, std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() -
                                             (*j)["since_unix_s"].get<double>());
    }
  }

  if (const auto j = json_object_file(out_dir + "/stitch_summary.json")) {
    st.stitch_summary = true;
    st.mosaic_width_px = count_of(*j, "mosaic_width_px");
    st.mosaic_height_px = count_of(*j, "mosaic_height_px");
  } else {
    st.stitch_summary_damaged = fs::exists(out_dir + "/stitch_summary.json", ec);
  }
  st.mosaic_file = fs::exists(out_dir + "/mosaic.ims", ec);
  if (const auto j = json_object_file(out_dir + "/stitch_stopped.json"))
    st.stitch_stopped = j->contains("why") && (*j)["why"].is_string() ? (*j)["why"].get<std::string>() : "stopped";
  if (const auto j = json_object_file(out_dir + "/campaign_verdict.json"); j && j->contains("verdict") && (*j)["verdict"].is_string())
    st.campaign_verdict = (*j)["verdict"].get<std::string>();
  if (const auto j = json_object_file(out_dir + "/qc/qc.json"); j && j->contains("fovs") && (*j)["fovs"].is_array()) {
    st.qc_report = true;
    // A run killed in its QC stage after remaking the mosaic leaves the previous report.
    struct stat qc {}, summary {};
    st.qc_current = ::stat((out_dir + "/qc/qc.json").c_str(), &qc) == 0 &&
                    (::stat((out_dir + "/stitch_summary.json").c_str(), &summary) != 0 || mtime_ns(qc) >= mtime_ns(summary));
    for (const auto& f : (*j)["fovs"]) {
      if (!f.is_object() || !f.contains("flags") || !f["flags"].is_array() || f["flags"].empty()) continue;
      ++st.qc_flagged;
      std::string flags;
      for (const auto& flag : f["flags"])
        if (flag.is_string()) flags += (flags.empty() ? "" : "; ") + flag.get<std::string>();
      st.qc_flags.emplace_back(f.contains("id") && f["id"].is_number_integer() ? f["id"].get<int>() : -1, flags);
    }
    std::sort(st.qc_flags.begin(), st.qc_flags.end());
  }
  return st;
}

std::string recorded_result_problem(const std::string& out_dir, const ManifestRecord& r) {
  std::error_code ec;
  const std::string path = out_dir + "/" + r.file;
  if (!fs::is_regular_file(path, ec)) return r.file + " is gone";
  const auto size = fs::file_size(path, ec);
  if (!ec && r.extra.contains("bytes") && r.extra["bytes"].is_number_unsigned() &&
      r.extra["bytes"].get<std::uintmax_t>() != size)
    return fmt::format("{} has {} bytes, {} when it was recorded", r.file, size, r.extra["bytes"].get<std::uintmax_t>());
  return "";
}

std::vector<std::string> fov_map(const std::vector<FovEntry>& plan, int rows, int cols,
                                 const std::map<int, RecordedFov>& recorded) {
  std::vector<std::string> map(static_cast<std::size_t>(std::max(rows, 0)), std::string(static_cast<std::size_t>(std::max(cols, 0)), ' '));
  for (const FovEntry& f : plan) {
    if (f.row < 0 || f.row >= rows || f.col < 0 || f.col >= cols) continue;
    char c = '.';
    if (const auto it = recorded.find(f.id); it != recorded.end())
      c = it->second == RecordedFov::done           ? '#'
          : it->second == RecordedFov::failed       ? 'x'
          : it->second == RecordedFov::not_acquired ? '.'
                                                    : '!';
    map[static_cast<std::size_t>(f.row)][static_cast<std::size_t>(f.col)] = c;
  }
  return map;
}

}  // namespace annamosaic
