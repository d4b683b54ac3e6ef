#pragma once
// The A-net model file: HDF5, versioned and self-describing, independent of LibTorch's
// serialisation (torch::save's format is neither stable across versions nor readable elsewhere).
// Torch-free: arrays go in and out as plain float vectors.
//
// Layout (format "annamosaic-anet", format_version 1):
//   /                      attributes: format, format_version, kind ("model" | "checkpoint"),
//                          the architecture (ngf, ndf, q_nf, in_channels, decoder, dropout, norm,
//                          switch, output) and the data convention (pixel_nm, target_quantile,
//                          input normalisation as text)
//   /provenance            attributes only (strings): command, config, seed, steps, training
//                          time, annamosaic and LibTorch versions, created (UTC)
//   /generator/<name>      one float32 dataset per parameter/buffer, named as in the C++ module
//   /lowres_estimator/...  Q
//   /discriminator/...     D (checkpoints only)
//   /adam/<net>/{m,v}/...  optimiser moments (checkpoints only)
//   /scalars               attributes: numbers of the training state (step, best score, ...)
// h5py: f["generator/enc1.conv.weight"][...] is the array, f.attrs["ngf"] the width.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace annamosaic::anet {

inline constexpr int kModelFormatVersion = 1;
inline constexpr const char* kModelFormatName = "annamosaic-anet";

enum class Decoder { ResizeConv, TransposedConv };
const char* decoder_name(Decoder d);         // "resize-conv" | "transposed-conv"
Decoder parse_decoder(const std::string& s);  // InputError-free: std::invalid_argument on bad names

// Architecture of the three networks (anet.md). Defaults are the reference sizes.
struct NetworkConfig {
  int ngf = 64;         // G's base width
  int ndf = 64;         // D's base width (training only)
  int q_nf = 8;         // Q's first-layer channels (8, 16, 32 as the authors' ndf / 8)
  int in_channels = 2;  // S and L; the switch M is not an image channel
  Decoder decoder = Decoder::ResizeConv;
  double dropout = 0.5;
};

// How images are turned into network inputs/targets; stored in the file so inference uses
// exactly what training used.
struct DataConvention {
  double pixel_nm = 20.0;          // super-resolution pixel the model was trained at
  double target_quantile = 0.999;  // T (and metric images) scaled by this quantile, clipped to [0, 1]
};

struct NamedArray {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> data;  // row-major, product(shape) values
};

struct ModelFile {
  std::string kind = "model";
  NetworkConfig network;
  DataConvention data;
  std::map<std::string, std::string> provenance;
  std::map<std::string, double> scalars;
  // Group path ("generator", "adam/generator/m", ...) -> arrays in module order.
  std::map<std::string, std::vector<NamedArray>> groups;
};

// Writes atomically (temporary file, then rename). IoError naming the path on failure.
void write_model_file(const std::string& path, const ModelFile& model);

// Reads and checks the format name and version; InputError naming the file and what is wrong
// (not HDF5, truncated, not an A-net file, newer format version, missing attribute, bad array).
ModelFile read_model_file(const std::string& path);

// Attributes only (no arrays): for --version style listings and quick checks.
ModelFile read_model_header(const std::string& path);

// The switch ids (structure ids M) a model was trained with, ascending: its provenance's
// switch_ids (train records them since 2026-12-05) or, for an older model trained on the
// simulator, the simulated structure's id (from its provenance's data line); empty when unknown.
std::vector<int> trained_switch_ids(const ModelFile& m);
// "" or why `switch_id` cannot be given to the model in `path`: a switch id it was not trained
// with adds weights that never learned anything (their gradient is M times zero) to every
// encoder level. Unknown ids (old models trained on tables): ""; a record that is no list of ids:
// refused too. `setting` names where the id was
// given, for the hint ("--switch", "campaign.ini's switch-id ="; "": "switch").
std::string switch_id_refusal(const std::string& path, const ModelFile& m, int switch_id, const std::string& setting = "");

}  // namespace annamosaic::anet
