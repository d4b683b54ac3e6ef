#include "core/ini_text.hpp"

#include <cctype>
#include <sstream>

#include "core/error.hpp"

namespace annamosaic {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// The line up to a comment: '#' or ';' at its start or after a blank.
std::string without_comment(const std::string& line) {
  for (std::size_t i = 0; i < line.size(); ++i)
    if ((line[i] == '#' || line[i] == ';') && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) return line.substr(0, i);
  return line;
}

bool shell_variable(const std::string& v) {
  for (std::size_t i = 0; i + 1 < v.size(); ++i)
    if (v[i] == '$' && (v[i + 1] == '{' || v[i + 1] == '_' || std::isalpha(static_cast<unsigned char>(v[i + 1])))) return true;
  return false;
}

}  // namespace

std::vector<IniEntry> parse_ini_text(const std::string& text, const std::string& path) {
  std::vector<IniEntry> out;
  std::istringstream in(text);
  std::string raw, section;
  for (int n = 1; std::getline(in, raw); ++n) {
    if (n == 1 && raw.rfind("\xEF\xBB\xBF", 0) == 0) raw.erase(0, 3);
    const std::string line = trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      const std::string s = trim(without_comment(line));
      if (s.back() != ']') throw InputError(path, "'" + s + "': a section is written [name]", n);
      section = trim(s.substr(1, s.size() - 2));
      if (section.empty()) throw InputError(path, "empty section name '[]'", n);
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string::npos) throw InputError(path, "'" + trim(without_comment(line)) + "' is not 'key = value' or a [section]", n);
    // `delimiter = ;` is a value, not a comment.
    const std::string after = trim(line.substr(eq + 1));
    IniEntry e{n, section, trim(line.substr(0, eq)), after == ";" || after == "#" ? after : trim(without_comment(" " + after))};
    const std::string s = trim(without_comment(line));
    if (e.key.empty()) throw InputError(path, "'" + s + "': no key before '='", n);
    const std::string& v = e.value;
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
      throw InputError(path, "the value of '" + e.key + "' is in quotes (" + v +
                                 "): write it without them; a value is taken as written, spaces included, to the end of "
                                 "the line or a ' #' or ' ;' comment",
                       n);
    if (!v.empty() && v.front() == '~')
      throw InputError(path, "the value of '" + e.key + "' starts with '~' (" + v +
                                 "), which only a shell expands: write the full path (e.g. /home/you/...)",
                       n);
    if (shell_variable(v))
      throw InputError(path, "the value of '" + e.key + "' holds a shell variable (" + v +
                                 "), which is not expanded here: write the path it stands for",
                       n);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace annamosaic
