#include "batch/fov_tiles.hpp"

#include <cmath>
#include <stdexcept>

#include "batch/fov_result.hpp"

namespace annamosaic {

FovResultTiles::FovResultTiles(const std::string& out_dir, const CampaignInfo& c, const std::vector<FovEntry>& fovs,
                               const std::map<int, ManifestRecord>& records, double pixel_nm,
                               std::vector<std::string> channels)
    : out_dir_(out_dir), channels_(std::move(channels)) {
  const std::size_t side = static_cast<std::size_t>(std::ceil(c.fov_um * 1000.0 / pixel_nm - 1e-9));
  for (const FovEntry& f : fovs) {
    tiles_.push_back({f.id, f.row, f.col, f.x_um, f.y_um, side, side});
    auto it = records.find(f.id);
    files_.push_back(it != records.end() && !it->second.file.empty() ? out_dir + "/" + it->second.file : "");
  }
  for (const auto& ch : channels_)
    if (ch != "reconstruction" && ch != "error map" && ch != "widefield" && ch != "sparse")
      throw std::invalid_argument("unknown mosaic channel '" + ch + "'");
}

ImageF FovResultTiles::load(std::size_t i, std::size_t c) const {
  if (files_[i].empty()) return ImageF();
  const std::string& ch = channels_[c];
  const std::string ds = ch == "error map" ? "error_map" : ch;
  FovResult r = read_fov_result(files_[i], {ds});
  if (ch == "reconstruction") return std::move(r.reconstruction);
  if (ch == "widefield") return std::move(r.widefield);
  if (ch == "sparse") return std::move(r.sparse);
  // Error map: 1/4 of the SR grid; replicate each value over its 4 x 4 block.
  const TileMeta& t = tiles_[i];
  ImageF up(t.width_px, t.height_px);
  if (r.error_map.empty()) return ImageF();
  for (std::size_t y = 0; y < t.height_px; ++y)
    for (std::size_t x = 0; x < t.width_px; ++x)
      up(x, y) = r.error_map(std::min(x / 4, r.error_map.width() - 1), std::min(y / 4, r.error_map.height() - 1));
  return up;
}

}  // namespace annamosaic
