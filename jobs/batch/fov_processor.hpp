#pragma once
// The per-FoV science of a run, as stages that a rank overlaps (TBB pipeline):
//   prepare (parallel):   read table -> render S; read widefield (frames 3-5 mean) -> register
//                         to S -> L; begin_reconstruction: the A-net's host input work
//   reconstruct (serial): the networks G(S, L, M) -> A, Q(A) (the GPU, or all CPU threads)
//   finish (parallel):    end_reconstruction: output images, error map; write fov/NNNN.h5
//                         atomically, checksum, manifest record
// Only the networks are serial: on a GPU rank the host work around them (~0.13 core-s per
// full-size FoV, 0.4 before the error map's FFT sizes were fixed) would otherwise add to the
// device's time per FoV.
// A bad FoV (corrupt table, unreadable TIFF, zero localizations) does not throw out of these
// stages: it is marked failed with its reason, reconstructed from widefield only (or left empty,
// `failed_tile`), and recorded, so the run goes on.
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "batch/campaign.hpp"
#include "batch/fov_result.hpp"
#include "loc/table_reader.hpp"

namespace annamosaic {

struct ReconstructionOut {
  ImageF reconstruction, q, error_map;  // error_map empty without widefield
  // How the A-net ran ("cpu fp32, whole FoV", "cuda bf16, 4 tiles"): results of two kinds
  // differ beyond rounding, so a campaign that mixes them is said.
  std::string inference;
};
// One FoV's reconstruction after its host input work: run_networks() is called in the rank's
// serial stage, finish() afterwards on any thread.
class ReconstructJob {
 public:
  virtual ~ReconstructJob() = default;
  virtual void run_networks() = 0;
  virtual ReconstructionOut finish() = 0;
};
// (sparse S, widefield on the SR grid or nullptr, switch id) -> a prepared job. Called from
// several threads at once.
using ReconstructFn = std::function<std::unique_ptr<ReconstructJob>(const ImageF& sparse, const ImageF* widefield, int switch_id)>;

struct FovOptions {
  double pixel_nm = 20.0;
  std::string frames = "all";          // frame window of the sparse image (see render --frames)
  // Random windows (random:L, sparse-paper, dense-paper): each FoV draws its own from this seed and
  // its id, so FoVs of the same length do not all get the same frames, and a rerun the same ones.
  std::uint64_t frames_seed = 0;
  TableReadOptions table;
  std::string widefield_pages = "";    // "" = the campaign's widefield-frames
  bool use_widefield = true;
  // Largest widefield shift searched, per axis (0: WidefieldRegOptions' 5 camera pixels).
  double widefield_search_um = 0;
  std::string failed_tile = "widefield";  // "widefield": widefield-only reconstruction; "empty"
};

struct FovWork {
  FovEntry entry;
  FovResult result;
  bool failed = false;
  std::string reason;
  std::string cornered;  // its warning when all localizations lie in a corner of the field (a unit slip)
  // For the campaign's verdict too (one FoV alone may be so): most localizations outside the field
  // (stage coordinates, fov-um too small), or all within a third of it (fov-um too large).
  std::string mostly_outside, narrow;
  // Where its localizations lie, x from..to and y from..to in um (NaN: fewer than 100 in the field):
  // the campaign's say whether fov-um is larger than the camera's field.
  double bounds_um[4] = {std::numeric_limits<double>::quiet_NaN(), 0, 0, 0};
  int frame_base_guessed = -1;  // the table's guessed first frame number (0 or 1) when campaign.ini says none
  // The table's first and last frame numbers (-1: no rows): QC compares its span with the others'.
  long long table_frames[2] = {-1, -1};
  long long window_end = -1;  // the end (exclusive) of the frame window its image was rendered from
  nlohmann::json timings = nlohmann::json::object();  // seconds per stage
  std::unique_ptr<ReconstructJob> job;                // between begin_ and end_reconstruction
  bool anet_failed = false;                           // an A-net step threw (reason in `reason`)
  bool anet_out_of_memory = false;                    // ... for want of memory (host or GPU)
  bool widefield_registered = false;                  // L came from a widefield (else: none, or ignored)
  // A failed FoV's tile: "widefield-only" (the A-net from its widefield alone) or "empty"; set
  // where it is made.
  std::string failed_tile;
  // The widefield shows no structure above its noise (widefield_signal.hpp): kept for the mosaic's
  // widefield channel, not given to the A-net, which would invent filaments from its noise.
  bool widefield_without_structure = false;
  // Its registration to the localizations is uncertain (confidence < kMinWidefieldConfidence): kept
  // at its nominal place for the mosaic's channel, not given to the A-net (out of place, it gave a
  // worse reconstruction than none: Pearson r 0.45-0.65 against 0.76-0.79 with a 2 um shift).
  bool widefield_unregistered = false;
  // ... and how it matches them instead ("transposed", "mirrored left-right"; "" for none): for the
  // campaign's verdict (a camera mounted otherwise turns every widefield, a few register by chance).
  std::string widefield_turned;
  // It covers less than kMinWidefieldCover of the FoV along an axis (another camera ROI, binning):
  // kept for the mosaic's channel, not registered nor given to the A-net.
  bool widefield_partial = false;
  // Its table is not there, its widefield there or not (failed, recorded as "not_acquired").
  bool not_acquired = false;
  // What was assumed or dropped without failing the FoV (localizations outside the field, a
  // widefield ignored or read differently): logged, recorded in the manifest, flagged by QC.
  std::vector<std::string> warnings;
  // Why the result file could not be written (disk full, quota, read-only; empty: it was): the
  // environment's problem, not the FoV's; the rank stops taking FoVs instead of computing more
  // to throw away.
  std::string write_error;
  // The input files this result was made from (input_stamp.hpp): {"table": ..., "widefield": ...}.
  nlohmann::json inputs = nlohmann::json::object();
};

std::unique_ptr<FovWork> prepare_fov(const FovEntry& fov, const CampaignInfo& campaign, const FovOptions& opt);
// The reconstruction in three steps (the runner's parallel, serial and parallel stages).
void begin_reconstruction(FovWork& w, const ReconstructFn& reconstruct, int switch_id, const FovOptions& opt);
void run_reconstruction_networks(FovWork& w);
void end_reconstruction(FovWork& w);
// Writes out_dir/fov/NNNN.h5 and returns the manifest record (JSON, one line).
std::string finish_fov(FovWork& w, const std::string& out_dir, int rank);

std::string fov_result_name(int id);  // "fov/0007.h5"
// The seed of FoV `fov_id`'s random frame window in a run with --frames-seed `seed`.
std::uint64_t fov_frames_seed(std::uint64_t seed, int fov_id);

}  // namespace annamosaic
