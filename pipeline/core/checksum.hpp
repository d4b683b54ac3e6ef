#pragma once
// Checksums of result files (manifest), inputs and the model: XXH3-64 (libxxhash), which tells
// changed bytes from unchanged ones at memory speed (~17 GB/s here against FNV-1a's 0.95 GB/s: a
// 50 MB FoV costs 3 ms instead of 55). Not cryptographic: nothing here defends against forgery.
// Records written before XXH3 carry "fnv1a64:" checksums; file_checksum_as() still checks those.
#include <cstddef>
#include <cstdint>
#include <string>

namespace annamosaic {

// FNV-1a 64, incremental: add() bytes in order, text() at any point. Kept for the records written
// with it and for the training data's table checksums (hashed while parsing, small).
class Fnv1a64 {
 public:
  Fnv1a64& add(const void* bytes, std::size_t n);
  std::uint64_t value() const { return h_; }
  std::string text() const;  // "fnv1a64:<16 hex digits>"

 private:
  std::uint64_t h_ = 0xcbf29ce484222325ULL;
};

// "xxh3:<16 hex digits>" of a file's bytes (IoError naming it if unreadable) and of a string's.
std::string file_checksum(const std::string& path);
std::string text_checksum(const std::string& text);

// The file's checksum by the algorithm `recorded` was made with ("fnv1a64:..." or "xxh3:..."), so
// that comparing the two tells whether the file changed; an unknown kind: file_checksum().
std::string file_checksum_as(const std::string& path, const std::string& recorded);

}  // namespace annamosaic
