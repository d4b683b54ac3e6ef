#include "loc/csv_reader.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "core/error.hpp"
#include "core/input_file.hpp"

namespace annamosaic {
namespace {

enum Role : int { kNone = -1, kFrame = 0, kX, kY, kZ, kIntensity, kUncertainty, kRoleCount };
constexpr std::array<const char*, kRoleCount> kRoleNames = {"frame", "x", "y", "z", "intensity",
                                                            "uncertainty"};

std::string normalise(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\'' || std::isspace(static_cast<unsigned char>(c))) continue;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

enum class Unit { Nm, Px, Um };

struct ColumnUnit {
  Unit unit = Unit::Nm;
  bool explicit_unit = false;
};

// The unit a (normalised) column name states at its end: "x [um]", "X_px", "y (µm)".
std::optional<Unit> unit_suffix(const std::string& n, std::size_t* length = nullptr) {
  static const std::pair<const char*, Unit> units[] = {
      {"nm", Unit::Nm},     {"px", Unit::Px},      {"pixel", Unit::Px},        {"pixels", Unit::Px},
      {"um", Unit::Um},     {"\xC2\xB5m", Unit::Um}, {"\xCE\xBCm", Unit::Um},     {"micron", Unit::Um},
      {"microns", Unit::Um}, {"\xB5m", Unit::Um}};  // the last: Latin-1 (a Windows "ANSI" export)
  const auto ends_with = [&](const std::string& s) { return n.size() > s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0; };
  for (const auto& [u, unit] : units)
    for (const std::string& form : {"[" + std::string(u) + "]", "(" + std::string(u) + ")", "_" + std::string(u)})
      if (ends_with(form)) {
        if (length) *length = form.size();
        return unit;
      }
  return std::nullopt;
}

// Header-name detection; returns the role and whether the name states its unit.
std::optional<std::pair<Role, ColumnUnit>> detect_role(const std::string& name) {
  // Zeiss ZEN writes "Position X [nm]", others "pos_x_um" or "x_pos [um]": the axis, without
  // the "position" around it.
  std::string n = name;
  for (const char* prefix : {"position_", "position", "pos_"})
    if (n.rfind(prefix, 0) == 0 && n.size() > std::strlen(prefix)) {
      n = n.substr(std::strlen(prefix));
      break;
    }
  for (const char* infix : {"_pos", "pos"})
    if (n.size() > 1 + std::strlen(infix) && n.compare(1, std::strlen(infix), infix) == 0 &&
        (n[1 + std::strlen(infix)] == '[' || n[1 + std::strlen(infix)] == '(' || n[1 + std::strlen(infix)] == '_')) {
      n = n.substr(0, 1) + n.substr(1 + std::strlen(infix));  // "x_pos[um]" -> "x[um]"
      break;
    }
  auto axis = [&](char a) -> std::optional<ColumnUnit> {
    const std::string s(1, a);
    if (n == s || n == s + "_pos" || n == s + "pos") return ColumnUnit{Unit::Nm, false};
    if (n == s + "nano" || n == s + "nm") return ColumnUnit{Unit::Nm, true};
    // Exactly the letter and a unit ("x[um]", "x_px", "x(µm)"): "x_drift_nm" or "x_pixel_err" are other columns.
    std::size_t suffix = 0;
    if (n[0] == a)
      if (auto u = unit_suffix(n, &suffix); u && suffix == n.size() - 1) return ColumnUnit{*u, true};
    return std::nullopt;
  };
  if (n == "frame" || n == "frames" || n == "frame_number" || n == "t" || n == "firstframe") return {{kFrame, {}}};
  if (auto u = axis('x')) return {{kX, *u}};
  if (auto u = axis('y')) return {{kY, *u}};
  if (auto u = axis('z')) return {{kZ, *u}};
  if (n == "intensity[photon]" || n == "intensity" || n == "int" || n == "photons" ||
      n == "intensity[photons]")
    return {{kIntensity, {}}};
  if (n == "uncertainty[nm]" || n == "uncertainty_xy[nm]" || n == "precision[nm]" || n == "uncertainty_nm")
    return {{kUncertainty, {Unit::Nm, true}}};  // stated in nm whatever the coordinates' unit
  if (n == "uncertainty") return {{kUncertainty, {}}};
  return std::nullopt;
}

std::vector<std::string_view> split_fields(std::string_view line, char delim) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  bool quoted = false;
  for (std::size_t i = 0; i <= line.size(); ++i) {
    if (i < line.size() && line[i] == '"') quoted = !quoted;
    if (i == line.size() || (line[i] == delim && !quoted)) {
      out.push_back(line.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

// Plan of which field goes where, built from the header.
struct Plan {
  char delim = ',';
  std::size_t n_fields = 0;
  std::vector<int> role_of_field;          // per field, Role or kNone
  std::array<int, kRoleCount> field_of{};  // per role, field index or -1
  std::array<double, kRoleCount> scale{};  // multiply parsed value (camera px -> nm)
  std::vector<std::string> header_names;   // original names, for messages
  bool xy_unit_assumed = false;            // x or y names no unit and none was given: nm
  std::vector<std::string> notes;          // what was assumed or ignored, for the report's warnings
};

// One chunk's output.
struct Chunk {
  LocTable rows;
  std::size_t lines = 0;  // lines consumed, including comments and blanks
  std::size_t skipped = 0;
  std::vector<std::pair<std::size_t, std::string>> errors;  // (local line, message)
  std::int64_t error_column = 0;
  std::string error_column_name;
  std::size_t optional_not_finite = 0;  // NaN/inf in z, intensity or uncertainty: kept as NaN
  std::size_t optional_first_line = 0;  // local line of the first
};

inline bool parse_double(std::string_view f, double& v) {
  // Fast path: plain number. Slow path: surrounding spaces/quotes, leading '+'.
  const char* b = f.data();
  const char* e = b + f.size();
  auto r = std::from_chars(b, e, v);
  if (r.ec == std::errc() && r.ptr == e) return true;
  while (b < e && (std::isspace(static_cast<unsigned char>(*b)) || *b == '"')) ++b;
  while (e > b && (std::isspace(static_cast<unsigned char>(e[-1])) || e[-1] == '"')) --e;
  if (b < e && *b == '+') {
    ++b;
    if (b < e && (*b == '+' || *b == '-')) return false;  // "++5", "+-5": not numbers
  }
  if (b == e) return false;
  r = std::from_chars(b, e, v);
  if (r.ec == std::errc::result_out_of_range && r.ptr == e) {
    // Past a double: 1e-400 is 0 as a fit would store it; 1e400 is infinite (the caller says
    // "not finite" for a position, keeps NaN for an optional column).
    const std::string_view cell(b, static_cast<std::size_t>(e - b));
    const bool negative = *b == '-';
    const bool tiny = cell.find("e-") != std::string_view::npos || cell.find("E-") != std::string_view::npos;
    v = tiny ? (negative ? -0.0 : 0.0) : (negative ? -HUGE_VAL : HUGE_VAL);
    return true;
  }
  return r.ec == std::errc() && r.ptr == e;
}

// A cell or header name without surrounding spaces and quotes.
std::string unquoted(std::string_view s) {
  while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.front())) || s.front() == '"')) s.remove_prefix(1);
  while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.back())) || s.back() == '"')) s.remove_suffix(1);
  return std::string(s);
}

