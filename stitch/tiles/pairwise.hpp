#pragma once
// Pairwise registration of grid neighbours on the overlap strip predicted by the stage.
//
// Strip geometry (per pair a, b with b the right or lower neighbour): the nominal intersection of
// the two tiles (from the stage positions) widened by the search range on every side and clipped
// to the union of the two tiles. Each tile is sampled over that same specimen region (zeros where
// it has no data), so the nominal shift between the strips is 0, the true overlap sits near the
// middle of the strip whatever the stage error, and the window tapers the strip ends rather than
// the overlap. Strips are reduced by `scale` (mean of scale x scale blocks) and pre-filtered on the
// data only, then phase-correlated with the search window = the search range, every periodic
// interpretation scored by NCC on the implied overlap of real data.
//
// Acceptance: an edge is accepted when its NCC reaches a threshold calibrated on random
// NON-adjacent pairs of the same dataset registered with the same geometry (ASHLAR's idea): the
// accept_quantile of their NCCs (what "no match" looks like here), never below min_ncc nor below
// a fraction of the median NCC of the pairs that pass it; and when it beats every other
// interpretation by a margin. Empty strips have no structure: invalid, never matched. The random
// partners are drawn from rows within 2 of the tile (not within one cell of it), so their strips
// wait for at most two rows in memory (in grids one or two tiles wide, within 8 / the width rows).
//
// Which signal (tests/stitch/tiles/test_stitch_accuracy.cpp, 8 x 8 x 55.3 um, 1 um overlap, 0.3 um
// jitter, error of the 54 non-empty FoVs after the global solve, RMS / max): reconstruction-like
// images at scale 2 with full-resolution refinement: label density 0.11 / 0.26 px, all-frame
// renders 0.25 / 0.54 px, no false edge, ~5 s; scale 1: 0.24 / 0.50 px, 2-3x slower; renders of
// 10% of the frames: 0.54 / 2.7 px (one false edge). The registered widefield (108 nm, a 9-pixel
// overlap, scale 5, LoG, not refined): 72 edges instead of 83, 1.5 / 2.6 px, 5x slower; as a
// fallback after the reconstruction it added no edge (a strip empty in one is empty in the
// other). Default: the reconstruction at scale 2.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "register/phase_correlation.hpp"
#include "tiles/tile_source.hpp"

