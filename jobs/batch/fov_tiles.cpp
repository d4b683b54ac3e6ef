#include "batch/fov_tiles.hpp"

#include <cmath>
#include <stdexcept>

#include "batch/fov_result.hpp"

namespace annamosaic {

FovResultTiles::FovResultTiles(const std::string& out_dir, const CampaignInfo& c, const std::vector<FovEntry>& fovs,
                               const std::map<int, ManifestRecord>& records, double pixel_nm,
                               std::vector<std::string> channels)
    : channels_(std::move(channels)), pixel_nm_(pixel_nm) {
  const std::size_t side = static_cast<std::size_t>(std::ceil(c.fov_um * 1000.0 / pixel_nm - 1e-9));
  for (const FovEntry& f : fovs) {
    TileInfo t;
    t.id = f.id;
    t.row = f.row;
    t.col = f.col;
    t.x_um = f.x_um;
    t.y_um = f.y_um;
    t.width_px = t.height_px = side;
    tiles_.push_back(t);
    auto it = records.find(f.id);
    files_.push_back(it != records.end() && !it->second.file.empty() ? out_dir + "/" + it->second.file : "");
  }
  for (const auto& ch : channels_)
    if (ch != "reconstruction" && ch != "error map" && ch != "widefield" && ch != "sparse")
      throw std::invalid_argument("unknown mosaic channel '" + ch + "'");
}

namespace {
std::string dataset_of(const std::string& channel) { return channel == "error map" ? "error_map" : channel; }

// One channel of a tile from its result file, at the tile's size: the error map (1/4 resolution)
// is repeated 4 x 4, a missing image is zeros.
ImageF channel_image(FovResult& r, const std::string& ch, const TileInfo& t) {
  ImageF img = ch == "reconstruction" ? std::move(r.reconstruction)
               : ch == "widefield"    ? std::move(r.widefield)
               : ch == "sparse"       ? std::move(r.sparse)
                                      : ImageF();
  if (ch == "error map" && !r.error_map.empty()) {
    img = ImageF(t.width_px, t.height_px);
    for (std::size_t y = 0; y < t.height_px; ++y)
      for (std::size_t x = 0; x < t.width_px; ++x)
        img(x, y) = r.error_map(std::min(x / 4, r.error_map.width() - 1), std::min(y / 4, r.error_map.height() - 1));
  }
  if (img.width() != t.width_px || img.height() != t.height_px) {
    ImageF fixed(t.width_px, t.height_px);
    for (std::size_t y = 0; y < std::min(t.height_px, img.height()); ++y)
      for (std::size_t x = 0; x < std::min(t.width_px, img.width()); ++x) fixed(x, y) = img(x, y);
    return fixed;
  }
  return img;
}
}  // namespace

ImageF FovResultTiles::load(std::size_t i, std::size_t c) const {
  const TileInfo& t = tiles_[i];
  if (files_[i].empty()) return ImageF(t.width_px, t.height_px);
  FovResult r = read_fov_result(files_[i], {dataset_of(channels_[c])});
  return channel_image(r, channels_[c], t);
}

std::vector<ImageF> FovResultTiles::load_channels(std::size_t i, const std::vector<std::size_t>& channels) const {
  const TileInfo& t = tiles_[i];
  std::vector<ImageF> out;
  if (files_[i].empty()) {
    for (std::size_t k = 0; k < channels.size(); ++k) out.emplace_back(t.width_px, t.height_px);
    return out;
  }
  std::vector<std::string> names;
  for (std::size_t c : channels) names.push_back(dataset_of(channels_.at(c)));
  FovResult r = read_fov_result(files_[i], names);  // one open for all channels
  for (std::size_t c : channels) out.push_back(channel_image(r, channels_[c], t));
  return out;
}

}  // namespace annamosaic
