#pragma once
// FNV-1a 64: the checksum of result files (manifest), inputs and training data. Not a
// cryptographic hash: it tells changed bytes from unchanged ones, which is all it is asked.
#include <cstddef>
#include <cstdint>
#include <string>

namespace annamosaic {

// Incremental: add() bytes in order, text() at any point.
class Fnv1a64 {
 public:
  Fnv1a64& add(const void* bytes, std::size_t n);
  std::uint64_t value() const { return h_; }
  std::string text() const;  // "fnv1a64:<16 hex digits>"

 private:
  std::uint64_t h_ = 0xcbf29ce484222325ULL;
};

// Of a file's bytes (IoError naming it if unreadable) and of a string's.
std::string file_checksum(const std::string& path);
std::string text_checksum(const std::string& text);

}  // namespace annamosaic
