#pragma once
// The record of finished work: manifest.jsonl, one JSON object per line, appended to and fsynced
// line by line, so a kill at any moment loses at most the line being written (a torn last line
// is ignored on reading). A rerun skips FoVs whose result file still matches its recorded
// checksum and whose inputs are unchanged (input_stamp.hpp), and redoes the rest.
#include <cstdint>
#include <map>
#include <vector>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "core/checksum.hpp"  // file_checksum: results are recorded with theirs

namespace annamosaic {

struct ManifestRecord {
  int id = 0;
  std::string status;       // "done" | "failed"
  std::string file;         // result file, relative to the output folder ("done" only)
  std::string checksum;     // "xxh3:<hex>" of the result file's bytes (older runs: "fnv1a64:<hex>")
  std::string reason;       // "failed" only
  nlohmann::json extra;     // timings, counts, rank: kept for the QC report

  // Failed for want of its table (its widefield there or not): a FoV not acquired yet (said apart
  // from failures).
  bool not_acquired() const { return status != "done" && extra.is_object() && extra.value("not_acquired", false); }
};

class Manifest {
 public:
  explicit Manifest(std::string path);
  // Latest record per FoV id (a later line supersedes an earlier one). Lines that are not records
  // are skipped with a warning (a FoV without a record is redone); `not_records`, if given, gets
  // their numbers, apart from records cut short by a kill (those are normal: later runs append
  // after them).
  std::map<int, ManifestRecord> load(std::vector<std::size_t>* not_records = nullptr) const;
  void append(const ManifestRecord& r);  // thread-safe; IoError on failure
  // Rewrites the manifest (atomically) without the lines that are not records: records cut short
  // by kills (later runs appended after them) and edited or damaged lines, which would otherwise
  // stay there for every later reader (status, jq). The lines taken out are appended to
  // PATH.removed-lines, not lost. Only while no other process appends (a run holding the output
  // folder's lock). Returns how many lines were taken out (0: the file is left untouched).
  std::size_t set_aside_damaged_lines();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::mutex mutex_;
  bool checked_tail_ = false;
};

// A record from one parsed manifest line (nlohmann::json::type_error if "id" or "status" is
// missing or of the wrong type).
ManifestRecord record_from_json(const nlohmann::json& j);

}  // namespace annamosaic
