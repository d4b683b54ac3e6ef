#include "batch/output_lock.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/log.hpp"

namespace annamosaic {
namespace {
// The holder's line the locking run wrote ("pid N on HOST since ..."), or `fallback` if empty.
std::string holder_line(int fd, const std::string& fallback) {
  char text[256] = {0};
  const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
  std::string who = n > 0 ? std::string(text, static_cast<std::size_t>(n)) : fallback;
  while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
  return who;
}
}  // namespace

std::string folder_busy_text(const std::string& writer, const std::string& option, const std::string& who) {
  return "another annamosaic " + writer + " is writing this " + (writer == "run" ? "output folder" : "folder") + " (" +
         who + "): wait for it to end, or choose another " + option;
}

OutputLock::OutputLock(const std::string& out_dir, const std::string& writer, const std::string& option) {
  const std::string path = out_dir + "/.annamosaic.lock";
  // 0666 less the umask, as every other output: a group's shared output folder must stay
  // resumable by each of its members.
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd_ < 0) {
    const int e = errno;
    if (e == EACCES || e == EPERM || e == EROFS) {
      // Someone else's folder (or a read-only one): say so, and whether a run of theirs is on.
      const auto holder = output_lock_holder(out_dir);
      struct stat st {};
      const bool known = ::stat(out_dir.c_str(), &st) == 0;
      throw IoError(out_dir, std::string("not writable here (") + std::strerror(e) + " on .annamosaic.lock" +
                                 (known && st.st_uid != ::geteuid() ? "; the folder belongs to uid " + std::to_string(st.st_uid) : "") +
                                 (holder ? "; a run is writing it now: " + *holder : "") +
                                 "): choose another --output, or have its owner make it writable for you (for a group: "
                                 "chmod -R g+w, and g+s on its folders)");
    }
    throw IoError(path, std::string("cannot create the output folder's lock file: ") + std::strerror(e));
  }
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(fd_, F_SETLK, &fl) != 0) {
    const int e = errno;
    if (e == EACCES || e == EAGAIN) {
      const std::string who = holder_line(fd_, "another process");
      ::close(fd_);
      fd_ = -1;
      throw InputError(out_dir, folder_busy_text(writer, option, who));
    }
    spdlog::warn("{}: cannot lock the output folder ({}): make sure no other run writes to it", path, std::strerror(e));
    return;
  }
  locked_ = true;
  // Who holds it, for the message a second run prints.
  const std::time_t now = std::time(nullptr);
  char when[32] = {0};
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  const std::string who = this_process_as_holder() + " since " + when + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, who.data(), who.size(), 0) < 0)
    spdlog::debug("{}: cannot record the lock holder: {}", path, std::strerror(errno));
}

std::string this_process_as_holder() {
  char host[128] = {0};
  ::gethostname(host, sizeof host - 1);
  return "pid " + std::to_string(::getpid()) + " on " + host;
}

OutputLock::~OutputLock() {
  if (fd_ >= 0) ::close(fd_);  // closing drops the lock
}

std::optional<std::string> output_lock_holder(const std::string& out_dir, std::string* error) {
  const std::string path = out_dir + "/.annamosaic.lock";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT && error) *error = path + ": " + std::strerror(errno);
    return std::nullopt;  // ENOENT: no run ever locked it
  }
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  std::optional<std::string> who;
  if (::fcntl(fd, F_GETLK, &fl) != 0) {
    if (error) *error = path + ": cannot query the lock: " + std::strerror(errno);
  } else if (fl.l_type != F_UNLCK) {
    who = holder_line(fd, "pid " + std::to_string(fl.l_pid));
  }
  // Closing drops every fcntl lock this process holds on the file: never call this from a
  // process that holds the folder's OutputLock.
  ::close(fd);
  return who;
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
