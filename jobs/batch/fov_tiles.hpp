#pragma once
// The tiles of a run for stitching: the FoV result files (fov/NNNN.h5) listed in the manifest,
// read on demand. Channels: "reconstruction", "error map" (the 1/4-size map upsampled to the SR
// grid by pixel replication), "widefield" (registered, SR grid), optionally "sparse". FoVs
// without a result file give empty channels (their tiles stay black).
#include <map>
#include <string>
#include <vector>

#include "batch/campaign.hpp"
#include "batch/manifest.hpp"
#include "mosaic/tile_source.hpp"

namespace annamosaic {

class FovResultTiles final : public TileSource {
 public:
  FovResultTiles(const std::string& out_dir, const CampaignInfo& campaign, const std::vector<FovEntry>& fovs,
                 const std::map<int, ManifestRecord>& records, double pixel_nm, std::vector<std::string> channels);
  const std::vector<TileMeta>& tiles() const override { return tiles_; }
  const std::vector<std::string>& channels() const override { return channels_; }
  ImageF load(std::size_t i, std::size_t c) const override;

 private:
  std::string out_dir_;
  std::vector<TileMeta> tiles_;
  std::vector<std::string> files_;  // per tile, "" if none
  std::vector<std::string> channels_;
};

}  // namespace annamosaic
