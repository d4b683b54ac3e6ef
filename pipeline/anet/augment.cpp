#include "anet/augment.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace annamosaic::anet {

Warp::Warp(std::size_t width, std::size_t height, double centre_x, double centre_y, const WarpOptions& opt,
           std::uint64_t seed)
    : width_(width), height_(height), cx_(centre_x), cy_(centre_y), spacing_(std::max(1.0, opt.elastic_spacing_px)) {
  std::mt19937_64 rng(seed);
  if (opt.rotate) {
    const double a = std::uniform_real_distribution<double>(0.0, 2 * M_PI)(rng);
    cos_ = std::cos(a);
    sin_ = std::sin(a);
  }
  if (opt.elastic_px > 0) {
    gw_ = static_cast<std::size_t>(std::ceil(static_cast<double>(width) / spacing_)) + 1;
    gh_ = static_cast<std::size_t>(std::ceil(static_cast<double>(height) / spacing_)) + 1;
    std::normal_distribution<double> n(0.0, opt.elastic_px);
    gx_.resize(gw_ * gh_);
    gy_.resize(gw_ * gh_);
    for (std::size_t i = 0; i < gx_.size(); ++i) {
      gx_[i] = n(rng);
      gy_[i] = n(rng);
      max_disp_ = std::max(max_disp_, std::hypot(gx_[i], gy_[i]));
    }
  }
}

void Warp::displacement(double x, double y, double& dx, double& dy) const {
  dx = dy = 0;
  if (gx_.empty()) return;
  const double gxf = std::clamp(x / spacing_, 0.0, static_cast<double>(gw_ - 1));
  const double gyf = std::clamp(y / spacing_, 0.0, static_cast<double>(gh_ - 1));
  // gw_, gh_ >= 2 (see the constructor), so a cell [i0, i0 + 1] always exists.
  const std::size_t i0 = std::min(static_cast<std::size_t>(gxf), gw_ - 2);
  const std::size_t j0 = std::min(static_cast<std::size_t>(gyf), gh_ - 2);
  const double fx = gxf - static_cast<double>(i0), fy = gyf - static_cast<double>(j0);
  auto at = [&](const std::vector<double>& g, std::size_t i, std::size_t j) { return g[j * gw_ + i]; };
  const std::size_t i1 = std::min(i0 + 1, gw_ - 1), j1 = std::min(j0 + 1, gh_ - 1);
  dx = (1 - fy) * ((1 - fx) * at(gx_, i0, j0) + fx * at(gx_, i1, j0)) + fy * ((1 - fx) * at(gx_, i0, j1) + fx * at(gx_, i1, j1));
  dy = (1 - fy) * ((1 - fx) * at(gy_, i0, j0) + fx * at(gy_, i1, j0)) + fy * ((1 - fx) * at(gy_, i0, j1) + fx * at(gy_, i1, j1));
}

void Warp::to_source(double x, double y, double& sx, double& sy) const {
  double dx, dy;
  displacement(x, y, dx, dy);
  // Rotate the crop's offset from its centre, then add the elastic displacement.
  const double ox = x - 0.5 * static_cast<double>(width_), oy = y - 0.5 * static_cast<double>(height_);
  sx = cx_ + cos_ * ox - sin_ * oy + dx;
  sy = cy_ + sin_ * ox + cos_ * oy + dy;
}

void Warp::to_crop(double sx, double sy, double& x, double& y) const {
  // Fixed point q = R^-1 (s - c - d(q)) + h; converges because the field's slope is small
  // (displacements of a few px over control points tens of px apart).
  double dx = 0, dy = 0;
  for (int it = 0; it < 30; ++it) {
    const double px = sx - cx_ - dx, py = sy - cy_ - dy;
    const double nx = cos_ * px + sin_ * py + 0.5 * static_cast<double>(width_);
    const double ny = -sin_ * px + cos_ * py + 0.5 * static_cast<double>(height_);
    const bool done = it > 0 && std::abs(nx - x) < 1e-6 && std::abs(ny - y) < 1e-6;
    x = nx;
    y = ny;
    if (gx_.empty() || done) return;
    displacement(x, y, dx, dy);
  }
}

void Warp::source_bounds(double margin_px, double& x0, double& y0, double& x1, double& y1) const {
  // The rotated crop's corners, grown by the largest displacement and the margin.
  const double hw = 0.5 * static_cast<double>(width_) + margin_px, hh = 0.5 * static_cast<double>(height_) + margin_px;
  const double ex = std::abs(cos_) * hw + std::abs(sin_) * hh + max_disp_ + 1;
  const double ey = std::abs(sin_) * hw + std::abs(cos_) * hh + max_disp_ + 1;
  x0 = cx_ - ex;
  x1 = cx_ + ex;
  y0 = cy_ - ey;
  y1 = cy_ + ey;
}

ImageF warp_image(ImageView<const float> src, const Warp& warp) {
  ImageF out(warp.width(), warp.height());
  const double W = static_cast<double>(src.width()), H = static_cast<double>(src.height());
  for (std::size_t y = 0; y < out.height(); ++y)
    for (std::size_t x = 0; x < out.width(); ++x) {
      double sx, sy;
      // Pixel centres: crop pixel (x, y) covers [x, x+1); its centre is x + 0.5.
      warp.to_source(static_cast<double>(x) + 0.5, static_cast<double>(y) + 0.5, sx, sy);
      const double fx = sx - 0.5, fy = sy - 0.5;
      if (fx < -1 || fy < -1 || fx >= W || fy >= H) continue;
      const double x0 = std::floor(fx), y0 = std::floor(fy);
      const double ax = fx - x0, ay = fy - y0;
      auto px = [&](double xi, double yi) -> double {
        if (xi < 0 || yi < 0 || xi >= W || yi >= H) return 0.0;
        return src(static_cast<std::size_t>(xi), static_cast<std::size_t>(yi));
      };
      out(x, y) = static_cast<float>((1 - ay) * ((1 - ax) * px(x0, y0) + ax * px(x0 + 1, y0)) +
                                     ay * ((1 - ax) * px(x0, y0 + 1) + ax * px(x0 + 1, y0 + 1)));
    }
  return out;
}

ImageF warp_points(const std::vector<double>& xs, const std::vector<double>& ys, const Warp& warp) {
  ImageF out(warp.width(), warp.height());
  double bx0, by0, bx1, by1;
  warp.source_bounds(0, bx0, by0, bx1, by1);
  const double W = static_cast<double>(warp.width()), H = static_cast<double>(warp.height());
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (xs[i] < bx0 || xs[i] >= bx1 || ys[i] < by0 || ys[i] >= by1) continue;
    double x, y;
    warp.to_crop(xs[i], ys[i], x, y);
    if (x >= 0 && x < W && y >= 0 && y < H) out(static_cast<std::size_t>(x), static_cast<std::size_t>(y)) += 1.0f;
  }
  return out;
}

}  // namespace annamosaic::anet
