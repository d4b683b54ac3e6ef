#pragma once
// The INI dialect of annamosaic's files (options files given with --config, campaign.ini), read
// one way everywhere. Pure: text in, entries out; errors are InputErrors naming file and line.
//   - a UTF-8 byte-order mark (Windows editors) is skipped; CRLF line ends are fine;
//   - a line whose first non-blank character is '#' or ';' is a comment, and so is the rest of a
//     line from a '#' or ';' standing alone between blanks ("threads = 2  # laptop"); a '#' in a
//     word ("run#2/out", "Plate #2", as folder names are) is part of the value;
//   - [section] starts a section; other lines are key = value.
//   - a value in quotes is read as a shell reads it: 'single' literally, "double" with \" \\ \$
//     \` escapes; so written, any value (spaces at its ends, " # ", a '$') reads back as it was.
// Refused, as ambiguous: a value starting with '~' or holding $NAME / ${NAME} (not expanded
// outside a shell; in double quotes too), text after a closing quote, and a line that is neither.
#include <string>
#include <vector>

namespace annamosaic {

struct IniEntry {
  int line = 0;  // 1-based
  std::string section, key, value;
};

std::vector<IniEntry> parse_ini_text(const std::string& text, const std::string& path);

// `value` as written after "key = " so that parse_ini_text reads it back unchanged: as it is
// when it reads back so (most values), else in quotes. InputError for a line break (no INI file
// holds one).
std::string ini_value_text(const std::string& value);

}  // namespace annamosaic
