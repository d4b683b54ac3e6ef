#include "core/input_file.hpp"

#include <sys/stat.h>

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

}  // namespace annamosaic
