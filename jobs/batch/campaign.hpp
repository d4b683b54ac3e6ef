#pragma once
// A campaign on disk (simulated or real): campaign.ini + positions.csv + per-FoV inputs, as
// documented in README "Campaign folder". Reading it gives the plan: one entry per FoV with its
// files and an estimated cost, so the dispatcher can hand out the largest FoVs first.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace annamosaic {

struct CampaignInfo {
  std::string dir;                 // campaign folder
  std::string name = "campaign";  // read_campaign: campaign.ini's name, else the folder's name
  int rows = 0, cols = 0;
  double fov_um = 0, overlap_um = 0;
  double camera_pixel_nm = 108;
  bool camera_pixel_nm_given = false;  // camera-pixel-nm is in campaign.ini or given to run (not the default)
  std::string camera_pixel_from = "campaign.ini";  // where a given one comes from (run: "--camera-pixel-nm")
  std::string structure = "microtubules";
  int switch_id = 0;
  int frames = 0;                  // camera frames per FoV (0: unknown)
  // The number the tables give the first camera frame (0 or 1); -1: not said, guessed per table
  // (0 if it has frame 0, else 1), which frame windows other than `all` depend on.
  int frame_base = -1;
  std::string table_pattern = "fov/{id}/locs.csv";        // {id} -> 4-digit id
  std::string widefield_pattern = "fov/{id}/widefield.tif";  // "none": no widefield images
  std::string widefield_frames = "3-5";
  std::string positions = "positions.csv";
  // off-grid = place: FoVs more than half a step from their row and col's place (a brick layout,
  // blocks acquired apart) are placed where the positions say, with a warning; by default
  // (refuse) such positions are refused as a copied line or a typo.
  bool place_off_grid = false;
  // How the tables are read, when campaign.ini says (as `run`'s --xy-unit, --columns, --delimiter;
  // "" : not said). Tables whose header names no unit are otherwise read as nm.
  std::string xy_unit, columns, delimiter;
  // A path campaign.ini gives (a pattern's expansion, positions): from the campaign folder, or as
  // it is when absolute (data kept elsewhere: `table = /data/run7/fov{id}.csv`).
  std::string in_campaign(const std::string& path) const { return !path.empty() && path[0] == '/' ? path : dir + "/" + path; }
  bool has_widefields() const { return widefield_pattern != "none"; }  // "widefield = none": a campaign without
};

struct FovEntry {
  int id = 0, row = 0, col = 0;
  double x_um = 0, y_um = 0;       // nominal stage position of the FoV's corner
  std::string table_path, widefield_path;  // widefield_path empty if the file is absent
  std::uint64_t cost = 0;          // estimated work: table size in bytes (localization count proxy)
};

// Reads DIR/campaign.ini ([campaign] section); InputError naming file and key on bad content.
CampaignInfo read_campaign(const std::string& dir);
// The positions file of the campaign in DIR: the one campaign.ini names (`positions`, relative to
// DIR or absolute; read_campaign's errors when it cannot be read), DIR/positions.csv without one.
std::string campaign_positions_path(const std::string& dir);
// Reads the positions table and resolves per-FoV files; a missing table is not an error here
// (that FoV will fail with its reason), a malformed positions row is.
// `warnings` (optional) receives what is unusual but allowed (rows running against y).
std::vector<FovEntry> plan_fovs(const CampaignInfo& c, std::vector<std::string>* warnings = nullptr);
// Whether the FoV's table is there yet (a file, or a link even to nothing: that is a share not
// mounted, not a FoV still to come).
bool table_acquired(const FovEntry& f);
// A FoV recorded as not acquired whose files are as they were then: its table still absent, its
// widefield there or not as recorded (the microscope takes the widefield first). A widefield
// rewritten meanwhile is read when the table arrives.
inline bool still_not_acquired(const FovEntry& f, bool widefield_was_there) {
  return !table_acquired(f) && f.widefield_path.empty() != widefield_was_there;
}
// Tables in the campaign folder that match its table pattern but belong to no FoV of `plan`
// (relative paths, sorted): a FoV added after positions.csv was written is otherwise never run,
// and nothing says so. plan_fovs warns of them (unlisted_tables_warning of that list: "" when none).
std::vector<std::string> unlisted_tables(const CampaignInfo& c, const std::vector<FovEntry>& plan);
std::string unlisted_tables_warning(const CampaignInfo& c, const std::vector<std::string>& unlisted);
// "fov/{id}/locs.csv" with id 7 -> "fov/0007/locs.csv".
// "" when `pattern` names each FoV's own file in a rows x cols grid, else why not ("the same file
// for every FoV"): {id}, or {row} and {col} ({row} alone for one column, {col} alone for one row).
std::string pattern_shared_by_fovs(const std::string& pattern, int rows, int cols);
std::string expand_pattern(const std::string& pattern, int id);
// FoV indices sorted by decreasing cost (ties by id): the dispatch order.
std::vector<std::size_t> largest_first(const std::vector<FovEntry>& fovs);

// "" or why a camera pixel at the sample of `nm` is no camera pixel in nm: outside 10..10000 nm
// (the finest microscopes give ~30 nm, a 4x objective ~1.6 um). Below, a value in um (0.108);
// above, the sensor's own pixel (16000) or, from 1e5 nm, one in pm. Exit 0 with every widefield
// ignored was the result (probe99).
std::string camera_pixel_slip(double nm);

// "" when a widefield of width x height px at camera_pixel_nm covers a FoV of fov_um within 10%
// per axis; otherwise what it covers, to be said before any FoV (a wrong camera-pixel-nm shows
// up much later only as uncertain registrations in the QC report).
std::string widefield_extent_mismatch(std::size_t width_px, std::size_t height_px, double camera_pixel_nm, double fov_um,
                                      bool camera_pixel_nm_given);

// True when `localizations` (100 or more) span less than 5% of a field_nm side in both axes:
// camera pixels or micrometres read as nm (everything lands in one corner). Said by
// init-campaign and per FoV.
inline bool spans_a_corner(std::size_t localizations, double x_span_nm, double y_span_nm, double field_nm) {
  return localizations >= 100 && std::max(x_span_nm, y_span_nm) < 0.05 * field_nm;
}

// One FoV's widefield size in pixels (from its TIFF header).
struct WidefieldSize {
  int id = 0;
  std::size_t width_px = 0, height_px = 0;
  double tag_nm = 0;  // the pixel its resolution tags say (0: none)
};
// Whether a widefield of this size is read at its tags' pixel: a whole multiple (2-8x) of
// camera-pixel-nm (binned), with which each side spans fov-um within 5%, while with camera-pixel-nm
// it does not (2x2 binned among unbinned ones; read at camera-pixel-nm one was drawn at half scale
// beside a black hole).
bool widefield_read_at_tag(std::size_t width_px, std::size_t height_px, double tag_nm, double camera_pixel_nm, double fov_um);
// What a run says before any FoV about its widefields: the commonest size against fov_um (above),
// and the FoVs whose widefield has another size (another camera ROI or binning: those FoVs would
// be resampled as if they covered another field), named.
std::vector<std::string> widefield_size_warnings(const std::vector<WidefieldSize>& sizes, double camera_pixel_nm,
                                                 double fov_um, bool camera_pixel_nm_given);

}  // namespace annamosaic
