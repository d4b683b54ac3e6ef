#include "batch/output_lock.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <thread>

#include "batch/signals.hpp"
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
// The host of a holder's line ("pid N on HOST since ..."), "" if it names none.
std::string host_of_holder(const std::string& who) {
  const std::size_t on = who.find(" on ");
  if (on == std::string::npos) return "";
  const std::string rest = who.substr(on + 4);
  return rest.substr(0, rest.find(" since "));
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
  // A SLURM requeue after a lost node: NFS may keep the dead client's lock until its lease ends
  // (about 90 s on NFSv4), and the requeued run was refused (exit 2), its grid's stitch cancelled
  // (a review of the SLURM side). A restarted job whose holder is on another host waits for it a
  // while (ANNAMOSAIC_LOCK_WAIT_S, 180 s): SLURM starts it only once the run before it has ended.
  const char* restarts = std::getenv("SLURM_RESTART_COUNT");
  const char* wait_text = std::getenv("ANNAMOSAIC_LOCK_WAIT_S");
  const double wait_s = wait_text ? std::strtod(wait_text, nullptr) : 180.0;
  const auto start = std::chrono::steady_clock::now();
  bool said = false;
  while (::fcntl(fd_, F_SETLK, &fl) != 0) {
    const int e = errno;
    if (e == EACCES || e == EAGAIN) {
      const std::string who = holder_line(fd_, "another process");
      const std::string holder_host = host_of_holder(who);
      const bool other_host = !holder_host.empty() && holder_host != host_of_holder(this_process_as_holder());
      const double waited_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      // A stop signal meanwhile (scancel, pre-emption) ends the wait: the refusal below says why.
      if (restarts && std::atoi(restarts) > 0 && other_host && waited_s < wait_s && !stop_requested()) {
        if (!said)
          spdlog::warn("{}: held by {}; this job was requeued (SLURM_RESTART_COUNT={}), so that is most likely the lock of "
                       "its run before, on a node lost with it, which the file server keeps a while: waiting up to {:.0f} s "
                       "(ANNAMOSAIC_LOCK_WAIT_S)",
                       out_dir, who, restarts, wait_s);
        said = true;
        std::this_thread::sleep_for(std::chrono::seconds(2));
        continue;
      }
      ::close(fd_);
      fd_ = -1;
      throw InputError(out_dir, folder_busy_text(writer, option, who) +
                                    (said ? " (waited " + std::to_string(static_cast<long>(waited_s)) + " s for it)" : std::string()));
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
