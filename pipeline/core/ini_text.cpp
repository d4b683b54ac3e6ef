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

bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// The line up to a comment: a '#' or ';' at its start or between blanks (or a blank and the
// line's end). "Plate #2" and "run#2" are values, as a folder's name may be.
std::string without_comment(const std::string& line) {
  for (std::size_t i = 0; i < line.size(); ++i)
    if ((line[i] == '#' || line[i] == ';') && (i == 0 || blank(line[i - 1])) && (i + 1 == line.size() || blank(line[i + 1])))
      return line.substr(0, i);
  return line;
}

bool shell_variable_start(char c) { return c == '{' || c == '_' || std::isalpha(static_cast<unsigned char>(c)); }

bool shell_variable(const std::string& v) {
  for (std::size_t i = 0; i + 1 < v.size(); ++i)
    if (v[i] == '$' && shell_variable_start(v[i + 1])) return true;
  return false;
}

// A value in quotes, read as a shell reads it: 'single' literally, "double" with \" \\ \$ \`
// escapes (a $NAME or `command` in it would be expanded by a shell: refused). The quoted text is
// the whole value; a comment may follow it.
std::string unquoted(const std::string& after, const std::string& key, const std::string& path, int n) {
  const char q = after.front();
  std::string v;
  std::size_t i = 1;
  for (; i < after.size() && after[i] != q; ++i) {
    char c = after[i];
    if (q == '"' && c == '\\' && i + 1 < after.size() && std::string("\"\\$`").find(after[i + 1]) != std::string::npos) {
      c = after[++i];
    } else if (q == '"' && c == '$' && i + 1 < after.size() && shell_variable_start(after[i + 1])) {
      throw InputError(path, "the value of '" + key + "' holds a shell variable (" + after +
                                 "), which is not expanded here: write the path it stands for (or \\$ for a '$' of a name)",
                       n);
    } else if (q == '"' && c == '`') {
      throw InputError(path, "the value of '" + key + "' holds a backquote (" + after +
                                 "), a shell command that is not run here (\\` for a '`' of a name)",
                       n);
    }
    v += c;
  }
  if (i == after.size())
    throw InputError(path, "the value of '" + key + "' opens a quote (" + q + ") that the line does not close", n);
  const std::string rest = trim(after.substr(i + 1));
  if (!rest.empty() && rest.front() != '#' && rest.front() != ';')
    throw InputError(path, "the value of '" + key + "' goes on after its closing quote (" + after +
                               "): quote the whole value, or none of it",
                     n);
  return v;
}

}  // namespace

std::string ini_value_text(const std::string& value) {
  if (value.find_first_of("\n\r") != std::string::npos)
    throw InputError("", "a value with a line break cannot be written to an INI file: '" + value + "'");
  try {
    const std::vector<IniEntry> back = parse_ini_text("k = " + value + "\n", "");
    if (back.size() == 1 && back[0].value == value) return value;  // reads back as written
  } catch (const InputError&) {
  }
  if (value.find('\'') == std::string::npos) return "'" + value + "'";
  std::string q = "\"";
  for (const char c : value) {
    if (c == '"' || c == '\\' || c == '$' || c == '`') q += '\\';
    q += c;
  }
  return q + "\"";
}

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
    // The '=' of the line without its comment ("verbose  # set verbose = true" has none).
    const std::string s = trim(without_comment(line));
    const auto eq = s.find('=');
    if (eq == std::string::npos) throw InputError(path, "'" + s + "' is not 'key = value' or a [section]", n);
    // `delimiter = ;` (and `delimiter = ;  # semicolon`) is a value, not a comment.
    const std::string after = trim(line.substr(eq + 1));
    const bool semicolon = after == ";" || (after.size() > 1 && after[0] == ';' && blank(after[1]));
    IniEntry e{n, section, trim(s.substr(0, eq)), semicolon ? std::string(";") : trim(without_comment(" " + after))};
    if (e.key.empty()) throw InputError(path, "'" + s + "': no key before '='", n);
    if (!after.empty() && (after.front() == '"' || after.front() == '\'')) {
      e.value = unquoted(after, e.key, path, n);
      out.push_back(std::move(e));
      continue;
    }
    const std::string& v = e.value;
    if (!v.empty() && v.front() == '~')
      throw InputError(path, "the value of '" + e.key + "' starts with '~' (" + v +
                                 "), which only a shell expands: write the full path (e.g. /home/you/...)",
                       n);
    if (shell_variable(v))
      throw InputError(path, "the value of '" + e.key + "' holds a shell variable (" + v +
                                 "), which is not expanded here: write the path it stands for (a name holding a '$': "
                                 "in single quotes)",
                       n);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace annamosaic
