#include "register/widefield_registration.hpp"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "imgproc/filters.hpp"
#include "register/preprocess.hpp"

namespace annamosaic {
namespace {

void check_pixels(double pixel_nm, double camera_pixel_nm) {
  if (!(pixel_nm > 0) || !(camera_pixel_nm > 0))
    throw std::invalid_argument("widefield registration: pixel sizes must be > 0");
}

// Sample positions of a pixel-centre aligned resampling where `scale` is output pixel size /
// input pixel size: output pixel i reads input coordinate (i + 0.5) * scale - 0.5 + offset,
// clamped to the input, between pixels i0 and i1 = min(i0 + 1, n - 1) with weight f on i1.
struct Taps {
  std::size_t i0, i1;
  float f;
};
std::vector<Taps> taps(std::size_t n_out, std::size_t n_in, double scale, double offset) {
  std::vector<Taps> t(n_out);
  const double last = static_cast<double>(n_in - 1);
  for (std::size_t i = 0; i < n_out; ++i) {
    const double c = std::clamp((static_cast<double>(i) + 0.5) * scale - 0.5 + offset, 0.0, last);
    const std::size_t i0 = static_cast<std::size_t>(c);
    t[i] = {i0, std::min(i0 + 1, n_in - 1), static_cast<float>(c - static_cast<double>(i0))};
  }
  return t;
}

// Bilinear resampling of a width x height source whose row Y is row(Y) (see Taps).
template <class RowFn>
ImageF resample_rows(RowFn row, std::size_t width, std::size_t height, std::size_t w, std::size_t h, double scale,
                     double ox, double oy) {
  ImageF out(w, h);
  if (width == 0 || height == 0) return out;
  const std::vector<Taps> tx = taps(w, width, scale, ox), ty = taps(h, height, scale, oy);
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, h, 16), [&](const tbb::blocked_range<std::size_t>& rows) {
    for (std::size_t y = rows.begin(); y < rows.end(); ++y) {
      const float* r0 = row(ty[y].i0);
      const float* r1 = row(ty[y].i1);
      const float wy = ty[y].f;
      float* d = out.row(y);
      for (std::size_t x = 0; x < w; ++x) {
        const Taps& t = tx[x];
        const float top = r0[t.i0] + t.f * (r0[t.i1] - r0[t.i0]);
        const float bot = r1[t.i0] + t.f * (r1[t.i1] - r1[t.i0]);
        d[x] = top + wy * (bot - top);
      }
    }
  });
  return out;
}

ImageF resample(ImageView<const float> img, std::size_t w, std::size_t h, double scale, double ox, double oy) {
  return resample_rows([&](std::size_t y) { return img.row(y); }, img.width(), img.height(), w, h, scale, ox, oy);
}

// resample(gaussian_blur(img, sigma), ...) blurring only the rows the sampling reads (about 2 in
// `scale`): a full-size FoV's registration blurred 2765 rows to read ~1000 of them.
ImageF blur_and_resample(ImageView<const float> img, double sigma_px, std::size_t w, std::size_t h, double scale) {
  if (img.empty()) return ImageF(w, h);
  std::vector<std::size_t> rows;
  for (const Taps& t : taps(h, img.height(), scale, 0)) rows.insert(rows.end(), {t.i0, t.i1});
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  const ImageF blurred = gaussian_blur_rows(img, sigma_px, Border::Replicate, rows);
  std::vector<std::size_t> index(img.height(), 0);
  for (std::size_t i = 0; i < rows.size(); ++i) index[rows[i]] = i;
  return resample_rows([&](std::size_t y) { return blurred.row(index[y]); }, img.width(), img.height(), w, h, scale, 0, 0);
}

}  // namespace

