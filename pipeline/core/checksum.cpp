#include "core/checksum.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/error.hpp"

namespace annamosaic {

Fnv1a64& Fnv1a64::add(const void* bytes, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(bytes);
  std::uint64_t h = h_;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  h_ = h;
  return *this;
}

std::string Fnv1a64::text() const {
  char hex[32];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h_));
  return std::string("fnv1a64:") + hex;
}

std::string file_checksum(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw IoError(path, std::string("cannot read for checksum: ") + std::strerror(errno));
  Fnv1a64 h;
  std::vector<unsigned char> buf(1 << 20);
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) h.add(buf.data(), n);
  const bool err = std::ferror(f);
  std::fclose(f);
  if (err) throw IoError(path, "read error while computing checksum");
  return h.text();
}

std::string text_checksum(const std::string& text) { return Fnv1a64().add(text.data(), text.size()).text(); }

}  // namespace annamosaic
