#include "core/temp_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace annamosaic {

PrivateFile::PrivateFile(const std::string& stem, const std::string& suffix, const std::string& text) {
  const char* env = std::getenv("TMPDIR");
  const std::string dir = env && *env ? env : "/tmp";
  std::string pattern = dir + "/" + stem + ".XXXXXX" + suffix;
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  const int fd = ::mkstemps(name.data(), static_cast<int>(suffix.size()));
  if (fd < 0) throw IoError(dir, std::string("cannot create a temporary file here: ") + std::strerror(errno));
  path_ = name.data();
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      std::remove(path_.c_str());
      throw IoError(path_, std::string("cannot write: ") + std::strerror(err) + low_space_note(path_));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) {
    const int err = errno;
    std::remove(path_.c_str());
    throw IoError(path_, std::string("cannot write: ") + std::strerror(err) + low_space_note(path_));
  }
}

PrivateFile::~PrivateFile() { std::remove(path_.c_str()); }

}  // namespace annamosaic
