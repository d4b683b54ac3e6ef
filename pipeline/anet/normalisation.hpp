#pragma once
// How images become A-net inputs and targets (anet.md "Data preparation"), shared by training
// and inference so both do exactly the same. Torch-free.
//  - S: per-image standardisation (x - mean) / max(std, 1/sqrt(N)) (TensorFlow's
//    per_image_standardization, which the authors used); an all-zero S stays zero.
//  - L: widefield on the SR grid, its smooth floor subtracted, min-max scaled to [0, 1]; a
//    constant or absent widefield is all zeros.
//  - T: scaled by its `target_quantile` value and clipped to [0, 1] (normalise_to_unit).
//  - W_down: L (scaled) averaged over 4 x 4 blocks, the grid of Q's output.
#include "core/image.hpp"

namespace annamosaic::anet {

struct Standardisation {
  float mean = 0, scale = 1;  // y = (x - mean) / scale
};
Standardisation sparse_standardisation(ImageView<const float> s);
ImageF standardise_sparse(ImageView<const float> s);
// `pixel_nm`: L's pixel. Before scaling, L's smooth floor (block minima over
// kWidefieldFloorBlockNm, register/widefield_signal.hpp; imgproc block_min_floor) is subtracted: a flat background then changes nothing
// (min-max removes constants), a vignetted one no longer becomes a bright disc that the network
// fills with filaments. pixel_nm <= 0: no floor (plain min-max, as the authors').
ImageF scale_widefield(ImageView<const float> l, double pixel_nm);
ImageF widefield_on_q_grid(ImageView<const float> l01);
inline constexpr std::size_t kQFactor = 4;  // Q's output is 1/4 of the input size

}  // namespace annamosaic::anet