// A cell or name as a message can quote it: control bytes (a binary file read as a table: NUL
// ends a message early) and bytes that are not UTF-8 (a Latin-1 "\xb5m" made the log binary to
// grep) are written as escapes, so the message shows what the file holds.
std::string printable(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') { out += "\\\\"; continue; }  // so that a "\t" in the file is not read as a tab
    if (c == '\t') { out += "\\t"; continue; }
    if (c == '\r') { out += "\\r"; continue; }
    if (c < 0x20 || c == 0x7f) { out += fmt::format("\\x{:02x}", c); continue; }
    if (c < 0x80) { out += static_cast<char>(c); continue; }
    // A well-formed UTF-8 sequence (RFC 3629: no overlong forms, surrogates or code points past
    // U+10FFFF) is kept; any other byte is escaped.
    const std::size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    if (ok) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      const unsigned char lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
      const unsigned char hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
      ok = c1 >= lo && c1 <= hi;
    }
    for (std::size_t k = 2; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok) {
      out.append(s.substr(i, len));
      i += len - 1;
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  return out;
}

std::string shorten(std::string_view s) {
  std::string out(s.substr(0, 40));
  if (s.size() > 40) out += "...";
  return out;
}

// Parses the lines of [begin, end); `is_last` marks the chunk that holds the end of the file.
void parse_chunk(std::string_view text, const Plan& plan, bool optional_cols[kRoleCount], bool is_last,
                 bool skip_bad, Chunk& out, const std::atomic<std::size_t>* first_failed,
                 std::size_t index) {
  LocTable& t = out.rows;
  const std::size_t estimate = text.size() / 48 + 16;
  t.frame.reserve(estimate);
  t.x_nm.reserve(estimate);
  t.y_nm.reserve(estimate);
  if (optional_cols[kZ]) t.z_nm.reserve(estimate);
  if (optional_cols[kIntensity]) t.intensity.reserve(estimate);
  if (optional_cols[kUncertainty]) t.uncertainty_nm.reserve(estimate);

  const char* p = text.data();
  const char* const end = p + text.size();
  double values[kRoleCount] = {};
  while (p < end) {
    bool optional_nan = false;  // this row has NaN/inf in a column nothing reads
    // Stop only when an earlier chunk failed: its error comes first in the file.
    if (!skip_bad && first_failed->load(std::memory_order_relaxed) < index) return;
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
    const bool has_newline = nl != nullptr;
    const char* line_end = has_newline ? nl : end;
    const char* next = has_newline ? nl + 1 : end;
    ++out.lines;
    const char* le = line_end;
    if (le > p && le[-1] == '\r') --le;
    const char* q = p;  // indented comments and lines of spaces are comments and blanks too
    while (q < le && (*q == ' ' || *q == '\t')) ++q;
    if (q == le || *q == '#') {  // blank or comment line
      p = next;
      continue;
    }
    std::string error;
    std::int64_t error_col = 0;
    // One cell of a role read: its value, or the row's first error.
    const auto parse_cell = [&](std::size_t field, std::string_view cell) __attribute__((always_inline)) {  // the hot loop
      if (field >= plan.n_fields) return;
      const int role = plan.role_of_field[field];
      if (role == kNone || !error.empty()) return;
      double v;
      if (!parse_double(cell, v)) {
        error = "not a number: '" + printable(shorten(cell)) + "'";
        // "100,5" in a ';'- or tab-separated file, or quoted in a comma one: a decimal comma,
        // which is not guessed.
        if (cell.find('"') != std::string_view::npos && cell.find(',') != std::string_view::npos)
          error += " (a decimal comma or a thousands separator, in quotes? numbers must be plain, like 1234.5; export them so)";
        else if (plan.delim != ',' && cell.find(',') != std::string_view::npos && cell.find('.') != std::string_view::npos)
          // Grouped digits: the last mark is the decimal one. "1,019.8" groups with commas, "1.019,8"
          // (a German export) with points; advice for the one would corrupt the other silently.
          error += cell.rfind(',') > cell.rfind('.')
                       ? " (a decimal comma, with points grouping the thousands? numbers must be plain, like 1019.8: "
                         "export them without grouping and with a decimal point)"
                       : " (commas grouping the thousands? numbers must be plain, like 1019.8: export them without "
                         "grouping, or remove the commas, e.g. sed 's/,//g')";
        else if (plan.delim != ',' && cell.find(',') != std::string_view::npos)
          error += " (a decimal comma? numbers must use '.'; convert the file, e.g. sed 's/,/./g')";
        else if (unquoted(cell) == plan.header_names[field])
          error += " (the header line again: tables joined end to end? remove the repeated header)";
        error_col = static_cast<std::int64_t>(field) + 1;
      } else if (!std::isfinite(v) && (role == kZ || role == kIntensity || role == kUncertainty)) {
        // A fit's NaN uncertainty or intensity: the position is still data, and nothing here
        // reads these columns. Kept as NaN, counted and said.
        optional_nan = true;
        v = std::numeric_limits<double>::quiet_NaN();
      } else if (!std::isfinite(v)) {
        error = "value is not finite: '" + printable(shorten(cell)) + "'";
        error_col = static_cast<std::int64_t>(field) + 1;
      } else if ((role == kX || role == kY) && !std::isfinite(v * plan.scale[role])) {
        error = "value out of range: '" + printable(shorten(cell)) + "' is past any number once in nm";
        error_col = static_cast<std::int64_t>(field) + 1;
      } else if (role == kFrame && (v < 0 || v != std::floor(v) || v > std::numeric_limits<std::int32_t>::max())) {
        error = v > std::numeric_limits<std::int32_t>::max()
                    ? "frame " + printable(shorten(cell)) + " is past the largest frame number read here (2^31 - 1 = 2147483647)"
                    : "frame must be a non-negative integer, got '" + printable(shorten(cell)) + "'";
        error_col = static_cast<std::int64_t>(field) + 1;
      }
      values[role] = v;
    };
    // Walk the fields (fast: no quoting).
    std::size_t field = 0;
    const char* f = p;
    while (true) {
      const char* d = static_cast<const char*>(std::memchr(f, plan.delim, le - f));
      const char* fe = d ? d : le;
      parse_cell(field, std::string_view(f, fe - f));
      ++field;
      if (!d) break;
      f = d + 1;
    }
    // A quoted cell holding the delimiter ("a,b" in a text column): split again, quotes kept
    // together, as CSV means them.
    if (field != plan.n_fields && std::memchr(p, '"', le - p)) {
      const auto cells = split_fields(std::string_view(p, le - p), plan.delim);
      if (cells.size() == plan.n_fields) {
        error.clear(), error_col = 0, optional_nan = false;
        for (std::size_t i = 0; i < cells.size(); ++i) parse_cell(i, cells[i]);
        field = cells.size();
      }
    }
    // `1,"123,100`: split at the commas it reads as x = 123, the cell's quote never closed: what
    // was meant (123100? a cell cut short?) cannot be told.
    if (error.empty() && std::memchr(p, '"', le - p) && std::count(p, le, '"') % 2 == 1) {
      error = "a quote (\") opened and never closed on this line: fix the line (numbers need no quotes)";
      error_col = 0;
    }
    if (field != plan.n_fields && error.empty()) {
      if (!has_newline && is_last && field < plan.n_fields)
        error = "truncated last line: " + std::to_string(field) + " of " + std::to_string(plan.n_fields) +
                " fields and no line end";
      else
        error = "expected " + std::to_string(plan.n_fields) + " fields, found " + std::to_string(field);
      // "1,"777,32" in a comma table: the quotes are not read as grouping, so say what they hold.
      if (std::memchr(p, '"', le - p) && field > plan.n_fields)
        error += std::string(" (a quoted cell holds the delimiter '") + (plan.delim == '\t' ? "\\t" : std::string(1, plan.delim)) +
                 "': a decimal comma or a thousands separator? numbers must be plain, like 1234.5; export them so)";
      error_col = 0;
    }
    if (!error.empty()) {
      if (skip_bad) {
        ++out.skipped;
        if (out.errors.size() < 5)
          out.errors.emplace_back(out.lines, error_col > 0 ? "column " + std::to_string(error_col) + " (\"" +
                                                                 printable(plan.header_names[static_cast<std::size_t>(error_col - 1)]) +
                                                                 "\"): " + error
                                                           : error);
        p = next;
        continue;
      }
      out.errors.emplace_back(out.lines, error);
      out.error_column = error_col;
      if (error_col > 0) out.error_column_name = printable(plan.header_names[static_cast<std::size_t>(error_col - 1)]);
      return;
    }
    if (optional_nan && out.optional_not_finite++ == 0) out.optional_first_line = out.lines;
    t.frame.push_back(static_cast<std::int32_t>(values[kFrame]));
    t.x_nm.push_back(values[kX] * plan.scale[kX]);
    t.y_nm.push_back(values[kY] * plan.scale[kY]);
    if (optional_cols[kZ]) t.z_nm.push_back(static_cast<float>(values[kZ] * plan.scale[kZ]));
    if (optional_cols[kIntensity]) t.intensity.push_back(static_cast<float>(values[kIntensity]));
    if (optional_cols[kUncertainty])
      t.uncertainty_nm.push_back(static_cast<float>(values[kUncertainty] * plan.scale[kUncertainty]));
    p = next;
  }
}

