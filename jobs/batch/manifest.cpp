#include "batch/manifest.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <vector>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/json_text.hpp"
#include "core/log.hpp"
#include "core/text_list.hpp"

namespace annamosaic {

Manifest::Manifest(std::string path) : path_(std::move(path)) {}

std::map<int, ManifestRecord> Manifest::load(std::vector<std::size_t>* not_records_out) const {
  std::map<int, ManifestRecord> out;
  std::ifstream in(path_);
  if (!in) return out;  // no manifest yet: nothing done
  std::string line;
  std::size_t line_no = 0, torn_line = 0;
  std::vector<std::size_t> not_records;  // before the last line: torn by a killed run, or edited
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    torn_line = 0;
    if (j.is_discarded() && line.rfind("{\"", 0) == 0) {
      // A record cut short by a kill (later runs append after it): that FoV counts as not done
      // and is redone. Said only while it is the last line.
      torn_line = line_no;
      continue;
    }
    if (j.is_discarded() || !j.is_object() || !j.contains("id") || !j.contains("status")) {
      not_records.push_back(line_no);  // not one of ours: edited, or another file
      continue;
    }
    try {
      ManifestRecord r = record_from_json(j);
      out[r.id] = std::move(r);
    } catch (const std::exception&) {  // a record of the wrong shape ("id": "4"): not one of ours
      not_records.push_back(line_no);
    }
  }
  if (not_records_out) *not_records_out = not_records;
  // Said once per process; the torn last line only while it is the last (later runs append after it).
  static std::mutex warned_mutex;
  static std::set<std::string> warned;
  std::lock_guard<std::mutex> lock(warned_mutex);
  if ((torn_line || !not_records.empty()) && warned.insert(path_).second) {
    if (torn_line)
      spdlog::warn("{}:{}: incomplete last record (the previous run stopped while writing it); ignored: a FoV "
                   "without a complete record is redone", path_, torn_line);
    if (!not_records.empty())
      spdlog::warn("{}: {} line(s) are not FoV records (line {}: edited, or damaged); ignored: a FoV without a "
                   "complete record is redone", path_, not_records.size(), first_items(not_records, 5));
  }
  return out;
}

void Manifest::append(const ManifestRecord& r) {
  nlohmann::json j = {{"id", r.id}, {"status", r.status}};
  if (!r.file.empty()) j["file"] = r.file;
  if (!r.checksum.empty()) j["checksum"] = r.checksum;
  if (!r.reason.empty()) j["reason"] = r.reason;
  if (!r.extra.is_null()) j["extra"] = r.extra;
  const std::string line = json_text(j) + "\n";
  std::lock_guard<std::mutex> lock(mutex_);
  const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND, 0666);  // less the umask, as every output
  if (fd < 0) throw IoError(path_, std::string("cannot open manifest: ") + std::strerror(errno));
  std::string out = line;
  const off_t size = ::lseek(fd, 0, SEEK_END);
  if (!checked_tail_) {
    // A kill mid-line leaves a torn last line: end it first, so this record stays on its own line.
    char last = '\n';
    if (size > 0 && ::pread(fd, &last, 1, size - 1) == 1 && last != '\n') out = "\n" + out;
    checked_tail_ = true;
  }
  const ssize_t w = ::write(fd, out.data(), out.size());
  // Each call's own errno: a failed fsync must not be said with the write's (often "Success").
  std::string why;
  if (w < 0) why = std::strerror(errno);
  else if (w != static_cast<ssize_t>(out.size())) why = "short write (" + std::to_string(w) + " of " + std::to_string(out.size()) + " bytes; disk full?)";
  else if (::fsync(fd) != 0) why = std::string("fsync: ") + std::strerror(errno);
  if (w > 0 && w != static_cast<ssize_t>(out.size())) {
    // The torn part goes again where it can (truncating frees room); where it cannot, the next
    // record starts on a line of its own rather than completing this fragment (and being lost
    // with it).
    if (size < 0 || ::ftruncate(fd, size) != 0) checked_tail_ = false;
  }
  ::close(fd);
  if (!why.empty()) throw IoError(path_, "cannot append to manifest: " + why);
}

std::size_t Manifest::set_aside_damaged_lines() {
  std::ifstream in(path_);
  if (!in) return 0;
  std::string kept, removed, line;
  std::size_t n_removed = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    bool ok = j.is_object() && j.contains("id") && j.contains("status");
    if (ok) try {
        record_from_json(j);
      } catch (const std::exception&) {
        ok = false;
      }
    (ok ? kept : removed) += line + "\n";
    n_removed += ok ? 0 : 1;
  }
  if (in.bad()) throw IoError(path_, "cannot read manifest");
  if (n_removed == 0) return 0;
  {
    std::ofstream aside(path_ + ".removed-lines", std::ios::app);
    if (!(aside << removed) || !aside.flush()) throw IoError(path_ + ".removed-lines", "cannot write");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  write_file_atomic(path_, kept);
  checked_tail_ = true;  // it ends with a newline now
  return n_removed;
}

ManifestRecord record_from_json(const nlohmann::json& j) {
  ManifestRecord r;
  r.id = j.at("id").get<int>();
  r.status = j.at("status").get<std::string>();
  r.file = j.value("file", "");
  r.checksum = j.value("checksum", "");
  r.reason = j.value("reason", "");
  r.extra = j.value("extra", nlohmann::json::object());
  return r;
}

}  // namespace annamosaic
