#pragma once
// Geometric augmentation for training pairs (anet.md "Augmentation"): a random crop, a rotation
// by 0-360 deg and a smooth elastic deformation, as ONE warp applied identically to S, T and L.
// Torch-free and deterministic for a seed.
//
// Localization images are not resampled: the warp moves the localizations (or labels) and they
// are binned afresh, so S stays a true histogram of counts (resampling a sparse histogram
// bilinearly would smear single counts into fractions the network never sees at inference).
// Images without points (the widefield on the SR grid, perfect images) are resampled
// bilinearly. Coordinates are SR pixels of the source image (x along a row).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/image.hpp"

namespace annamosaic::anet {

struct WarpOptions {
  bool rotate = true;
  double elastic_px = 2.0;            // rms displacement of the elastic field (0: none)
  double elastic_spacing_px = 64.0;   // control-point spacing (the field is bilinear between them)
};

class Warp {
 public:
  // A crop of width x height px whose centre lands on (centre_x, centre_y) in the source.
  Warp(std::size_t width, std::size_t height, double centre_x, double centre_y, const WarpOptions& opt,
       std::uint64_t seed);

  std::size_t width() const { return width_; }
  std::size_t height() const { return height_; }
  // Crop pixel coordinates -> source coordinates.
  void to_source(double x, double y, double& sx, double& sy) const;
  // Source -> crop (inverse by fixed-point iteration to 1e-6 px; exact for a pure rotation).
  void to_crop(double sx, double sy, double& x, double& y) const;
  // Source-space rectangle [x0, x1) x [y0, y1) that contains every point mapping into the crop
  // extended by `margin_px`.
  void source_bounds(double margin_px, double& x0, double& y0, double& x1, double& y1) const;

 private:
  void displacement(double x, double y, double& dx, double& dy) const;
  std::size_t width_, height_;
  double cx_, cy_, cos_ = 1, sin_ = 0;
  double spacing_ = 64;
  std::size_t gw_ = 0, gh_ = 0;
  std::vector<double> gx_, gy_;  // control-point displacements
  double max_disp_ = 0;
};

// Bilinear resampling of `src` through the warp; outside the source: 0.
ImageF warp_image(ImageView<const float> src, const Warp& warp);

// Bins points (source px coordinates, one count each) into the crop.
ImageF warp_points(const std::vector<double>& x_px, const std::vector<double>& y_px, const Warp& warp);

}  // namespace annamosaic::anet