namespace annamosaic {

struct TilePair {
  std::size_t a = 0, b = 0;  // tile indices; b is a's right (same row, next column) or lower neighbour
};

// Every horizontally and vertically adjacent pair of grid cells, sorted by (a, b).
std::vector<TilePair> grid_neighbours(const TileSource& source);

// Whether two overlaps (um) disagree beyond what stage error and rounding explain: 25% of the
// larger and at least 0.2 um (campaign.ini's overlap-um against the positions', in run and stitch).
bool overlaps_disagree(double a_um, double b_um);

// The overlap the stage positions give neighbours (median over the pairs of grid_neighbours, in
// um, along the axis that separates each pair; 0 with no pairs): the feather width when neither
// the user nor campaign.ini says it.
double nominal_overlap_um(const TileSource& source);
// The same median taken along each axis apart (pairs side by side, pairs one above the other),
// the smaller of the two (um; negative where the positions leave a gap; NaN with no pairs): what
// the registration scale is chosen by, as 16 px seams across and 64 px down gave a 40 px median
// over both.
double thinner_axis_overlap_um(const TileSource& source);

// The strip of pair (a, b): a region of a's pixel grid, and the rounded nominal offset of b.
struct StripGeometry {
  double nominal_dx_px = 0, nominal_dy_px = 0;  // b - a from the stage positions
  long d0x = 0, d0y = 0;                        // rounded nominal offset; b is sampled over region - d0
  long x0 = 0, y0 = 0;                          // region origin in a's pixels (may lie outside a)
  std::size_t width = 0, height = 0;            // 0: the tiles cannot overlap within the search range
};
StripGeometry strip_geometry(const TileInfo& a, const TileInfo& b, double pixel_nm, double search_px);

// One signal to register with: a channel of the source at a reduced scale.
struct RegistrationSignal {
  std::size_t channel = 0;
  std::size_t scale = 2;  // register at 1/scale of the tile resolution
  Prefilter prefilter = Prefilter::Gaussian;
  double prefilter_sigma_px = 1.0;  // at the reduced scale
  // Least structure an overlap must carry to count as a match, in blobs of the pre-filter's size
  // (participation ratio / 2 pi (sigma^2 + 0.25)). Measured on a simulated 8 x 8 campaign: a
  // single false detection on each side reaches NCC 1 at a wrong shift (about 0.8 blob); true
  // overlaps with one crossing filament carry 3 or more.
  double min_features = 2.5;
  // With scale > 1, bring the match to full resolution: climb and fit the NCC of the full-resolution
  // strips (Gaussian pre-filter of this sigma, full-resolution px) around it. Registration at
  // reduced scale alone leaves ~0.17 px RMS per axis (sampling of the reduced grid); refined,
  // 0.08 px, as registering at full resolution, for a quarter of its cost.
  // Off for images without full-resolution detail (a widefield upsampled from 108 nm: refining
  // it at 20 nm let 5 false edges through on the 8 x 8 campaign).
  bool refine_full_resolution = true;
  double refine_sigma_px = 1.0;
  // A strip whose data (99.9th percentile) stay below this fraction of its tiles' level (the
  // brighter tile's 99.99th percentile) is faint background, not structure: never matched. For
  // A-net reconstructions (`run` sets 0.01): an empty overlap is a faint texture (0.02-0.4% of the
  // structure's level in a user's campaign) that two such strips matched at NCC 0.67, 1.2 um off
  // the stage. Off (0) by default: renders of 10% of the frames have real strips at ~1% of their
  // tiles' hot spots (on the 8 x 8 campaign, 0.01 cut 2 true edges and left a FoV unregistered).
  double min_strip_level_fraction = 0;
};

// The scale to register at when the user names none: 2, or 1 where the stage's overlap between
// neighbours (full-resolution px; thinner_axis_overlap_um / pixel) is thinner than
// thin_overlap_full_resolution_px, a gap (<= 0: any true overlap lies within the stage's error,
// thin at best) included; 2 when unknown (NaN). Halved, a thin strip keeps too few rows for the
// window and the pre-filter. 20 x 20 tiles of 96 px, natural-image texture, 0.2 um search, accepted pairs of 760
// and placement RMS at scale 2 / scale 1: mild noise, 12 px seams 671, 0.54 px / 703, 0.27 px;
// 16 px 738, 0.17 / 757, 0.16; 24 px 760, 0.10 / 759, 0.12. Twice the noise, 20 px 679, 0.32 /
// 754, 0.28; 24 px 748, 0.26 / 756, 0.21; 32 px alike (759, 0.18 / 758, 0.17).
inline constexpr double thin_overlap_full_resolution_px = 32;
std::size_t default_registration_scale(double overlap_px);
// Why default_registration_scale chose full resolution, for the log ("" when it did not).
std::string full_resolution_reason(double overlap_px);
// A thinner_axis_overlap_um in px as words: "12 px along the thinner axis", "a gap of 12 px
// between the positions", "tiles that abut in the positions" (within half a pixel of 0).
std::string thinner_overlap_text(double overlap_px);

// Phase-correlation settings for strips (see pairwise.cpp for the measurements behind them).
PcOptions default_strip_pc_options();

struct PairRegOptions {
  double search_um = 2.5;  // largest expected |true - nominal| offset between neighbours, per axis (run's default)
  // Tried in order: an edge rejected on one signal is registered again on the next (e.g. the
  // reconstruction first, the registered widefield for pairs whose strip is featureless there).
  std::vector<RegistrationSignal> signals = std::vector<RegistrationSignal>(1);  // one default signal
  PcOptions pc = default_strip_pc_options();  // search window and expected shift are set per pair
  std::size_t random_pairs = 200;     // non-adjacent pairs for the acceptance threshold (per signal)
  double accept_quantile = 0.99;
  double min_ncc = 0.1;               // the threshold never goes below this
  // A match must also beat every other interpretation more than 2 px away by this much NCC: a
  // single straight filament crossing the strip matches almost as well anywhere along itself
  // (the aperture problem). Measured on the 8 x 8 simulated campaign (dense renders): correct
  // edges had margins >= 0.14, the wrong ones that passed the NCC threshold <= 0.10.
  double min_ncc_margin = 0.12;
  // And reach this fraction of the median NCC of the pairs that pass the random-pair threshold:
  // true overlaps of one dataset match about equally well (dense renders ~0.93, renders of 10% of
  // the frames ~0.67), while partial matches of the wrong structure, which random pairs from other
  // places do not imitate, stay far below (0.35-0.55 with dense renders at 1 um stage jitter).
  double min_ncc_fraction_of_median = 0.6;
  // And imply an overlap at least this many full-resolution pixels thick across the seam: a match
  // on a sliver of a few rows (a stage error beyond the search) can reach the NCC threshold with
  // nothing to check it (a user's probe: 3.5 x 256 px, NCC 0.60, 22 px wrong), while the thinnest
  // true overlaps of a simulated campaign at 0.3 um jitter (~8 px of 50) stay above it. (An area
  // floor would refuse the whole overlaps of small tiles: 64 px tiles overlap by ~1,000 px.)
  double min_overlap_thickness_px = 4;
  std::uint64_t seed = 1;             // choice of the random pairs
  // Tiles (by index, empty = none) that take part in no registration, neither in their pairs nor
  // as random partners: a failed FoV's widefield-only tile shows other structure than its
  // neighbours' reconstructions, and a false match there would pull them out of place. The layout
  // places them by the stage prior.
  std::vector<char> skip_tiles;
  // Called (optional) as each signal starts, with the number of pairs it tries (on all
  // processes): a later signal retries the pairs the earlier ones did not accept.
  std::function<void(std::size_t signal, std::size_t pairs)> signal_started;
  // Asked before each row of tiles: true throws Stopped (with a WorkShare, on every process
  // once they exchange the results).
  std::function<bool()> stop_requested;
};

struct PairResult {
  TilePair pair;
  double nominal_dx_px = 0, nominal_dy_px = 0;  // b - a, stage
  double dx_px = 0, dy_px = 0;                  // b - a, measured (full-resolution px), when valid
  double ncc = 0, peak = 0, confidence = 0;
  double second_ncc = -1;  // best NCC of another interpretation (see PcResult::second_ncc)
  double second_dx_px = 0, second_dy_px = 0;  // its offset b - a
  int signal = -1;        // index into PairRegOptions::signals that produced the kept result
  bool valid = false;     // a match was found (structure on both sides, a candidate in the window)
  bool accepted = false;  // valid, ncc >= the signal's threshold, distinct (min_ncc_margin), not too_small
  bool skipped = false;   // not registered: a tile of the pair is in PairRegOptions::skip_tiles
  // Not registered: the stage positions leave no overlap, even with the search (blocks acquired
  // apart under off-grid = place; a gap wider than --search-um).
  bool no_overlap = false;
  // The overlap the match implies (full-resolution px, across and along the seam), when valid;
  // too_small: thinner than min_overlap_thickness_px, so not accepted.
  double overlap_thickness_px = 0, overlap_length_px = 0;
  bool too_small = false;
  // Not accepted by reject_implausible_pairs: far from the stage's offset and not corroborated.
  bool implausible = false;
};

// Whether the groups of tiles (component per tile) are apart in the positions
// themselves: every pair between two groups leaves no overlap (and there is such a pair; pairs
// with a skipped tile, a failed FoV's, are left out). Blocks acquired apart, not a registration
// that failed.
bool apart_by_positions(const std::vector<PairResult>& pairs, const std::vector<int>& component);
// The warning for tiles apart_by_positions found apart (ids: theirs; what: "tile(s)", "FoV(s)").
std::string apart_by_positions_warning(const std::vector<int>& ids, const std::string& what);

struct SignalCalibration {
  std::size_t channel = 0, scale = 1;
  std::size_t pairs_tried = 0;     // neighbour pairs registered with this signal
  std::size_t random_pairs = 0, random_valid = 0;
  double random_ncc_quantile = 0;  // accept_quantile of the valid random pairs' NCC (0 if none)
  // With 20 or more, never above the second largest: set when that lowered it (one chance match
  // among fewer than ~100 is not a quantile).
  bool quantile_at_second_largest = false;
  double median_ncc = 0;           // of the pairs passing max(min_ncc, random_ncc_quantile)
  double threshold = 0;            // max(min_ncc, random_ncc_quantile, min_ncc_fraction_of_median x median_ncc)
  bool set_by_median = false;      // the last of them was the largest
  std::vector<double> random_ncc;  // all valid random pairs, sorted
};

// The random pairs' NCC (sorted ascending) at quantile q, nearest rank, the threshold's start:
// with 20 or more values and q < 1 never above the second highest (*at_second_largest then says
// whether that lowered it), as one chance match among fewer than ~100 is no quantile.
double random_match_quantile(const std::vector<double>& sorted_ncc, double q, bool* at_second_largest);

struct PairRegistration {
  std::vector<PairResult> pairs;  // same order as the input pairs
  std::vector<SignalCalibration> calibration;  // one per signal used
  std::size_t tile_loads = 0;  // by this process (with a WorkShare, its share only)
  // Set by reject_implausible_pairs (0: not judged): the accepted pairs' robust spread of
  // |measured - stage| offset per axis (1.4826 MAD, the larger axis), and the distance beyond
  // which a pair is implausible.
  double stage_spread_px = 0, implausible_beyond_px = 0;
  double median_deviation_x_px = 0, median_deviation_y_px = 0;  // measured less stage, the accepted pairs' median
};

// Accepted pairs whose measured offset lies implausibly far from the stage's: on either axis
// more than max(4 x the accepted pairs' robust spread, a quarter of search_px) from their median
// deviation, matched below their signal's median NCC, and not corroborated: no other accepted
// pair of either tile sees the same move of that tile, and no other accepted pair across the same
// seam (the same two grid columns, or rows) the same deviation (within 2 spreads, at least 5 px).
// A tile or row the stage really misplaced moves its links alike; a false match of a nearly
// empty overlap moves one, and matches less well than true overlaps do. Judged only with 20 or
// more accepted pairs. `row`/`col`: each tile's grid cell. Such pairs get accepted = false,
// implausible = true; returns how many. On a simulated 32 x 32 campaign of 10 um FoVs (stage
// spread 22 px) the used links more than 100 px off the truth were two such, which placed their
// tiles 131-140 px off where the stage was at most 51.
std::size_t reject_implausible_pairs(PairRegistration& reg, double search_px, const std::vector<int>& row,
                                     const std::vector<int>& col);
// How far a pair's offset lies from the stage's, less the accepted pairs' median deviation (set
// by reject_implausible_pairs), on the farther axis: what that rule compares with its limit.
double implausible_distance_px(const PairResult& r, const PairRegistration& reg);

// A match that beat its signal's threshold but not the margin over another offset of the same
// overlap: rejected as ambiguous (a repetitive or smooth overlap), not as too weak.
bool pair_ambiguous(const PairResult& r, const PairRegistration& reg, double min_ncc_margin);

// The ambiguous pairs (pair_ambiguous) among those `counted` keeps: how many, and the best one's
// NCC with its second offset's, for the warnings of stitch and run.
struct AmbiguousPairs {
  std::size_t count = 0;
  double best_ncc = 0, its_second = 0;
};
AmbiguousPairs ambiguous_pairs(const PairRegistration& reg, double min_ncc_margin,
                               const std::function<bool(const PairResult&)>& counted);

// Spreads register_pairs over several processes (MPI ranks) without the stitching code knowing
// MPI. Every process plans the same jobs (neighbour and random pairs); process `rank` of `ranks`
// registers those whose later tile lies in its block of grid rows (contiguous blocks balanced by
// job count, so each tile is loaded by one process, or two at a block edge), then `sum_all`
// must add the arrays of all processes element-wise, in place, on every process (MPI_Allreduce
// with MPI_SUM): each job's numbers are non-zero on exactly one process, so the sum is exact.
// The acceptance threshold is then computed from all results, identically everywhere.
struct WorkShare {
  int rank = 0, ranks = 1;
  std::function<void(std::vector<double>&)> sum_all;
};

// Registers the pairs. Tiles are loaded row by row (parallel within a row) and only their strips
// are kept until the partner row is loaded, so memory grows with a grid row, not the grid.
// Deterministic for any thread count and any number of processes. `progress` (optional) is called
// once per pair registered by this process, from worker threads. With `share`, every process
// must call this with the same arguments; an error on one process (a tile that cannot be read)
// is thrown there and, after the exchange, as a std::runtime_error on the others.
PairRegistration register_pairs(const TileSource& source, const std::vector<TilePair>& pairs, const PairRegOptions& opt,
                                const std::function<void()>& progress = {}, const WorkShare* share = nullptr);

// The strip of one tile over a region of its pixel grid (pixels outside the tile are zeros),
// reduced by `scale` and pre-filtered on the data only; `valid` is the reduced data rectangle
// (width 0 if the region misses the tile).
struct Strip {
  ImageF image;
  PcRect valid;
  double level = 0;       // 99.9th percentile of the reduced data, before the pre-filter
  double tile_level = 0;  // the tile's (tile_level()); 0: unknown, the strip is not judged faint
  // Full-resolution data over the same region (zeros outside the tile), kept for the refinement
  // when the signal asks for it and scale > 1; empty otherwise.
  ImageF full;
  PcRect full_valid;
};
Strip extract_strip(ImageView<const float> tile, long x0, long y0, std::size_t width, std::size_t height,
                    const RegistrationSignal& signal);

// 99.99th percentile of an image's finite pixels: its structure's level, robust to a few hot pixels.
double tile_level(ImageView<const float> tile);

// Registers two strips of one geometry; returns b - a in full-resolution pixels (pure; used by
// register_pairs, the tests and the benchmarks). With a full-resolution refinement, another
// interpretation whose reduced-scale NCC comes within `margin` of the match's is refined too, so
// that the margin test compares NCCs of one scale (refining every one cost 2.3x the time).
PcResult register_strips(const Strip& a, const Strip& b, const StripGeometry& g, const RegistrationSignal& signal,
                         const PcOptions& pc, double search_px, double margin = PairRegOptions{}.min_ncc_margin);

}  // namespace annamosaic
