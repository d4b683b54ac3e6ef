#pragma once
// What an input path is, checked before opening it: a named pipe (FIFO) blocks an open until
// some writer appears (a run would hang, deaf to SIGTERM), and a dangling link reads as "no such
// file" without saying where it points.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>

namespace annamosaic {

// Throws IoError naming `path` when it is a link to nothing (naming the target), a folder, or
// not a regular file (a FIFO, socket or device); returns when it is a regular file or does not
// exist (the caller's open then says so). `what` names the kind of file wanted ("table").
void require_regular_file(const std::string& path, const char* what = "file");

// Where `path` points when it is a symbolic link to nothing (a share not mounted, a file moved),
// else nothing: an open or a mkdir there says only "No such file" or "File exists". Inline, for
// core/error.hpp's header-only error_text.
inline std::optional<std::string> dangling_link_target(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_symlink(path, ec) || std::filesystem::exists(path, ec)) return std::nullopt;
  const auto target = std::filesystem::read_symlink(path, ec);
  return ec ? std::string("a path that cannot be read") : target.string();
}

// Whether names exist, answered from one listing per folder: asking the file system name by name
// costs a lookup per name even for the many that are not there (init-campaign tries up to six
// names per FoV: on a network share, 10,000 FoVs took tens of thousands of round trips). Only a
// name the listing holds, or holds in other letters (a case-insensitive share), is looked at.
// Folders are listed once, when first asked about; a folder that is not there holds nothing, one
// that cannot be listed otherwise (permissions) is asked name by name.
class FolderListing {
 public:
  // Whether `path` names something (a file, folder, pipe or a link, even to nothing).
  bool has(const std::string& path);

 private:
  struct Listing {
    bool listed = false;
    std::unordered_set<std::string> names, lower_names;
  };
  std::map<std::string, Listing> folders_;
};

}  // namespace annamosaic
