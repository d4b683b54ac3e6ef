#pragma once
// The per-FoV science of a run, as three stages that a rank overlaps (TBB pipeline):
//   prepare:     read table -> render S; read widefield (frames 3-5 mean) -> register to S -> L
//   reconstruct: A-net G(S, L, M) -> A, Q(A), error map (through a ReconstructFn)
//   finish:      write fov/NNNN.h5 atomically, checksum, manifest record
// A bad FoV (corrupt table, unreadable TIFF, zero localizations) does not throw out of these
// stages: it is marked failed with its reason, reconstructed from widefield only (or left empty,
// `failed_tile`), and recorded, so the run goes on.
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "batch/campaign.hpp"
#include "batch/fov_result.hpp"
#include "loc/table_reader.hpp"

namespace annamosaic {

struct ReconstructionOut {
  ImageF reconstruction, q, error_map;  // error_map empty without widefield
  double network_s = -1;                // the networks alone (device busy), < 0: not measured
};
// (sparse S, widefield on the SR grid or nullptr, switch id) -> outputs. Called from one thread
// at a time per rank (the inference stage is serial: the GPU, or all the CPU threads, is busy).
using ReconstructFn = std::function<ReconstructionOut(const ImageF& sparse, const ImageF* widefield, int switch_id)>;

struct FovOptions {
  double pixel_nm = 20.0;
  std::string frames = "all";          // frame window of the sparse image (see render --frames)
  TableReadOptions table;
  std::string widefield_pages = "";    // "" = the campaign's widefield-frames
  bool use_widefield = true;
  std::string failed_tile = "widefield";  // "widefield": widefield-only reconstruction; "empty"
};

struct FovWork {
  FovEntry entry;
  FovResult result;
  bool failed = false;
  std::string reason;
  nlohmann::json timings = nlohmann::json::object();  // seconds per stage
};

std::unique_ptr<FovWork> prepare_fov(const FovEntry& fov, const CampaignInfo& campaign, const FovOptions& opt);
void reconstruct_fov(FovWork& w, const ReconstructFn& reconstruct, int switch_id, const FovOptions& opt);
// Writes out_dir/fov/NNNN.h5 and returns the manifest record (JSON, one line).
std::string finish_fov(FovWork& w, const std::string& out_dir, int rank);

std::string fov_result_name(int id);  // "fov/0007.h5"

}  // namespace annamosaic
