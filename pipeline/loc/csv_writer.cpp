#include "loc/csv_writer.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace annamosaic {

void write_thunderstorm_csv(const std::string& path, const LocTable& t) {
  t.check_consistent();
  AtomicFile out(path);
  std::FILE* f = std::fopen(out.temp_path().c_str(), "wb");
  if (!f) throw IoError(out.temp_path(), std::string("cannot create: ") + std::strerror(errno));
  fmt::memory_buffer buf;
  fmt::format_to(std::back_inserter(buf), "\"id\",\"frame\",\"x [nm]\",\"y [nm]\"");
  if (t.has_z()) fmt::format_to(std::back_inserter(buf), ",\"z [nm]\"");
  if (t.has_intensity()) fmt::format_to(std::back_inserter(buf), ",\"intensity [photon]\"");
  if (t.has_uncertainty()) fmt::format_to(std::back_inserter(buf), ",\"uncertainty [nm]\"");
  buf.push_back('\n');
  bool ok = true;
  for (std::size_t i = 0; i < t.size() && ok; ++i) {
    fmt::format_to(std::back_inserter(buf), "{},{},{:.3f},{:.3f}", i + 1, t.frame[i], t.x_nm[i], t.y_nm[i]);
    if (t.has_z()) fmt::format_to(std::back_inserter(buf), ",{:.2f}", t.z_nm[i]);
    if (t.has_intensity()) fmt::format_to(std::back_inserter(buf), ",{:.1f}", t.intensity[i]);
    if (t.has_uncertainty()) fmt::format_to(std::back_inserter(buf), ",{:.2f}", t.uncertainty_nm[i]);
    buf.push_back('\n');
    if (buf.size() > (1 << 20)) {
      ok = std::fwrite(buf.data(), 1, buf.size(), f) == buf.size();
      buf.clear();
    }
  }
  if (ok && buf.size()) ok = std::fwrite(buf.data(), 1, buf.size(), f) == buf.size();
  const int e = errno;
  if (std::fclose(f) != 0 || !ok) throw IoError(path, std::string("write failed: ") + std::strerror(ok ? errno : e));
  out.commit();
}

}  // namespace annamosaic
