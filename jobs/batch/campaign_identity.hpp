#pragma once
// Whose FoV results an output folder holds: the campaign a run records in fov_settings.json
// ("campaign": name, folder, checksums of its FoV positions and its input files' sizes), and
// whether a run of another
// campaign folder may reuse them. Two grids' configurations naming one output must not redo each
// other's FoVs as "changed inputs" (nor a stitch fuse the other's tiles); a campaign moved to
// another folder must not lose its results. `run` refuses by it, `status` says it.
#include <nlohmann/json.hpp>
#include <string>

#include "batch/campaign.hpp"

namespace annamosaic {

// {"name", "path" (canonical), "positions" ("xxh3:..." of the rows, cols, FoV size and every FoV's
// id, grid cell and stage position as numbers: a positions.csv written otherwise is the same),
// "inputs" ("xxh3:..." of every FoV's table and widefield sizes: a copy has the same, another
// simulated or acquired grid not)}.
nlohmann::json campaign_identity(const CampaignInfo& campaign);

struct IdentityCheck {
  std::string refusal;  // "" or why a run of `now` must not reuse results of `recorded`
  bool moved = false;   // reusable, but from another folder (moved, or a copy)
};
// Another folder is the same campaign when it is the same directory (a link, a bind mount), or
// when name, positions and input sizes agree (the campaign moved, or copied with its output);
// two grids simulated from one configuration share name and positions, not their tables' sizes.
// A record without "campaign" (older runs): reusable.
IdentityCheck check_campaign_identity(const nlohmann::json& recorded, const nlohmann::json& now);

// What campaign.ini says that decides a FoV result (camera pixel, FoV size, the structure's
// switch id, widefield frames, frame base: "per table" when not said); the tables and widefields themselves are compared per FoV.
nlohmann::json campaign_fov_settings(const CampaignInfo& campaign);
// "" or which of them changed since `recorded` (fov_settings.json's "campaign_settings"), e.g.
// "camera-pixel-nm 160.0 -> 108.0". A record without them (older runs) or with keys unknown now: "".
// frame_windows: whether the results were rendered from a frame window other than `all` (else
// frame-base changes nothing in them and is not compared).
std::string changed_campaign_settings(const nlohmann::json& recorded, const CampaignInfo& campaign, bool frame_windows = true);
// Why `run` refuses the results recorded so (`status` says the same), "" when none changed.
std::string campaign_settings_refusal(const nlohmann::json& recorded, const CampaignInfo& campaign, bool frame_windows = true);

}  // namespace annamosaic
