#pragma once
// `annamosaic evaluate`: what the A-net gains over the plain histogram, torch-free (it runs
// the model through Reconstructor).
//
// Simulated protocol (the paper's Fig. 2g): held-out fields of a simulated specimen (its own
// seed, never used in training), for each number of localizations n: S = n localizations
// drawn from the labels (jittered by sigma_loc); scores against the perfect image of
//   histogram   S itself,
//   anet-s      A-net from S alone (L = 0),
//   anet-sw     A-net from S and the simulated widefield (registered, on the SR grid),
// plus the widefield-only reconstruction (S = 0) once per field. Every image is brought to the
// common scale of normalise_to_unit(target_quantile of the model) before scoring. Scores: Wang's
// pyramid MS-SSIM (the headline), SSIM, PSNR, and the FRC resolution from two independent
// halves of the n localizations (for the A-net: two reconstructions from the halves; the
// shared prior of the network makes this optimistic). From the curves: the histogram's
// "equivalent n", i.e. how many localizations the histogram needs to reach the A-net's score at
// n (log-linear interpolation), and the gain = equivalent n / n.
//
// Table protocol (data nobody here simulated): S = the first `sparse_fraction` of the frames,
// reference = all frames, both rendered at the model's pixel size; histogram and A-net scored
// against the reference, FRC from odd/even frames.
#include <cstdint>
#include <string>
#include <vector>

#include "anet/reconstructor.hpp"
#include "anet/training_data.hpp"
#include "loc/table_reader.hpp"

namespace annamosaic::anet {

struct EvaluateOptions {
  std::string model;
  ReconstructorOptions reconstructor;
  std::string output_dir;
  // Simulated protocol
  SimulationOptions sim;            // specimen seed: held out (default differs from training)
  std::size_t field_px = 512;
  int fields = 4;
  std::vector<double> n_values;     // empty: 10^2.5 .. 10^6 in half decades
  std::uint64_t seed = 7;
  bool frc = true;
  bool write_images = false;        // field 0: perfect, histograms and reconstructions as TIFF
  // Table protocol (used when `table` is set)
  std::string table;
  double sparse_fraction = 0.1;
  TableReadOptions read;
  int switch_id = 0;
  // Optional widefield of the same field (the table in its camera frame, as `reconstruct` takes
  // them): adds the A-net from S + widefield.
  std::string widefield;
  std::string widefield_frames = "3-5";
  double camera_pixel_nm = 108;
};

struct Score {
  double ms_ssim = 0, ssim = 0, psnr = 0, frc_nm = 0;
  // Averaged over fields: the FRC over those where it is defined (NaN if none); how many were not.
  double frc_weight = 0;
  int frc_undefined = 0;
  // The FRC stayed above 1/7 up to Nyquist (in some field): frc_nm is then an upper bound (2
  // pixels, or a mean with such), printed "<=".
  bool frc_at_limit = false;
};
// An FRC resolution as printed and written: "" when undefined (NaN), "<=40.0" at the Nyquist bound.
std::string frc_text(const Score& s);

struct EvalRow {
  double n = 0;
  double locs_per_um2 = 0;
  Score histogram, anet_s, anet_sw;
  double equivalent_n_s = 0, equivalent_n_sw = 0;  // histogram n reaching the A-net's MS-SSIM
  bool equivalent_s_lower_bound = false, equivalent_sw_lower_bound = false;  // beyond the largest n tried
  bool equivalent_s_upper_bound = false, equivalent_sw_upper_bound = false;  // below the smallest n tried
};

struct SimulatedEvaluation {
  std::vector<EvalRow> rows;
  Score widefield_only;
  double field_um = 0;
  std::string csv_path, plot_path;
};

struct TableEvaluation {
  std::size_t width_px = 0, height_px = 0;
  std::uint64_t sparse_localizations = 0, dense_localizations = 0;
  std::int64_t sparse_frames = 0, frames = 0;
  Score histogram, anet;
  bool with_widefield = false;
  Score anet_widefield;             // frc_nm NaN: both halves would share the widefield
  double widefield_confidence = 0;  // of its registration to S
  double dense_frc_nm = 0;
  bool dense_frc_at_limit = false;
  std::string csv_path;
  std::string content;  // the table's content_fingerprint (its localizations in any order)
};

// Both write CSV files (and the simulated one a PNG plot) into output_dir.
SimulatedEvaluation evaluate_simulated(const EvaluateOptions& opt);
TableEvaluation evaluate_table(const EvaluateOptions& opt);

// Log-linear interpolation of the n at which `curve` (increasing in n) reaches `score`;
// `lower_bound` is set when the score exceeds the whole curve (the largest n is returned),
// `upper_bound` when it is at or below the curve's start (the smallest n is returned: the A-net
// is no better than that histogram, possibly worse).
double equivalent_n(const std::vector<double>& n, const std::vector<double>& curve, double score, bool* lower_bound,
                    bool* upper_bound = nullptr);
// ">" for a lower bound, "<=" for an upper bound, "" for an interpolated value.
inline const char* bound_mark(bool lower_bound, bool upper_bound) { return lower_bound ? ">" : upper_bound ? "<=" : ""; }

}  // namespace annamosaic::anet
