#pragma once
// FoV warnings as the run's log shows them: a campaign of empty fields can give hundreds of
// FoVs the same warning (a probe's 32 x 32 campaign: 248 "widefield ignored" lines, 65% of its
// log), which buries the few that differ. The first few of a kind are logged in full, the rest
// shortened, and the kinds seen often are counted at the end. manifest.jsonl keeps every FoV's
// full text. Pure and thread-safe.
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace annamosaic {

// A warning's kind: its text without numbers and with paths by their file names, so that one
// FoV's "widefield ignored: c/fov/0012/widefield.tif shows no structure (3 px ...)" is another's,
// but a widefield's "changed while it was read" is not a table's.
std::string warning_kind(const std::string& text);

// The text up to its first " (" (its reasons and advice follow there) where that leaves 40
// characters besides paths, else its first 160 characters, cut at a space.
std::string warning_gist(const std::string& text);

class RepeatedWarnings {
 public:
  explicit RepeatedWarnings(std::size_t in_full = 3) : in_full_(in_full) {}
  // What to log for FoV `fov_id`'s warning `text`: the text itself for the first `in_full` of its
  // kind, later its gist and the FoV whose warning was logged in full.
  std::string line(int fov_id, const std::string& text);
  // One line per kind seen more than `in_full` times: its count, first FoVs (sorted) and the
  // first one's gist, as an example.
  std::vector<std::string> summary() const;

 private:
  struct Kind {
    std::size_t count = 0;
    std::string gist;
    int first = 0;          // the FoV whose warning came first (said in full)
    std::vector<int> fovs;  // the 5 smallest ids (ranks finish out of order: the first 5 seen left gaps)
  };
  std::size_t in_full_;
  mutable std::mutex mu_;
  std::map<std::string, Kind> kinds_;
  std::vector<std::string> order_;  // kinds in order of first appearance
};

}  // namespace annamosaic