Plan make_plan(std::string_view header, const std::string& name, std::size_t header_line,
               const CsvReadOptions& opt, std::string* description) {
  Plan plan;
  if (opt.delimiter) {
    plan.delim = opt.delimiter;
  } else {
    // The delimiter that splits the header into the most fields.
    std::size_t best = 0;
    for (char c : {',', '\t', ';'}) {
      const std::size_t n = split_fields(header, c).size();
      if (n > best) best = n, plan.delim = c;
    }
  }
  const auto fields = split_fields(header, plan.delim);
  plan.n_fields = fields.size();
  plan.role_of_field.assign(plan.n_fields, kNone);
  plan.field_of.fill(-1);
  plan.scale.fill(1.0);
  std::array<ColumnUnit, kRoleCount> units{};
  for (const auto& f : fields) {
    std::string s(f);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(0, 1);
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
    plan.header_names.push_back(s);
  }
  // A name that appears twice is ambiguous when it is read (a role's column, detected or mapped):
  // which of the two holds the values cannot be told, so say so rather than take the first.
  for (std::size_t i = 0; i < plan.n_fields; ++i) {
    const std::string ni = normalise(plan.header_names[i]);
    bool mapped = false;
    for (const auto& [role_name, column] : opt.columns) mapped = mapped || normalise(column) == ni;
    if (!mapped && !detect_role(ni)) continue;
    for (std::size_t j = i + 1; j < plan.n_fields; ++j)
      if (normalise(plan.header_names[j]) == ni)
        throw InputError(name,
                         "column '" + printable(plan.header_names[i]) + "' appears twice in the header (fields " + std::to_string(i + 1) +
                             " and " + std::to_string(j + 1) + "): which one holds the values is ambiguous; rename or remove one",
                         header_line);
  }
  if (!opt.columns.empty()) {
    for (const auto& [role_name, column] : opt.columns) {
      auto it = std::find(kRoleNames.begin(), kRoleNames.end(), role_name);
      if (it == kRoleNames.end())
        throw InputError(name, "unknown column role '" + role_name + "' (roles: frame, x, y, z, intensity, uncertainty)");
      const int role = static_cast<int>(it - kRoleNames.begin());
      const std::string want = normalise(column);
      std::size_t i = 0;
      while (i < plan.n_fields && normalise(plan.header_names[i]) != want) ++i;
      if (i == plan.n_fields)
        throw InputError(name, "column '" + printable(column) + "' (for " + role_name + ") is not in the header", header_line);
      if (plan.role_of_field[i] != kNone)
        throw InputError(name,
                         "--columns maps column '" + printable(plan.header_names[i]) + "' to both " + kRoleNames[plan.role_of_field[i]] +
                             " and " + role_name + ": one column holds one quantity",
                         header_line);
      plan.role_of_field[i] = role;
      plan.field_of[role] = static_cast<int>(i);
      if (auto d = detect_role(want); d && d->second.explicit_unit) units[role] = d->second;  // "x=xnm"
      else if (auto u = unit_suffix(want)) units[role] = ColumnUnit{*u, true};           // "x=Position X [um]"
    }
  }
  // Detection fills roles the mapping did not give.
  for (std::size_t i = 0; i < plan.n_fields; ++i) {
    if (plan.role_of_field[i] != kNone) continue;
    if (auto d = detect_role(normalise(plan.header_names[i]))) {
      const Role r = d->first;
      if (!opt.columns.empty() && opt.columns.count(kRoleNames[r])) continue;
      if (plan.field_of[r] >= 0)  // two columns that both look like this role: never guess
        throw InputError(name,
                         "columns '" + printable(plan.header_names[plan.field_of[r]]) + "' and '" +
                             printable(plan.header_names[i]) + "' both look like " + kRoleNames[r] + ": say which one with --columns " + kRoleNames[r] + "=NAME",
                         header_line);
      plan.role_of_field[i] = r;
      plan.field_of[r] = static_cast<int>(i);
      units[r] = d->second;
    }
  }
  // Nikon N-STORM exports X, Y and their drift-corrected Xc, Yc: which is meant cannot be told.
  // Xc, Yc alone are taken (said); beside X, Y they are named, not used.
  for (int r : {kX, kY}) {
    const std::string corrected = std::string(kRoleNames[r]) + "c";
    for (std::size_t i = 0; i < plan.n_fields; ++i) {
      if (plan.role_of_field[i] != kNone || normalise(plan.header_names[i]) != corrected) continue;
      if (plan.field_of[r] < 0) {
        plan.role_of_field[i] = r;
        plan.field_of[r] = static_cast<int>(i);
        plan.notes.push_back(name + ": column '" + printable(plan.header_names[i]) + "' (drift-corrected, N-STORM) read as " + kRoleNames[r]);
      } else {
        plan.notes.push_back(name + ": column '" + printable(plan.header_names[i]) + "' (drift-corrected, N-STORM?) is not "
                             "used: " + kRoleNames[r] + " is '" + printable(plan.header_names[plan.field_of[r]]) +
                             "' (--columns " + kRoleNames[r] + "=" + printable(plan.header_names[i]) + " to use it)");
      }
    }
  }
  for (int r : {kFrame, kX, kY}) {
    if (plan.field_of[r] < 0) {
      std::string have;
      std::size_t listed = 0;
      for (const auto& h : plan.header_names) {
        if (have.size() > 300) break;  // a header that is the whole file (unknown line ends): its start
        have += (have.empty() ? "" : ", ") + ("'" + printable(h.substr(0, 60)) + (h.size() > 60 ? "...'" : "'"));
        if (const int role = plan.role_of_field[listed]; role != kNone && !opt.columns.empty())
          have += std::string(" (as ") + kRoleNames[role] + ")";
        ++listed;
      }
      if (listed < plan.header_names.size()) have += fmt::format(" and {} more", plan.header_names.size() - listed);
      // "frame<TAB>x,y": split at one, the other left inside a name (probe78 saw it only as '?').
      for (char c : {',', '\t', ';'})
        if (c != plan.delim && plan.n_fields > 1 && header.find(c) != std::string_view::npos) {
          have += fmt::format("; it holds a {} as well as the {}s it is split at: mixed delimiters? (fix the header, or "
                              "name the one to split at with --delimiter)",
                              delimiter_name(c), delimiter_name(plan.delim));
          break;
        }
      // A first line of numbers alone is data: the table has no header (probe71: read as names).
      const bool numbers_only =
          plan.header_names.size() > 1 && std::all_of(plan.header_names.begin(), plan.header_names.end(), [](const std::string& h) {
            double v = 0;
            return parse_double(h, v);
          });
      if (numbers_only) have += ": numbers, not names: the table has no header line; add one (e.g. frame,x,y), as the "
                                "columns are named by it";
      // "x [mm]": the axis is there, in a unit not read.
      if (r != kFrame)
        for (const auto& h : plan.header_names) {
          const std::string n = normalise(h);
          if (n.size() > 3 && n[0] == kRoleNames[r][0] && (n[1] == '[' || n[1] == '(') && !unit_suffix(n))
            have += "; '" + printable(h) + "' names a unit not read here (nm, um, px are)";
        }
      throw InputError(name,
                       std::string("missing required column '") + kRoleNames[r] + "' (header has " + have +
                           (plan.n_fields == 1 && opt.delimiter
                                ? fmt::format("; the delimiter given ('{}': --delimiter, or campaign.ini's delimiter) is not "
                                              "in it: give the one the table uses, or auto",
                                              opt.delimiter == '\t' ? "\\t" : std::string(1, opt.delimiter))
                            : plan.n_fields == 1 ? "; no delimiter (',', tab or ';') found in it: a space-separated table must be converted "
                                                   "first, e.g. tr -s ' ' ','"
                                                 : "") +
                           // Excel's first line "sep=," names the delimiter; the header follows it.
                           (!plan.header_names.empty() && normalise(plan.header_names[0]).rfind("sep=", 0) == 0
                                ? "; its first line is Excel's delimiter line ('sep=...'): delete that line"
                                : "") +
                           "; map columns explicitly with --columns " + kRoleNames[r] + "=NAME)",
                       header_line);
    }
  }
  for (int r : {kX, kY, kZ, kUncertainty}) {
    if (plan.field_of[r] < 0) continue;
    if ((r == kX || r == kY) && !units[r].explicit_unit && !opt.xy_unit_given &&
        opt.xy_unit == XyUnit::Nanometre)
      plan.xy_unit_assumed = true;
    // (Said only where --xy-unit reads nothing: with one axis bare it is what reads that one.)
    if ((r == kX || r == kY) && units[r].explicit_unit && opt.xy_unit != XyUnit::Nanometre && units[kX].explicit_unit &&
        units[kY].explicit_unit)
      plan.notes.push_back(name + ": --xy-unit " + (opt.xy_unit == XyUnit::Micrometre ? "um" : "px") + " not used for column '" +
                           printable(plan.header_names[plan.field_of[r]]) + "': its name states its unit");
    const Unit unit = units[r].explicit_unit                    ? units[r].unit
                      : opt.xy_unit == XyUnit::CameraPixel     ? Unit::Px
                      : opt.xy_unit == XyUnit::Micrometre      ? Unit::Um
                                                               : Unit::Nm;
    units[r].unit = unit;  // as resolved, for the description
    if (unit == Unit::Px) {
      if (!(opt.camera_pixel_nm > 0))
        throw InputError(name, "column '" + printable(plan.header_names[plan.field_of[r]]) +
                                   "' is in camera pixels: give the camera pixel size (--camera-pixel-nm)");
      plan.scale[r] = opt.camera_pixel_nm;
    } else if (unit == Unit::Um) {
      plan.scale[r] = 1000.0;
    }
  }
  // "x [um]" beside a bare "y": the bare axis would be read in nm, a factor 1000 apart from x
  // (a 1-pixel-high image). Which unit y holds is not guessed.
  if (!opt.xy_unit_given && units[kX].explicit_unit != units[kY].explicit_unit) {
    const int named = units[kX].explicit_unit ? kX : kY, bare = named == kX ? kY : kX;
    throw InputError(name,
                     std::string("column '") + printable(plan.header_names[plan.field_of[named]]) + "' names its unit but '" +
                         printable(plan.header_names[plan.field_of[bare]]) + "' (" + kRoleNames[bare] +
                         ") does not: name it in both headers, or give --xy-unit for the bare one",
                     header_line);
  }
  // "x [nm]" beside "y [um]": no localization software writes its axes in different units; one
  // header is wrong, and read as written y spans 1000 times x (probe95: a 1000 x 999203 px image
  // that ran out of memory). Which one is wrong is not guessed.
  if (units[kX].explicit_unit && units[kY].explicit_unit && units[kX].unit != units[kY].unit) {
    const auto unit_name = [](Unit u) { return u == Unit::Nm ? "nm" : u == Unit::Um ? "um" : "camera px"; };
    throw InputError(name,
                     "columns '" + printable(plan.header_names[plan.field_of[kX]]) + "' and '" +
                         printable(plan.header_names[plan.field_of[kY]]) + "' name different units (" + unit_name(units[kX].unit) +
                         ", " + unit_name(units[kY].unit) + "): x and y are in one unit in every localization table; correct "
                         "the header that is wrong",
                     header_line);
  }
  if (plan.field_of[kZ] >= 0 && plan.scale[kZ] != 1.0 && !units[kZ].explicit_unit)
    plan.scale[kZ] = 1.0;  // axial positions are nm unless the name says px
  if (description) {
    std::string d;
    for (int r = 0; r < kRoleCount; ++r) {
      if (plan.field_of[r] < 0) continue;
      d += (d.empty() ? "" : ", ") + std::string(kRoleNames[r]) + "='" + printable(plan.header_names[plan.field_of[r]]) + "'";
      if (plan.scale[r] == 1000.0 && units[r].unit == Unit::Um) d += " (um)";
      else if (plan.scale[r] != 1.0) d += fmt::format(" (px x {:g} nm)", plan.scale[r]);
    }
    *description = d;
  }
  return plan;
}

}  // namespace

