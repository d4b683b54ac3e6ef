#pragma once
// Exceptions with context. Libraries throw these at I/O boundaries; the job layer catches them
// per FoV. The message always names the file and, where known, the line and column (1-based).
#include <cstdint>
#include <filesystem>
#include <new>
#include <stdexcept>
#include <string>

#include "core/input_file.hpp"

namespace annamosaic {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad user input: malformed table, corrupt TIFF, bad option value.
class InputError : public Error {
 public:
  // column_name: the table's header of that column, said as `column 3 ("x [nm]")`.
  InputError(std::string file, std::string what, std::int64_t line = 0, std::int64_t column = 0,
             const std::string& column_name = "")
      : Error(format(file, what, line, column, column_name)), file_(std::move(file)), message_(what), line_(line),
        column_(column) {}
  const std::string& file() const { return file_; }
  // What is wrong without the place (for a caller that words the place itself: an option, a key).
  const std::string& message() const { return message_; }
  std::int64_t line() const { return line_; }
  std::int64_t column() const { return column_; }

 private:
  static std::string format(const std::string& file, const std::string& what, std::int64_t line, std::int64_t column,
                            const std::string& column_name) {
    if (file.empty()) return what;  // the message names its own place
    std::string s = file;
    if (line > 0) s += ":" + std::to_string(line);
    if (column > 0) s += ": column " + std::to_string(column) + (column_name.empty() ? "" : " (\"" + column_name + "\")");
    return s + ": " + what;
  }
  std::string file_, message_;
  std::int64_t line_, column_;
};

// Environment failures: cannot open, disk full, permission denied.
class IoError : public Error {
 public:
  IoError(const std::string& path, const std::string& what) : Error(path.empty() ? what : path + ": " + what), path_(path) {}
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Long work given up because the user or the scheduler asked to stop (SIGTERM, SIGUSR1): nothing
// is wrong, the work is to be redone or resumed by the next run.
class Stopped : public Error {
 public:
  using Error::Error;
};

// Memory exhausted: std::bad_alloc, or LibTorch's allocators' errors (c10::Error, known by their
// text: "DefaultCPUAllocator: can't allocate memory", "CUDA out of memory"). The environment's
// limit (a job's --mem, ulimit -v), not a bug: exit 3 like other environment errors.
inline bool is_out_of_memory(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e)) return true;
  const std::string what = e.what();
  return what.find("can't allocate memory") != std::string::npos || what.find("CUDA out of memory") != std::string::npos;
}

// The exit status a command gives for an error of this kind (the README's table): 2 bad input,
// 3 I/O or environment (std::filesystem errors and memory exhausted too), 4 anything else (the command line's usage
// errors, 1, are the CLI's own).
inline int exit_status_of(const std::exception& e) {
  if (dynamic_cast<const InputError*>(&e)) return 2;
  if (dynamic_cast<const IoError*>(&e) || dynamic_cast<const std::filesystem::filesystem_error*>(&e)) return 3;
  if (is_out_of_memory(e)) return 3;
  return 4;
}

// An exception's message for users: a std::filesystem error as "PATH: what was tried: what the
// system said" ("out: cannot create directories: Not a directory"), not the library's
// "filesystem error: ... [out]"; any other exception's what().
inline std::string error_text(const std::exception& e) {
  if (is_out_of_memory(e)) {  // LibTorch's text runs on with a stack trace: its first line
    const std::string what = e.what();
    return "out of memory (" + what.substr(0, what.find('\n')) + ")";
  }
  const auto* fe = dynamic_cast<const std::filesystem::filesystem_error*>(&e);
  if (!fe) return e.what();
  std::string op = fe->what();
  if (const std::string prefix = "filesystem error: "; op.rfind(prefix, 0) == 0) op.erase(0, prefix.size());
  if (const auto bracket = op.find(" ["); bracket != std::string::npos) op.erase(bracket);
  // "status" is the library's name for looking a path up (stat), not annamosaic's command.
  if (const std::string stat_op = "status: "; op.rfind(stat_op, 0) == 0) op.replace(0, stat_op.size(), "cannot look it up: ");
  // A folder to make where a link to nothing stands ("File exists"): where the link points.
  if (const auto target = fe->path1().empty() ? std::nullopt : dangling_link_target(fe->path1().string()))
    op += " (it is a link to " + *target + ", which does not exist)";
  return fe->path1().empty() ? op : fe->path1().string() + ": " + op;
}

}  // namespace annamosaic
