#include "batch/repeated_warnings.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace annamosaic {

std::string warning_kind(const std::string& text) {
  std::string kind;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t end = std::min(text.find(' ', i), text.size());
    std::string word = text.substr(i, end - i);
    // A path counts by its file name (locs.csv, widefield.tif), not its folders (fov/0012/).
    if (const std::size_t slash = word.rfind('/'); slash != std::string::npos) word = word.substr(slash + 1);
    for (char c : word)
      if (!std::isdigit(static_cast<unsigned char>(c))) kind += c;
    if (end < text.size()) kind += ' ';
    i = end + 1;
  }
  return kind;
}

std::string warning_gist(const std::string& text) {
  // Up to its reasons and advice, which follow a " (", when what comes before says what it is
  // about: 40 characters or more besides paths (".../locs.csv: 3435 of 5484 localizations (62%)
  // lie outside the field" must not lose "lie outside the field"); else its first 160 characters,
  // cut at a space.
  const std::size_t paren = text.find(" (");
  std::size_t words = 0;  // characters before the paren, paths left out
  for (std::size_t i = 0; paren != std::string::npos && i < paren;) {
    const std::size_t end = std::min(text.find(' ', i), paren);
    if (text.substr(i, end - i).find('/') == std::string::npos) words += end - i + 1;
    i = end + 1;
  }
  if (paren != std::string::npos && words >= 40 && paren <= 200) return text.substr(0, paren);
  if (text.size() <= 160) return text;
  const std::size_t space = text.rfind(' ', 157);
  return text.substr(0, space == std::string::npos || space < 80 ? 157 : space) + "...";
}

std::string RepeatedWarnings::line(int fov_id, const std::string& text) {
  const std::string key = warning_kind(text);
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, fresh] = kinds_.try_emplace(key);
  Kind& k = it->second;
  if (fresh) {
    k.gist = warning_gist(text);
    k.first = fov_id;
    order_.push_back(key);
  }
  ++k.count;
  if (!std::binary_search(k.fovs.begin(), k.fovs.end(), fov_id))
    k.fovs.insert(std::upper_bound(k.fovs.begin(), k.fovs.end(), fov_id), fov_id);
  if (k.fovs.size() > 5) k.fovs.pop_back();
  if (k.count <= in_full_) return text;
  const std::string gist = warning_gist(text);
  if (gist == text) return text;  // short already
  return fmt::format("{} (as for FoV {} above; each FoV's full warning is in manifest.jsonl)", gist, k.first);
}

std::vector<std::string> RepeatedWarnings::summary() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> lines;
  for (const std::string& key : order_) {
    const Kind& k = kinds_.at(key);
    if (k.count <= in_full_) continue;
    lines.push_back(fmt::format("{} FoVs warned alike (FoVs {}{}), e.g. FoV {}: \"{}\"", k.count, fmt::join(k.fovs, ", "),
                                k.count > k.fovs.size() ? ", ..." : "", k.first, k.gist));
  }
  return lines;
}

}  // namespace annamosaic
