#include "core/checksum.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

// Inlined: no library to link or ship (the GPU node's prefix needs only the header).
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core/error.hpp"
#include "core/input_file.hpp"

namespace annamosaic {
namespace {
std::string hex_text(const char* kind, std::uint64_t v) {
  char hex[32];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(v));
  return std::string(kind) + hex;
}

// Feeds the file's bytes to add(data, n) in 1 MiB pieces.
template <typename Add>
void read_file_bytes(const std::string& path, Add&& add) {
  require_regular_file(path);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw IoError(path, std::string("cannot read for checksum: ") + std::strerror(errno));
  std::vector<unsigned char> buf(1 << 20);
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) add(buf.data(), n);
  const bool err = std::ferror(f);
  std::fclose(f);
  if (err) throw IoError(path, "read error while computing checksum");
}

class Xxh3 {
 public:
  Xxh3() { XXH3_64bits_reset(&state_); }
  void add(const void* bytes, std::size_t n) { XXH3_64bits_update(&state_, bytes, n); }
  std::string text() const { return hex_text("xxh3:", XXH3_64bits_digest(&state_)); }

 private:
  XXH3_state_t state_;
};
}  // namespace

Fnv1a64& Fnv1a64::add(const void* bytes, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(bytes);
  std::uint64_t h = h_;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  h_ = h;
  return *this;
}

std::string Fnv1a64::text() const { return hex_text("fnv1a64:", h_); }

std::string file_checksum(const std::string& path) {
  Xxh3 h;
  read_file_bytes(path, [&](const unsigned char* p, std::size_t n) { h.add(p, n); });
  return h.text();
}

std::string text_checksum(const std::string& text) {
  Xxh3 h;
  h.add(text.data(), text.size());
  return h.text();
}

std::string file_checksum_as(const std::string& path, const std::string& recorded) {
  if (recorded.rfind("fnv1a64:", 0) != 0) return file_checksum(path);
  Fnv1a64 h;
  read_file_bytes(path, [&](const unsigned char* p, std::size_t n) { h.add(p, n); });
  return h.text();
}

}  // namespace annamosaic