namespace {

// The localization image on the widefield's camera grid (histogram-equalised, blurred, sampled at
// camera pixel centres) over the w x h camera pixels it fully covers; empty when under 8 x 8.
struct SrOnCameraGrid {
  ImageF image;
  std::size_t w = 0, h = 0;
};
SrOnCameraGrid sr_on_camera_grid(ImageView<const float> sr, std::size_t wf_width, std::size_t wf_height, double pixel_nm,
                                 double camera_pixel_nm, const WidefieldRegOptions& opt) {
  SrOnCameraGrid g;
  if (sr.empty() || wf_width == 0 || wf_height == 0) return g;
  const double ratio = camera_pixel_nm / pixel_nm;  // SR px per camera px
  g.w = std::min(wf_width, static_cast<std::size_t>(sr.width() / ratio + 1e-9));
  g.h = std::min(wf_height, static_cast<std::size_t>(sr.height() / ratio + 1e-9));
  if (g.w < 8 || g.h < 8) return g;
  const ImageF eq = equalize_histogram(sr);
  // The blur (~1 camera px) is the anti-aliasing filter, so point sampling at camera pixel centres suffices.
  g.image = blur_and_resample(eq.view(), opt.blur_sigma_sr_px, g.w, g.h, ratio);
  return g;
}

WidefieldRegistration correlate(const SrOnCameraGrid& g, ImageView<const float> widefield, const WidefieldRegOptions& opt) {
  WidefieldRegistration reg;
  if (g.image.empty()) return reg;
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
  const PcResult r = phase_correlate(g.image.view(), widefield.region(0, 0, g.w, g.h), pc);
  if (!r.valid) return reg;
  reg.measured_shift_x_px = r.dx_px;
  reg.measured_shift_y_px = r.dy_px;
  reg.confidence = r.confidence;
  // A peak this weak is as likely noise as the match (a FoV of background alone gave shifts of
  // 3-4 px at confidence 0.005): the nominal placement (no shift) is the better guess.
  if (r.confidence >= kMinWidefieldConfidence) reg.shift_x_px = r.dx_px, reg.shift_y_px = r.dy_px;
  return reg;
}

}  // namespace

WidefieldRegistration register_widefield(ImageView<const float> sr, ImageView<const float> widefield, double pixel_nm,
                                         double camera_pixel_nm, const WidefieldRegOptions& opt) {
  check_pixels(pixel_nm, camera_pixel_nm);
  return correlate(sr_on_camera_grid(sr, widefield.width(), widefield.height(), pixel_nm, camera_pixel_nm, opt), widefield, opt);
}

