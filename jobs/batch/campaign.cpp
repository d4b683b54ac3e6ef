#include "batch/campaign.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>

#include "core/error.hpp"

namespace annamosaic {
namespace fs = std::filesystem;

namespace {
std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

std::map<std::string, std::pair<std::string, int>> read_ini_section(const std::string& path, const std::string& section) {
  std::ifstream in(path);
  if (!in) throw IoError(path, "cannot open campaign description");
  std::map<std::string, std::pair<std::string, int>> kv;
  std::string line, current;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[') {
      current = trim(line.substr(1, line.find(']') - 1));
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string::npos) throw InputError(path, "expected key = value", n);
    if (current == section) kv[trim(line.substr(0, eq))] = {trim(line.substr(eq + 1)), n};
  }
  return kv;
}
}  // namespace

std::string expand_pattern(const std::string& pattern, int id) {
  std::string out = pattern;
  const std::string token = "{id}";
  for (auto p = out.find(token); p != std::string::npos; p = out.find(token)) out.replace(p, token.size(), fmt::format("{:04d}", id));
  return out;
}

CampaignInfo read_campaign(const std::string& dir) {
  const std::string path = dir + "/campaign.ini";
  auto kv = read_ini_section(path, "campaign");
  CampaignInfo c;
  c.dir = dir;
  auto get = [&](const char* key, auto& dst, bool required) {
    auto it = kv.find(key);
    if (it == kv.end()) {
      if (required) throw InputError(path, std::string("missing key '") + key + "' in [campaign]");
      return;
    }
    using T = std::decay_t<decltype(dst)>;
    if constexpr (std::is_same_v<T, std::string>) {
      dst = it->second.first;
    } else {
      std::istringstream s(it->second.first);
      if (!(s >> dst) || !(s >> std::ws).eof())
        throw InputError(path, std::string("bad value for '") + key + "': '" + it->second.first + "'", it->second.second);
    }
    kv.erase(it);
  };
  get("name", c.name, false);
  get("rows", c.rows, true);
  get("cols", c.cols, true);
  get("fov-um", c.fov_um, true);
  get("overlap-um", c.overlap_um, true);
  get("camera-pixel-nm", c.camera_pixel_nm, false);
  get("structure", c.structure, false);
  get("switch-id", c.switch_id, false);
  get("frames", c.frames, false);
  get("table", c.table_pattern, false);
  get("widefield", c.widefield_pattern, false);
  get("widefield-frames", c.widefield_frames, false);
  get("positions", c.positions, false);
  std::string order;
  get("order", order, false);
  if (!kv.empty()) throw InputError(path, "unknown key '" + kv.begin()->first + "' in [campaign]", kv.begin()->second.second);
  if (c.rows < 1 || c.cols < 1) throw InputError(path, "rows and cols must be >= 1");
  if (!(c.fov_um > 0)) throw InputError(path, "fov-um must be > 0");
  return c;
}

std::vector<FovEntry> plan_fovs(const CampaignInfo& c) {
  const std::string path = c.dir + "/" + c.positions;
  std::ifstream in(path);
  if (!in) throw IoError(path, "cannot open positions table");
  std::string line;
  std::getline(in, line);
  if (trim(line) != "id,row,col,x_um,y_um")
    throw InputError(path, "expected the header 'id,row,col,x_um,y_um', got '" + trim(line) + "'", 1);
  std::vector<FovEntry> out;
  int n = 1;
  while (std::getline(in, line)) {
    ++n;
    if (trim(line).empty()) continue;
    std::replace(line.begin(), line.end(), ',', ' ');
    std::istringstream s(line);
    FovEntry f;
    if (!(s >> f.id >> f.row >> f.col >> f.x_um >> f.y_um) || !(s >> std::ws).eof())
      throw InputError(path, "malformed row (expected id,row,col,x_um,y_um)", n);
    f.table_path = c.dir + "/" + expand_pattern(c.table_pattern, f.id);
    const std::string wf = c.dir + "/" + expand_pattern(c.widefield_pattern, f.id);
    if (fs::exists(wf)) f.widefield_path = wf;
    std::error_code ec;
    const auto size = fs::file_size(f.table_path, ec);
    f.cost = ec ? 0 : size;
    out.push_back(f);
  }
  if (out.empty()) throw InputError(path, "no FoVs listed");
  return out;
}

std::vector<std::size_t> largest_first(const std::vector<FovEntry>& fovs) {
  std::vector<std::size_t> idx(fovs.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
    return fovs[a].cost != fovs[b].cost ? fovs[a].cost > fovs[b].cost : fovs[a].id < fovs[b].id;
  });
  return idx;
}

}  // namespace annamosaic
