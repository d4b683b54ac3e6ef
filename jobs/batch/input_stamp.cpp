#include "batch/input_stamp.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <filesystem>

#include "batch/manifest.hpp"

namespace annamosaic {
namespace {
// Relative to the campaign folder where the file is inside it, so a moved campaign compares equal.
std::string campaign_relative(const std::string& path, const std::string& campaign_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path abs = fs::absolute(path, ec).lexically_normal(), dir = fs::absolute(campaign_dir, ec).lexically_normal();
  const fs::path rel = abs.lexically_relative(dir);
  if (rel.empty() || *rel.begin() == "..") return abs.generic_string();  // outside the campaign: one spelling
  return rel.generic_string();
}
}  // namespace

std::int64_t mtime_ns(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

nlohmann::json stamp_input(const std::string& path, const std::string& campaign_dir) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return nullptr;  // not there: reading it says so
  std::string checksum;  // "" when unreadable (the FoV says why): compared by size and time alone
  try {
    checksum = file_checksum(path);
  } catch (const std::exception&) {
  }
  return {{"path", campaign_relative(path, campaign_dir)},
          {"size_bytes", static_cast<std::uint64_t>(st.st_size)},
          {"mtime_ns", mtime_ns(st)},
          {"checksum", checksum}};
}

InputComparison compare_input(const nlohmann::json& stamp, const std::string& path, const std::string& campaign_dir) {
  InputComparison c;
  const std::string was = stamp.value("path", "");
  const std::string now = campaign_relative(path, campaign_dir);
  if (was != now) {
    c.change = fmt::format("its input is now {} (it was made from {})", now, was);
    return c;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    c.gone = true;
    return c;
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size != stamp.value("size_bytes", std::uint64_t{0})) {
    c.change = fmt::format("{} changed since ({} -> {} bytes)", path, stamp.value("size_bytes", std::uint64_t{0}), size);
    return c;
  }
  if (mtime_ns(st) == stamp.value("mtime_ns", std::int64_t{0})) return c;
  if (stamp.value("checksum", "").empty()) {
    c.change = path + " changed since (a new modification time)";
    return c;
  }
  c.read_content = true;
  try {
    if (const std::string was = stamp.value("checksum", ""); file_checksum_as(path, was) != was) {
      c.change = path + " changed since (same size, other content)";
    } else {
      c.refreshed = stamp;
      c.refreshed["mtime_ns"] = mtime_ns(st);
    }
  } catch (const std::exception& e) {
    c.change = e.what();
  }
  return c;
}

std::string changed_while_read(const nlohmann::json& stamp, const std::string& path) {
  struct stat st {};
  if (stamp.is_null() || ::stat(path.c_str(), &st) != 0) return "";
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size == stamp.value("size_bytes", std::uint64_t{0}) && mtime_ns(st) == stamp.value("mtime_ns", std::int64_t{0}))
    return "";
  return fmt::format("{} changed while it was read ({} bytes before, {} after): is it still being written? This FoV may "
                     "hold part of it; the next run redoes it",
                     path, stamp.value("size_bytes", std::uint64_t{0}), size);
}

}  // namespace annamosaic