WidefieldOrientation best_widefield_orientation(ImageView<const float> sr, ImageView<const float> widefield, double pixel_nm,
                                                double camera_pixel_nm, const WidefieldRegOptions& opt) {
  check_pixels(pixel_nm, camera_pixel_nm);
  WidefieldOrientation best;
  const std::size_t w = widefield.width(), h = widefield.height();
  // Every orientation tried has the widefield's size (turns: square ones only): the localization
  // image is brought onto the camera grid once.
  const SrOnCameraGrid on_grid = sr_on_camera_grid(sr, w, h, pixel_nm, camera_pixel_nm, opt);
  if (on_grid.image.empty()) return best;
  // Where the oriented image's pixel (x, y) comes from in the widefield, for each orientation but the identity.
  struct Orientation {
    const char* name;
    bool turns;  // swaps width and height
    std::size_t (*sx)(std::size_t x, std::size_t y, std::size_t w, std::size_t h);
    std::size_t (*sy)(std::size_t x, std::size_t y, std::size_t w, std::size_t h);
  };
  static const Orientation kOrientations[] = {
      {"mirrored left-right", false, [](std::size_t x, std::size_t, std::size_t w, std::size_t) { return w - 1 - x; },
       [](std::size_t, std::size_t y, std::size_t, std::size_t) { return y; }},
      {"mirrored top-bottom", false, [](std::size_t x, std::size_t, std::size_t, std::size_t) { return x; },
       [](std::size_t, std::size_t y, std::size_t, std::size_t h) { return h - 1 - y; }},
      {"turned 180 degrees", false, [](std::size_t x, std::size_t, std::size_t w, std::size_t) { return w - 1 - x; },
       [](std::size_t, std::size_t y, std::size_t, std::size_t h) { return h - 1 - y; }},
      {"transposed (x and y swapped)", true, [](std::size_t, std::size_t y, std::size_t, std::size_t) { return y; },
       [](std::size_t x, std::size_t, std::size_t, std::size_t) { return x; }},
      {"turned 90 degrees counter-clockwise", true, [](std::size_t, std::size_t y, std::size_t, std::size_t) { return y; },
       [](std::size_t x, std::size_t, std::size_t w, std::size_t) { return w - 1 - x; }},
      {"turned 90 degrees clockwise", true, [](std::size_t, std::size_t y, std::size_t, std::size_t h) { return h - 1 - y; },
       [](std::size_t x, std::size_t, std::size_t, std::size_t) { return x; }},
      {"transposed across the other diagonal", true,
       [](std::size_t, std::size_t y, std::size_t, std::size_t h) { return h - 1 - y; },
       [](std::size_t x, std::size_t, std::size_t w, std::size_t) { return w - 1 - x; }},
  };
  for (const Orientation& o : kOrientations) {
    if (o.turns && w != h) continue;  // a turned rectangle covers another field
    // The image as it would look turned back: pixel (x, y) of it is the widefield's (sx, sy).
    ImageF turned(w, h);
    for (std::size_t y = 0; y < h; ++y)
      for (std::size_t x = 0; x < w; ++x) turned(x, y) = widefield(o.sx(x, y, w, h), o.sy(x, y, w, h));
    const WidefieldRegistration r = correlate(on_grid, turned.view(), opt);
    if (r.confidence > best.confidence) best = {o.name, r.confidence};
  }
  return best;
}

ImageF widefield_on_sr_grid(ImageView<const float> widefield, const WidefieldRegistration& reg, std::size_t sr_width,
                            std::size_t sr_height, double pixel_nm, double camera_pixel_nm) {
  check_pixels(pixel_nm, camera_pixel_nm);
  // SR pixel centre (x + 0.5) * pixel_nm lies at camera coordinate (x + 0.5) * pixel/camera - 0.5; the
  // widefield shows that point displaced by +shift.
  return resample(widefield, sr_width, sr_height, pixel_nm / camera_pixel_nm, reg.shift_x_px, reg.shift_y_px);
}

std::size_t mark_beyond_widefield(ImageF& on_sr_grid, std::size_t widefield_width, std::size_t widefield_height,
                                  const WidefieldRegistration& reg, double pixel_nm, double camera_pixel_nm) {
  check_pixels(pixel_nm, camera_pixel_nm);
  const double scale = pixel_nm / camera_pixel_nm;
  // As widefield_on_sr_grid samples: SR pixel centre x at camera coordinate (x + 0.5) * scale - 0.5 + shift.
  const auto outside = [scale](std::size_t i, double shift, std::size_t n) {
    const double c = (static_cast<double>(i) + 0.5) * scale - 0.5 + shift;
    return c < -0.5 || c > static_cast<double>(n) - 0.5;
  };
  std::vector<char> col_out(on_sr_grid.width());
  for (std::size_t x = 0; x < col_out.size(); ++x) col_out[x] = outside(x, reg.shift_x_px, widefield_width);
  std::size_t marked = 0;
  for (std::size_t y = 0; y < on_sr_grid.height(); ++y) {
    const bool row_out = outside(y, reg.shift_y_px, widefield_height);
    float* d = on_sr_grid.row(y);
    for (std::size_t x = 0; x < on_sr_grid.width(); ++x)
      if (row_out || col_out[x]) d[x] = std::numeric_limits<float>::quiet_NaN(), ++marked;
  }
  return marked;
}

}  // namespace annamosaic