std::optional<XyUnit> parse_xy_unit(const std::string& name) {
  if (name == "nm") return XyUnit::Nanometre;
  if (name == "um" || name == "\xC2\xB5m" || name == "\xCE\xBCm" || name == "micron") return XyUnit::Micrometre;
  if (name == "px") return XyUnit::CameraPixel;
  return std::nullopt;
}

std::string xy_unit_name(XyUnit unit) {
  return unit == XyUnit::Micrometre ? "um" : unit == XyUnit::CameraPixel ? "px" : "nm";
}

std::optional<char> parse_delimiter(const std::string& name) {
  if (name.empty() || name == "auto") return char{0};
  if (name == "comma" || name == ",") return ',';
  if (name == "tab" || name == "\\t" || name == "\t") return '\t';
  if (name == "semicolon" || name == ";") return ';';
  return std::nullopt;
}

std::string delimiter_name(char delimiter) {
  return delimiter == ',' ? "comma" : delimiter == '\t' ? "tab" : delimiter == ';' ? "semicolon" : "auto";
}

std::map<std::string, std::string> parse_column_mapping(const std::string& spec) {
  std::map<std::string, std::string> out;
  std::size_t start = 0;
  while (start < spec.size()) {
    std::size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    const std::string item = spec.substr(start, comma - start);
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      throw InputError("--columns", "expected ROLE=NAME, got '" + item + "'");
    const std::string role = item.substr(0, eq);
    if (std::find(kRoleNames.begin(), kRoleNames.end(), role) == kRoleNames.end())
      throw InputError("--columns", "unknown role '" + role + "' (roles: frame, x, y, z, intensity, uncertainty)");
    if (const auto it = out.find(role); it != out.end())  // which one was meant cannot be told
      throw InputError("--columns", "maps " + role + " twice ('" + it->second + "' and '" + item.substr(eq + 1) + "')");
    out[role] = item.substr(eq + 1);
    start = comma + 1;
  }
  return out;
}

