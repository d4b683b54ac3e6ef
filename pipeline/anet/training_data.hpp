#pragma once
// Training pairs for the A-net, made on the fly (anet.md "Data preparation"), torch-free:
//  - "simulate": straight from the simulator (pipeline/sim): a random field of a specimen,
//    the labels moved by the augmentation warp, S = n localizations drawn from the labels
//    (n = Poisson(rate x labels), rate log-uniform), T = the perfect image (label density blurred
//    by sigma_loc), W = the simulated widefield camera image (3 still frames averaged, random
//    sub-pixel misregistration), registered to T and put on the SR grid.
//  - "tables": dense localization tables (optionally with a widefield TIFF and a structure id,
//    or whole simulated/real campaign folders): per pair, T = the histogram of a random
//    consecutive 95% frame window, S = the histogram of a random 300-500-frame window in the
//    first half (frame_window.hpp, "dense-paper" / "sparse-paper"), pairs_per_table pairs per
//    table; the widefield is registered to T once per table (see TrainingData).
// Both: random crop, rotation 0-360 deg and elastic deformation (augment.hpp), structured
// background counts added to S only, and random dropping of the widefield (L = 0) or of the
// sparse image (S = 0) so that one model serves the paper's three input modes.
// Every sample is a pure function of (seed, index): training is reproducible and resumable
// without storing a random-number state. sample() is const and thread-safe.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "anet/augment.hpp"
#include "core/image.hpp"
#include "loc/table_reader.hpp"
#include "sim/specimen.hpp"
#include "sim/widefield.hpp"

namespace annamosaic {
struct WidefieldRegistration;  // register/widefield_registration.hpp
}

namespace annamosaic::anet {

struct SimulationOptions {
  SpecimenOptions specimen;                  // structure, seed, densities, cells; region set from region_um
  double region_um = 1000;                   // fields are drawn from [0, region_um)^2
  double sigma_loc_nm = 10;                  // localization precision (jitter and perfect-image blur)
  double locs_per_label_min = 0.05, locs_per_label_max = 50;  // log-uniform rate per sample
  double background_max = 0.002;             // structured background: up to this many counts/px (mean)
  WidefieldOptions widefield;                // camera model; 3 still frames are averaged
  double wf_shift_max_px = 1.5;              // misregistration, uniform +-, camera px
};

struct SimulatedField {
  std::vector<PointNm> labels;  // field nm coordinates (origin at the field corner), incl. a margin
  std::size_t labels_inside = 0;
  ImageF perfect;               // label density at pixel_nm blurred by sigma_loc (n = infinity)
  ImageF widefield;             // camera image (mean of the still frames); empty if not asked for
  double wf_shift_x_px = 0, wf_shift_y_px = 0;
};

class FieldSimulator {
 public:
  FieldSimulator(const SimulationOptions& opt, double pixel_nm);
  // A width x height px field at a random place inside a cell of the specimen, seen through
  // `warp` (rotation, elastic); deterministic for `seed`.
  SimulatedField field(std::size_t width, std::size_t height, const WarpOptions& warp, bool with_widefield,
                       std::uint64_t seed) const;
  // A sparse image of n localizations: labels drawn uniformly (with replacement) among those
  // inside the field, each jittered by N(0, sigma_loc). Deterministic for `seed`.
  ImageF sparse(const SimulatedField& f, std::size_t width, std::size_t height, std::uint64_t n, std::uint64_t seed) const;
  int switch_id() const;
  const SimulationOptions& options() const { return opt_; }

 private:
  SimulationOptions opt_;
  double pixel_nm_;
  std::shared_ptr<const Specimen> specimen_;
};

// L = the widefield registered to `reference` (an SR image such as T) and resampled onto the SR
// grid of reference's size: pipeline/register's register_widefield + widefield_on_sr_grid, the
// same code the pipeline runs. Optional output: the registration (shift in camera px, confidence).
ImageF register_widefield_to(ImageView<const float> reference, ImageView<const float> widefield, double pixel_nm,
                             double camera_pixel_nm, WidefieldRegistration* registration = nullptr);

struct TableDatasetSpec {
  std::string table;                  // localization table (any supported format)
  std::string widefield;              // optional widefield TIFF (origin at the table's (0, 0) nm)
  std::string widefield_frames = "3-5";  // pages averaged (all pages if the stack is shorter)
  int switch_id = 0;
  double camera_pixel_nm = 0;         // camera pixel of its widefield and of a table in px (0: DataOptions')
  bool skip_if_empty = false;         // a campaign's FoV: without localizations it is left out (said), not an error
};

struct DataOptions {
  std::string source = "simulate";   // "simulate" | "tables"
  std::size_t crop_px = 256;         // network input size (multiple of 256)
  double pixel_nm = 20;
  double camera_pixel_nm = 108;      // widefield camera pixel (tables); the simulator uses its own
  WarpOptions warp;
  double p_no_widefield = 0.3;       // fraction of samples with L = 0
  double p_no_sparse = 0.1;          // fraction with S = 0 (only when a widefield exists)
  int pairs_per_table = 20;
  SimulationOptions sim;
  std::vector<TableDatasetSpec> tables;
  TableReadOptions read;
  std::uint64_t seed = 1;
};


struct TrainingSample {
  ImageF sparse;     // S, counts (all zero when dropped)
  ImageF widefield;  // L on the SR grid, raw intensities; empty when absent or dropped
  ImageF target;     // T: counts (tables) or density (simulator); scaled later by the quantile rule
  int switch_id = 0;
  std::uint64_t localizations = 0;  // in S
};

class TrainingData {
 public:
  // Reads tables and widefields and registers them (I/O and errors happen here).
  explicit TrainingData(const DataOptions& opt);
  ~TrainingData();
  TrainingSample sample(std::uint64_t index) const;  // training step `index`
  // Validation sample i: from the tables held out of training (3 or more tables), else as sample.
  TrainingSample validation_sample(std::uint64_t i) const;
  std::string describe() const;
  // The switch ids (structure ids M) training samples carry, ascending: the simulated structure's,
  // or the training tables'.
  std::vector<int> switch_ids() const;
  // One line per table, in order: "fnv1a64:<hex> <path>", the checksum of what training reads
  // of it (localizations in SR pixels of its field, field size, widefield on the SR grid,
  // structure id). Empty for the simulator. A resumed training compares them.
  std::string table_checksums() const;
  // One line per table: "<file checksum> training|validation <path>", the checksum of the file's
  // bytes (so that `evaluate --table` recognises a training table wherever it lies, copies
  // included) and whether it was trained on or held out. Empty for the simulator.
  std::string table_files() const;
  // "locset:... ROLE PATH" per table: what each holds whatever its row order or format (a copy
  // with its rows shuffled is recognised by `evaluate` as a training table).
  std::string table_contents() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace annamosaic::anet
