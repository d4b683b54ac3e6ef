#include "register/widefield_registration.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "imgproc/filters.hpp"
#include "register/preprocess.hpp"

namespace annamosaic {
namespace {

void check_pixels(double pixel_nm, double camera_pixel_nm) {
  if (!(pixel_nm > 0) || !(camera_pixel_nm > 0))
    throw std::invalid_argument("widefield registration: pixel sizes must be > 0");
}

inline float bilinear(ImageView<const float> img, double fx, double fy) {
  const double W = static_cast<double>(img.width() - 1), H = static_cast<double>(img.height() - 1);
  fx = std::clamp(fx, 0.0, W);
  fy = std::clamp(fy, 0.0, H);
  const std::size_t x0 = static_cast<std::size_t>(fx), y0 = static_cast<std::size_t>(fy);
  const std::size_t x1 = std::min(x0 + 1, img.width() - 1), y1 = std::min(y0 + 1, img.height() - 1);
  const float wx = static_cast<float>(fx - static_cast<double>(x0)), wy = static_cast<float>(fy - static_cast<double>(y0));
  const float* r0 = img.row(y0);
  const float* r1 = img.row(y1);
  const float top = r0[x0] + wx * (r0[x1] - r0[x0]);
  const float bot = r1[x0] + wx * (r1[x1] - r1[x0]);
  return top + wy * (bot - top);
}

// out(x, y) = img at ((x + 0.5) * scale - 0.5 + ox, (y + 0.5) * scale - 0.5 + oy): pixel-centre aligned
// resampling where `scale` is output pixel size / input pixel size.
ImageF resample(ImageView<const float> img, std::size_t w, std::size_t h, double scale, double ox, double oy) {
  ImageF out(w, h);
  if (img.empty()) return out;
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, h, 16), [&](const tbb::blocked_range<std::size_t>& rows) {
    for (std::size_t y = rows.begin(); y < rows.end(); ++y) {
      const double fy = (y + 0.5) * scale - 0.5 + oy;
      float* d = out.row(y);
      for (std::size_t x = 0; x < w; ++x) d[x] = bilinear(img, (x + 0.5) * scale - 0.5 + ox, fy);
    }
  });
  return out;
}

}  // namespace

WidefieldRegistration register_widefield(ImageView<const float> sr, ImageView<const float> widefield, double pixel_nm,
                                         double camera_pixel_nm, const WidefieldRegOptions& opt) {
  check_pixels(pixel_nm, camera_pixel_nm);
  WidefieldRegistration reg;
  if (sr.empty() || widefield.empty()) return reg;
  const double ratio = camera_pixel_nm / pixel_nm;  // SR px per camera px
  // Camera pixels fully covered by the SR image.
  const std::size_t w = std::min(widefield.width(), static_cast<std::size_t>(sr.width() / ratio + 1e-9));
  const std::size_t h = std::min(widefield.height(), static_cast<std::size_t>(sr.height() / ratio + 1e-9));
  if (w < 8 || h < 8) return reg;
  const ImageF eq = equalize_histogram(sr);
  const ImageF blurred = gaussian_blur(eq.view(), opt.blur_sigma_sr_px, Border::Replicate);
  // The blur (~1 camera px) is the anti-aliasing filter, so point sampling at camera pixel centres suffices.
  const ImageF sr_on_wf = resample(blurred.view(), w, h, ratio, 0, 0);
  PcOptions pc;
  pc.window = opt.window;
  pc.tukey_alpha = opt.tukey_alpha;
  pc.whitening = opt.whitening;
  pc.prefilter = opt.prefilter;
  pc.prefilter_sigma_px = opt.prefilter_sigma_camera_px;
  pc.subpixel = opt.subpixel;
  pc.upsample = opt.upsample;
  pc.max_shift_x_px = pc.max_shift_y_px = opt.max_shift_camera_px;
  pc.peaks = 4;
  const PcResult r = phase_correlate(sr_on_wf.view(), widefield.region(0, 0, w, h), pc);
  if (!r.valid) return reg;
  reg.shift_x_px = r.dx_px;
  reg.shift_y_px = r.dy_px;
  reg.confidence = r.confidence;
  return reg;
}

ImageF widefield_on_sr_grid(ImageView<const float> widefield, const WidefieldRegistration& reg, std::size_t sr_width,
                            std::size_t sr_height, double pixel_nm, double camera_pixel_nm) {
  check_pixels(pixel_nm, camera_pixel_nm);
  // SR pixel centre (x + 0.5) * pixel_nm lies at camera coordinate (x + 0.5) * pixel/camera - 0.5; the
  // widefield shows that point displaced by +shift.
  return resample(widefield, sr_width, sr_height, pixel_nm / camera_pixel_nm, reg.shift_x_px, reg.shift_y_px);
}

}  // namespace annamosaic
