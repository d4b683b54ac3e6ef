#pragma once
// Crash-safe output: write to "<final>.tmp.<pid>" in the same folder, then rename() onto the
// final name in commit(). A writer that never commits removes its temporary file, so a reader
// never sees a half-written file under the final name.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

namespace annamosaic {

class AtomicFile {
 public:
  explicit AtomicFile(std::string final_path);
  ~AtomicFile();  // removes the temporary file unless committed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::string& temp_path() const { return temp_path_; }
  const std::string& final_path() const { return final_path_; }
  // fsyncs the temporary file and renames it; throws IoError naming the path on failure.
  void commit();

 private:
  std::string final_path_, temp_path_;
  bool committed_ = false;
};

// For messages about a failed write: " (its file system has N MB free: full?)" when the file
// system holding `path` has under 64 MiB free, "" otherwise. Libraries that report a failed
// write without errno (libtiff, libpng) then still say what the user must fix.
std::string low_space_note(const std::string& path);

// Writes bytes atomically (helper for small text outputs such as config.ini).
void write_file_atomic(const std::string& path, const std::string& bytes);
// The suffix under which an earlier file is kept rather than replaced: "earlier-YYYYMMDD-HHMMSS"
// (UTC), then "-2", "-3", ... while `taken(suffix)` says a file of that suffix exists already.
std::string earlier_file_suffix(const std::function<bool(const std::string&)>& taken);

// Removes the "<name>.tmp.<pid>" files of writers killed before commit() in `dir` (not its
// subfolders). only_dead_writers: keep those whose process still runs (when no lock says the
// folder is this process's alone). only_of: only those of this file name ("mosaic.ome.tif"), for
// a writer that does not own the folder (pids mean nothing on another node of a shared file
// system). Returns {files, bytes} removed.
std::pair<std::size_t, std::uintmax_t> remove_abandoned_temporaries(const std::string& dir, bool only_dead_writers,
                                                                    const std::string& only_of = "");

// The "<name>.tmp.<pid>" files in `dir` (not its subfolders), counted, not removed: {files, bytes}
// (for `status`, which tells what the next run will clean up).
std::pair<std::size_t, std::uintmax_t> count_temporaries(const std::string& dir);

}  // namespace annamosaic
