#pragma once
// What a FoV result was made from: each input file's path (relative to the campaign folder),
// size, modification time and content checksum, kept in the FoV's manifest record. A rerun
// compares them with the files now there, so a table or widefield fixed since is redone, while a
// campaign merely copied elsewhere (new times, same bytes) is not: the content is read only
// when the size matches and the time does not.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

struct stat;

namespace annamosaic {

// A file's modification time in ns since the epoch (as stamps keep it).
std::int64_t mtime_ns(const struct stat& st);

// {"path", "size_bytes", "mtime_ns", "checksum"} of the file now; null if there is no such file.
// Paths inside the campaign folder are kept relative to it (a moved campaign compares equal).
nlohmann::json stamp_input(const std::string& path, const std::string& campaign_dir);

struct InputComparison {
  std::string change;     // why the file differs from its stamp ("" = the same, or gone)
  bool gone = false;      // no file there any more: the result is kept (raw data archived)
  bool read_content = false;  // the checksum had to be computed (the time differed)
  // The same content under a new time (a copy): the stamp to keep from now on, so that the next
  // rerun compares times again instead of reading the file. Null otherwise.
  nlohmann::json refreshed;
};
// Compares a stamp from stamp_input with the file at `path` now.
InputComparison compare_input(const nlohmann::json& stamp, const std::string& path, const std::string& campaign_dir);

// "" or, when `path` changed since `stamp` was taken just before reading it, that it may have been
// read while still being written (a run started during the acquisition, or while files are being
// copied): a file cut at a line end reads as a whole, shorter table. The FoV's warning says so,
// and the next run redoes it, its stamp being the older one. (Not judged by the file's age: a
// campaign simulated or copied just before its run is as young.)
std::string changed_while_read(const nlohmann::json& stamp, const std::string& path);

}  // namespace annamosaic
