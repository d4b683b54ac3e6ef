#include "batch/repeated_warnings.hpp"

#include <cctype>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace annamosaic {

std::string warning_kind(const std::string& text) {
  std::string kind;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t end = std::min(text.find(' ', i), text.size());
    const std::string word = text.substr(i, end - i);
    if (word.find('/') == std::string::npos)
      for (char c : word)
        if (!std::isdigit(static_cast<unsigned char>(c))) kind += c;
    if (end < text.size()) kind += ' ';
    i = end + 1;
  }
  return kind;
}

std::string warning_gist(const std::string& text) {
  std::string gist = text.substr(0, text.find(" ("));
  if (gist.size() > 160) gist = gist.substr(0, 157) + "...";
  return gist;
}

std::string RepeatedWarnings::line(int fov_id, const std::string& text) {
  const std::string key = warning_kind(text);
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, fresh] = kinds_.try_emplace(key);
  Kind& k = it->second;
  if (fresh) {
    k.gist = warning_gist(text);
    order_.push_back(key);
  }
  ++k.count;
  if (k.fovs.size() < 5) k.fovs.push_back(fov_id);
  if (k.count <= in_full_) return text;
  return fmt::format("{} (as for FoV {} above; each FoV's full warning is in manifest.jsonl)", warning_gist(text),
                     k.fovs.front());
}

std::vector<std::string> RepeatedWarnings::summary() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> lines;
  for (const std::string& key : order_) {
    const Kind& k = kinds_.at(key);
    if (k.count <= in_full_) continue;
    lines.push_back(fmt::format("{} FoVs warned alike: \"{}\" (FoVs {}{})", k.count, k.gist, fmt::join(k.fovs, ", "),
                                k.count > k.fovs.size() ? ", ..." : ""));
  }
  return lines;
}

}  // namespace annamosaic
