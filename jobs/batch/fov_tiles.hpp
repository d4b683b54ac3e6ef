#pragma once
// The tiles of a run for stitching: the FoV result files (fov/NNNN.h5) listed in the manifest,
// read on demand. Channels: "reconstruction", "error map" (the 1/4-size map replicated over
// 4 x 4 SR pixels), "widefield" (registered, SR grid), "sparse". A FoV without a result file
// gives zero images (its tile stays black).
#include <map>
#include <string>
#include <vector>

#include "batch/campaign.hpp"
#include "batch/manifest.hpp"
#include "tiles/tile_source.hpp"

namespace annamosaic {

class FovResultTiles final : public TileSource {
 public:
  FovResultTiles(const std::string& out_dir, const CampaignInfo& campaign, const std::vector<FovEntry>& fovs,
                 const std::map<int, ManifestRecord>& records, double pixel_nm, std::vector<std::string> channels);
  std::size_t size() const override { return tiles_.size(); }
  const TileInfo& info(std::size_t i) const override { return tiles_[i]; }
  std::size_t channels() const override { return channels_.size(); }
  const std::string& channel_name(std::size_t c) const override { return channels_[c]; }
  double pixel_nm() const override { return pixel_nm_; }
  ImageF load(std::size_t i, std::size_t c) const override;
  std::vector<ImageF> load_channels(std::size_t i, const std::vector<std::size_t>& channels) const override;

 private:
  std::vector<TileInfo> tiles_;
  std::vector<std::string> files_;  // per tile, "" if none
  std::vector<std::string> channels_;
  double pixel_nm_;
};

}  // namespace annamosaic
