#include "core/atomic_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "core/error.hpp"

namespace annamosaic {

std::string low_space_note(const std::string& path) {
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return "";
  // A pseudo file system (sysfs, procfs: no blocks at all) or a read-only one is not full (probe102:
  // /sys/x.tif's "Permission denied" got "full?").
  if (st.f_blocks == 0 || (st.f_flag & ST_RDONLY)) return "";
  const double free_mb = static_cast<double>(st.f_bavail) * static_cast<double>(st.f_frsize) / (1024.0 * 1024.0);
  if (free_mb >= 64) return "";
  char buf[96];
  std::snprintf(buf, sizeof buf, " (its file system has %.1f MB free: full?)", free_mb);
  return buf;
}

AtomicFile::AtomicFile(std::string final_path)
    : final_path_(std::move(final_path)),
      temp_path_(final_path_ + ".tmp." + std::to_string(::getpid())) {}

AtomicFile::~AtomicFile() {
  if (!committed_) std::remove(temp_path_.c_str());
}

void AtomicFile::commit() {
  // fsync before rename so that a crash after rename cannot expose an empty file.
  int fd = ::open(temp_path_.c_str(), O_RDONLY);
  if (fd < 0) throw IoError(temp_path_, std::string("cannot reopen for fsync: ") + std::strerror(errno));
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    throw IoError(temp_path_, std::string("fsync failed: ") + std::strerror(e));
  }
  ::close(fd);
  if (std::rename(temp_path_.c_str(), final_path_.c_str()) != 0)
    throw IoError(final_path_, std::string("cannot rename from temporary file: ") + std::strerror(errno));
  committed_ = true;
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  AtomicFile out(path);
  std::FILE* f = std::fopen(out.temp_path().c_str(), "wb");
  if (!f) throw IoError(out.temp_path(), std::string("cannot create: ") + std::strerror(errno));
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  const int e = errno;
  if (std::fclose(f) != 0 || !ok)
    throw IoError(path, std::string("write failed: ") + std::strerror(ok ? errno : e));
  out.commit();
}

namespace {
// The temporaries in `dir` (as remove_abandoned_temporaries selects them), removed when `remove`.
std::pair<std::size_t, std::uintmax_t> temporaries(const std::string& dir, bool only_dead_writers, const std::string& only_of,
                                                   bool remove) {
  namespace fs = std::filesystem;
  std::size_t files = 0;
  std::uintmax_t bytes = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const auto pos = name.rfind(".tmp.");
    if (pos == std::string::npos || pos + 5 >= name.size() || name.size() - pos - 5 > 9 ||
        name.find_first_not_of("0123456789", pos + 5) != std::string::npos || !it->is_regular_file())
      continue;
    if (!only_of.empty() && name.compare(0, pos, only_of) != 0) continue;
    if (only_dead_writers && (::kill(static_cast<pid_t>(std::stol(name.substr(pos + 5))), 0) == 0 || errno != ESRCH))
      continue;  // its writer may still be running
    std::error_code size_ec, rm_ec;
    const std::uintmax_t size = it->file_size(size_ec);
    if (!remove || fs::remove(it->path(), rm_ec)) ++files, bytes += size_ec ? 0 : size;
  }
  return {files, bytes};
}
}  // namespace

std::pair<std::size_t, std::uintmax_t> remove_abandoned_temporaries(const std::string& dir, bool only_dead_writers,
                                                                    const std::string& only_of) {
  return temporaries(dir, only_dead_writers, only_of, /*remove=*/true);
}

std::pair<std::size_t, std::uintmax_t> count_temporaries(const std::string& dir) {
  return temporaries(dir, /*only_dead_writers=*/false, "", /*remove=*/false);
}

std::string earlier_file_suffix(const std::function<bool(const std::string&)>& taken) {
  const std::time_t t = std::time(nullptr);
  char now[32];
  std::strftime(now, sizeof now, "%Y%m%d-%H%M%S", std::gmtime(&t));
  std::string suffix = std::string("earlier-") + now;
  for (int n = 2; taken(suffix); ++n) suffix = "earlier-" + std::string(now) + "-" + std::to_string(n);
  return suffix;
}

}  // namespace annamosaic
