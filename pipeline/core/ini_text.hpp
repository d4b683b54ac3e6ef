#pragma once
// The INI dialect of annamosaic's files (options files given with --config, campaign.ini), read
// one way everywhere. Pure: text in, entries out; errors are InputErrors naming file and line.
//   - a UTF-8 byte-order mark (Windows editors) is skipped; CRLF line ends are fine;
//   - a line whose first non-blank character is '#' or ';' is a comment, and so is the rest of a
//     line from a '#' or ';' standing alone between blanks ("threads = 2  # laptop"); a '#' in a
//     word ("run#2/out", "Plate #2", as folder names are) is part of the value;
//   - [section] starts a section; other lines are key = value.
// Refused, as ambiguous: a value in quotes (kept literally it named no file), one starting with
// '~' or holding $NAME / ${NAME} (not expanded outside a shell), and a line that is neither.
#include <string>
#include <vector>

namespace annamosaic {

struct IniEntry {
  int line = 0;  // 1-based
  std::string section, key, value;
};

std::vector<IniEntry> parse_ini_text(const std::string& text, const std::string& path);

}  // namespace annamosaic
