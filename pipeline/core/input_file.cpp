#include "core/input_file.hpp"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <filesystem>

#include "core/error.hpp"

namespace annamosaic {

void require_regular_file(const std::string& path, const char* what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (const auto target = dangling_link_target(path))
      throw IoError(path, "is a link to " + *target + ", which does not exist (a share not mounted, or a file moved?)");
    return;  // the caller's open says what is wrong
  }
  if (S_ISREG(st.st_mode)) return;
  const std::string kind = S_ISDIR(st.st_mode)    ? "a folder"
                           : S_ISFIFO(st.st_mode) ? "a named pipe (FIFO), which would be read only when something writes to it"
                           : S_ISSOCK(st.st_mode) ? "a socket"
                                                  : "a device";
  throw IoError(path, "is " + kind + ", not a " + what + " file");
}

namespace {
std::string lower_case(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

bool FolderListing::has(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  const std::string folder = p.parent_path().string(), name = p.filename().string();
  auto [it, inserted] = folders_.try_emplace(folder);
  Listing& l = it->second;
  if (inserted) {
    std::error_code ec;
    fs::directory_iterator d(folder.empty() ? "." : folder, ec);
    for (; !ec && d != fs::directory_iterator(); d.increment(ec)) {
      const std::string n = d->path().filename().string();
      l.names.insert(n);
      l.lower_names.insert(lower_case(n));
    }
    // A folder that is not there holds nothing (one look, not one per name in it).
    l.listed = !ec || ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory;
  }
  std::error_code ec;
  if (!l.listed || name.empty() || name == "." || name == "..") return fs::exists(fs::symlink_status(path, ec));
  if (l.names.count(name)) return true;
  // Another spelling of a name the folder holds: on a case-insensitive share it is that file.
  return l.lower_names.count(lower_case(name)) && fs::exists(fs::symlink_status(path, ec));
}

}  // namespace annamosaic
