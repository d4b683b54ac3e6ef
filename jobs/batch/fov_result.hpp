#pragma once
// The per-FoV result file, fov/NNNN.h5 (HDF5, readable with h5py):
//   /sparse                float32 (H, W)   rendered localizations S at pixel_nm (counts)
//   /widefield             float32 (H, W)   registered widefield on the SR grid (L), absent without one
//   /reconstruction        float32 (H, W)   A-net output A, in [0, 1] (tanh output mapped from [-1, 1])
//   /q                     float32 (H/4, W/4)  Q(A), the predicted widefield
//   /error_map             float32 (H/4, W/4)  E, absent without widefield
// Root attributes: id, row, col, x_um, y_um (nominal), pixel_nm, localizations, frames_first,
// frames_end (the window rendered into S, in the table's frame numbers), status ("ok" or
// "degraded": reconstructed from widefield only or empty), reason, wf_shift_x_px, wf_shift_y_px
// (in the widefield's own pixels, wf_pixel_nm each), wf_confidence, error_score (NaN without an error map), inference (device, precision, whole FoV
// or tiles), software (annamosaic's version). Written to a temporary name and renamed; modification times are
// not stored so the same content gives the same bytes (resume checks compare checksums).
// Images are 256 x 256 chunks with HDF5's shuffle + deflate(1) filters; the chunks are
// compressed and decompressed on all cores (TBB) outside the process-wide HDF5 lock and moved
// with H5Dwrite_chunk/H5Dread_chunk, so several FoVs per rank do not queue behind one zlib call.
#include <limits>
#include <string>
#include <vector>

#include "core/image.hpp"

namespace annamosaic {

struct FovResult {
  int id = 0, row = 0, col = 0;
  double x_um = 0, y_um = 0, pixel_nm = 20;
  long long localizations = 0;
  // The frames rendered into S, [frames_first, frames_end) in the table's own numbering; -1 when
  // unknown (no localizations, or a file written before they were recorded).
  long long frames_first = -1, frames_end = -1;
  std::string status = "ok", reason;
  double wf_shift_x_px = 0, wf_shift_y_px = 0, wf_confidence = 0;
  // The widefield's pixel the shifts are in: campaign.ini's camera-pixel-nm, or its tags' pixel for
  // a binned widefield; NaN without a widefield read (and in files written before 2026-12-07).
  double wf_pixel_nm = std::numeric_limits<double>::quiet_NaN();
  // Mean of the error map; NaN without one (no widefield given to the A-net): a 0 would read as
  // "no error at all" to a reader of the file's attributes.
  double error_score = std::numeric_limits<double>::quiet_NaN();
  // How the A-net made it ("cpu fp32, whole FoV"; "" when it did not run), and by which
  // annamosaic (written by write_fov_result).
  std::string inference, software;
  ImageF sparse, widefield, reconstruction, q, error_map;
};

void write_fov_result(const std::string& path, const FovResult& r);
// Reads the attributes and the requested datasets ("sparse", "widefield", ...; empty = all).
FovResult read_fov_result(const std::string& path, const std::vector<std::string>& datasets = {});

}  // namespace annamosaic
