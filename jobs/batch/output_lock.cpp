#include "batch/output_lock.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/log.hpp"

namespace annamosaic {

OutputLock::OutputLock(const std::string& out_dir) {
  const std::string path = out_dir + "/.annamosaic.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw IoError(path, std::string("cannot create the output folder's lock file: ") + std::strerror(errno));
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(fd_, F_SETLK, &fl) != 0) {
    const int e = errno;
    if (e == EACCES || e == EAGAIN) {
      char holder[256] = {0};
      const ssize_t n = ::pread(fd_, holder, sizeof holder - 1, 0);
      ::close(fd_);
      fd_ = -1;
      std::string who = n > 0 ? std::string(holder, static_cast<std::size_t>(n)) : std::string("another process");
      while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
      throw InputError(out_dir, "another annamosaic run is writing this output folder (" + who +
                                    "): wait for it to end, or choose another --output");
    }
    spdlog::warn("{}: cannot lock the output folder ({}): make sure no other run writes to it", path, std::strerror(e));
    return;
  }
  locked_ = true;
  // Who holds it, for the message a second run prints.
  char host[128] = {0};
  ::gethostname(host, sizeof host - 1);
  const std::time_t now = std::time(nullptr);
  char when[32] = {0};
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  const std::string who = "pid " + std::to_string(::getpid()) + " on " + host + " since " + when + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, who.data(), who.size(), 0) < 0)
    spdlog::debug("{}: cannot record the lock holder: {}", path, std::strerror(errno));
}

OutputLock::~OutputLock() {
  if (fd_ >= 0) ::close(fd_);  // closing drops the lock
}

std::pair<std::size_t, std::uintmax_t> remove_stale_temporaries(const std::string& out_dir) {
  std::size_t files = 0;
  std::uintmax_t bytes = 0;
  for (const std::string& dir : {out_dir, out_dir + "/fov", out_dir + "/qc"}) {
    const auto [n, b] = remove_abandoned_temporaries(dir, /*only_dead_writers=*/false);  // the lock is ours
    files += n, bytes += b;
  }
  return {files, bytes};
}

}  // namespace annamosaic