LocTable parse_csv_table(std::string_view text, const std::string& name, const CsvReadOptions& opt,
                         ReadReport* report) {
  // Header: the first line that is neither blank nor a comment. A UTF-8 byte-order mark (Excel's
  // "CSV UTF-8") is not part of the first column's name.
  // Files that are not text tables at all are named as what they are.
  if (text.substr(0, 2) == "\xFF\xFE" || text.substr(0, 2) == "\xFE\xFF")
    throw InputError(name, "is UTF-16 text (Excel's \"Unicode Text\"): save it as CSV UTF-8 (or convert it: iconv -f UTF-16 -t UTF-8)");
  if (text.substr(0, 2) == "\x1F\x8B")
    throw InputError(name, "is gzip-compressed: decompress it first (gunzip -k)");
  if (text.substr(0, 4) == std::string_view("II*\0", 4) || text.substr(0, 4) == std::string_view("MM\0*", 4) ||
      text.substr(0, 4) == std::string_view("II+\0", 4) || text.substr(0, 4) == std::string_view("MM\0+", 4))  // BigTIFF
    throw InputError(name, "is a TIFF image, not a localization table (a widefield given as --table?)");
  if (text.substr(0, 4) == std::string_view("PK\x03\x04", 4))
    throw InputError(name, "is a ZIP archive (an Excel .xlsx workbook saved under another name?): save the table as CSV (UTF-8)");
  if (text.substr(0, 4) == "\xD0\xCF\x11\xE0")
    throw InputError(name, "is a binary Excel (.xls) workbook: save the table as CSV (UTF-8)");
  if (text.substr(0, 8) == "\x89HDF\r\n\x1A\n")
    throw InputError(name, "is an HDF5 file: only Picasso's .hdf5 (with a 'locs' table) is read, and by its extension");
  if (text.substr(0, 8) == "\x89PNG\r\n\x1A\n" || text.substr(0, 3) == "\xFF\xD8\xFF")
    throw InputError(name, std::string("is a ") + (text[0] == '\x89' ? "PNG" : "JPEG") +
                               " image, not a localization table (a preview saved under the table's name?)");
  // Any other binary file (NUL bytes never occur in text): named as such, not read as a header
  // of garbled column names (a probe's PNG was answered with its bytes and a delimiter hint).
  if (text.substr(0, 65536).find('\0') != std::string_view::npos)
    throw InputError(name, "is a binary file (it holds NUL bytes), not a text table: save the table as CSV (UTF-8)");
  if (const std::string_view head = text.substr(0, 65536);
      head.find('\n') == std::string_view::npos && head.find('\r') != std::string_view::npos)
    throw InputError(name, "its lines end with CR alone (classic Mac OS): convert them to LF first (tr '\\r' '\\n')");
  std::size_t pos = text.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0, line_no = 0;
  std::string_view header;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    const bool has_nl = nl != std::string_view::npos;
    if (!has_nl) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++line_no;
    pos = has_nl ? nl + 1 : text.size();
    const std::size_t first = line.find_first_not_of(" \t");
    if (first != std::string_view::npos && line[first] != '#') {
      header = line;
      break;
    }
  }
  if (header.empty()) throw InputError(name, "empty file: no header line");
  std::string description;
  const Plan plan = make_plan(header, name, line_no, opt, &description);
  bool optional_cols[kRoleCount] = {};
  for (int r : {kZ, kIntensity, kUncertainty}) optional_cols[r] = plan.field_of[r] >= 0;

  // Chunks at line boundaries.
  const std::string_view body = text.substr(pos);
  std::vector<std::string_view> pieces;
  const std::size_t chunk = std::max<std::size_t>(opt.chunk_bytes, 1024);
  for (std::size_t b = 0; b < body.size();) {
    std::size_t e = std::min(body.size(), b + chunk);
    if (e < body.size()) {
      const std::size_t nl = body.find('\n', e - 1);
      e = nl == std::string_view::npos ? body.size() : nl + 1;
    }
    pieces.push_back(body.substr(b, e - b));
    b = e;
  }
  std::vector<Chunk> chunks(pieces.size());
  std::atomic<std::size_t> first_failed{SIZE_MAX};
  auto run = [&] {
    tbb::parallel_for(std::size_t{0}, pieces.size(), [&](std::size_t i) {
      parse_chunk(pieces[i], plan, optional_cols, i + 1 == pieces.size(), opt.skip_bad_rows, chunks[i],
                  &first_failed, i);
      if (!opt.skip_bad_rows && !chunks[i].errors.empty()) {
        std::size_t cur = first_failed.load();
        while (i < cur && !first_failed.compare_exchange_weak(cur, i)) {
        }
      }
    });
  };
  if (opt.threads > 0) tbb::task_arena(static_cast<int>(opt.threads)).execute(run);
  else run();

  // Errors in file order: every chunk before the first failing one ran to its end, so line
  // numbers are exact.
  std::size_t base_line = line_no;
  LocTable table;
  std::size_t total = 0;
  for (const auto& c : chunks) total += c.rows.size();
  table.frame.reserve(total);
  table.x_nm.reserve(total);
  table.y_nm.reserve(total);
  ReadReport local;
  local.xy_unit_assumed = plan.xy_unit_assumed;
  local.warnings = plan.notes;
  std::size_t optional_not_finite = 0, optional_first_line = 0;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    Chunk& c = chunks[i];
    if (!opt.skip_bad_rows && !c.errors.empty())
      throw MalformedRowError(name, c.errors.front().second, static_cast<std::int64_t>(base_line + c.errors.front().first),
                       c.error_column, c.error_column_name);
    for (const auto& [l, msg] : c.errors)
      if (local.skipped_examples.size() < 10)
        local.skipped_examples.push_back(name + ":" + std::to_string(base_line + l) + ": " + msg);
    local.rows_skipped += c.skipped;
    if (c.optional_not_finite > 0 && optional_not_finite == 0) optional_first_line = base_line + c.optional_first_line;
    optional_not_finite += c.optional_not_finite;
    base_line += c.lines;
    table.append(c.rows);
    c.rows = LocTable();  // release as we go: peak memory stays ~2x the table
  }
  // A last line without its line end is how a copy or an export cut short looks; its row may hold
  // a truncated number that still parses (12345.6 read as 12), so say it rather than guess.
  if (!body.empty() && body.back() != '\n') {
    const std::size_t nl = body.find_last_of('\n');
    std::string_view last = body.substr(nl == std::string_view::npos ? 0 : nl + 1);
    if (!last.empty() && last.back() == '\r') last.remove_suffix(1);
    if (!last.empty() && last.front() != '#')
      local.warnings.push_back(name + ":" + std::to_string(base_line) +
                               ": the last line has no line end: the file may be cut short (an interrupted copy or "
                               "export); its row was read as it stands" +
                               (opt.skip_bad_rows ? std::string(" unless it is among the skipped rows") : std::string()));
  }
  if (optional_not_finite > 0)
    local.warnings.push_back(fmt::format("{}:{}: {} row(s) (this the first) have NaN or infinite values in z, intensity or "
                                         "uncertainty: kept, those values as NaN (annamosaic reads only frame, x and y)",
                                         name, optional_first_line, optional_not_finite));
  // Frames in order that start again from the beginning: tables joined end to end (without their
  // second header), or one table twice (probe78: every row twice, read without a word). A table
  // sorted otherwise (by molecule, say) descends often and is not this.
  if (table.size() >= 100) {
    std::size_t descents = 0, first = 0;
    for (std::size_t i = 1; i < table.size(); ++i)
      if (table.frame[i] < table.frame[i - 1] && descents++ == 0) first = i;
    // Both parts a table's worth (probe81: one stray row at either end was called a restart).
    const std::size_t part = std::max<std::size_t>(50, table.size() / 10);
    if (descents > 0 && descents <= 3 && first >= part && table.size() - first >= part &&
        table.frame[first] - table.frame[0] <= (table.frame[first - 1] - table.frame[0]) / 10)
      local.warnings.push_back(fmt::format("{}: its frames run in order up to {}, then start again at {} (data row {}){}: "
                                           "tables joined end to end, or one copied twice? Read as one acquisition, as "
                                           "they are",
                                           name, table.frame[first - 1], table.frame[first], first + 1,
                                           descents > 1 ? fmt::format(", and {} more time(s)", descents - 1) : ""));
  }
  // A header without rows is an empty FoV, not a malformed file: callers decide.
  local.rows_read = table.size();
  local.columns = description;
  if (report) *report = std::move(local);
  return table;
}

LocTable read_csv_table(const std::string& path, const CsvReadOptions& opt, ReadReport* report) {
  require_regular_file(path, "table");
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw IoError(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    throw IoError(path, std::string("cannot stat: ") + std::strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw IoError(path, "is a directory, not a table");
  }
  const std::size_t size = static_cast<std::size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    throw InputError(path, "empty file (0 bytes)");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);
  if (map == MAP_FAILED) throw IoError(path, std::string("cannot map: ") + std::strerror(map_errno));
  ::madvise(map, size, MADV_SEQUENTIAL | MADV_WILLNEED);
  struct Unmap {
    void* p;
    std::size_t n;
    ~Unmap() { ::munmap(p, n); }
  } guard{map, size};
  return parse_csv_table(std::string_view(static_cast<const char*>(map), size), path, opt, report);
}

}  // namespace annamosaic
