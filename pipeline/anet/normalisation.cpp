#include "anet/normalisation.hpp"

#include <algorithm>
#include <cmath>

#include "imgproc/filters.hpp"
#include "register/widefield_signal.hpp"

namespace annamosaic::anet {

Standardisation sparse_standardisation(ImageView<const float> s) {
  const double n = static_cast<double>(s.width() * s.height());
  if (n == 0) return {};
  double sum = 0, sq = 0;
  for (std::size_t y = 0; y < s.height(); ++y)
    for (std::size_t x = 0; x < s.width(); ++x) {
      const double v = s(x, y);
      sum += v;
      sq += v * v;
    }
  const double mean = sum / n;
  const double var = std::max(0.0, sq / n - mean * mean);
  return {static_cast<float>(mean), static_cast<float>(std::max(std::sqrt(var), 1.0 / std::sqrt(n)))};
}

ImageF standardise_sparse(ImageView<const float> s) {
  const Standardisation st = sparse_standardisation(s);
  ImageF out(s.width(), s.height());
  for (std::size_t y = 0; y < s.height(); ++y)
    for (std::size_t x = 0; x < s.width(); ++x) out(x, y) = (s(x, y) - st.mean) / st.scale;
  return out;
}

ImageF scale_widefield(ImageView<const float> l_in, double pixel_nm) {
  ImageF out(l_in.width(), l_in.height());
  if (out.empty()) return out;
  ImageF flat;
  if (pixel_nm > 0) {
    const ImageF floor =
        block_min_floor(l_in, static_cast<std::size_t>(std::max(1.0, std::round(kWidefieldFloorBlockNm / pixel_nm))));
    flat = ImageF(l_in.width(), l_in.height());
    for (std::size_t y = 0; y < l_in.height(); ++y)
      for (std::size_t x = 0; x < l_in.width(); ++x) flat(x, y) = l_in(x, y) - floor(x, y);
  }
  const ImageView<const float> l = pixel_nm > 0 ? static_cast<const ImageF&>(flat).view() : l_in;
  float lo = l(0, 0), hi = l(0, 0);
  for (std::size_t y = 0; y < l.height(); ++y)
    for (std::size_t x = 0; x < l.width(); ++x) {
      lo = std::min(lo, l(x, y));
      hi = std::max(hi, l(x, y));
    }
  if (!(hi > lo)) return out;
  const float inv = 1.0f / (hi - lo);
  for (std::size_t y = 0; y < l.height(); ++y)
    for (std::size_t x = 0; x < l.width(); ++x) out(x, y) = (l(x, y) - lo) * inv;
  return out;
}

ImageF widefield_on_q_grid(ImageView<const float> l01) { return downsample_mean(l01, kQFactor); }

}  // namespace annamosaic::anet
