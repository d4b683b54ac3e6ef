#pragma once
// What a FoV result was made from: each input file's path (relative to the campaign folder),
// size, modification time and content checksum, kept in the FoV's manifest record. A rerun
// compares them with the files now there, so a table or widefield fixed since is redone, while a
// campaign merely copied elsewhere (new times, same bytes) is not: the content is read only
// when the size matches and the time does not.
#include <string>

#include <nlohmann/json.hpp>

namespace annamosaic {

// {"path", "size_bytes", "mtime_ns", "checksum"} of the file now (IoError if it cannot be read).
nlohmann::json stamp_input(const std::string& path, const std::string& campaign_dir);

struct InputComparison {
  std::string change;     // why the file differs from its stamp ("" = the same, or gone)
  bool gone = false;      // no file there any more: the result is kept (raw data archived)
  bool read_content = false;  // the checksum had to be computed (the time differed)
};
// Compares a stamp from stamp_input with the file at `path` now.
InputComparison compare_input(const nlohmann::json& stamp, const std::string& path, const std::string& campaign_dir);

}  // namespace annamosaic
