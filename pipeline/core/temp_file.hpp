#pragma once
// A file of this process's own in the temporary folder ($TMPDIR, else /tmp), removed when the
// owner goes: for text a library reads only from a path (an INI file given to the option parser)
// where writing it beside the user's files would leave a stray file behind.
#include <string>

namespace annamosaic {

class PrivateFile {
 public:
  // Creates "<dir>/<stem>.XXXXXX<suffix>" (mkstemps: a new name, mode 0600) holding `text`;
  // throws IoError naming the folder when it cannot be written.
  PrivateFile(const std::string& stem, const std::string& suffix, const std::string& text);
  ~PrivateFile();
  PrivateFile(const PrivateFile&) = delete;
  PrivateFile& operator=(const PrivateFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace annamosaic
