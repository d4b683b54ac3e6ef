#include "imageio/png_preview.hpp"

#include <png.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace annamosaic {
namespace {

// Value of rank round(p/100 * (n-1)) in `values`, which nth_element reorders.
float rank_value(std::vector<float>& values, double pct) {
  const auto k = static_cast<std::size_t>(std::llround(pct / 100.0 * double(values.size() - 1)));
  std::nth_element(values.begin(), values.begin() + k, values.end());
  return values[k];
}

// Percentile pair of `values` (finite, non-empty); the low rank is searched only below the
// high one, which nth_element has already partitioned.
std::pair<float, float> percentiles_of(std::vector<float>& values, double low_pct, double high_pct) {
  const float hi = rank_value(values, high_pct);
  const auto k_hi = static_cast<std::size_t>(std::llround(high_pct / 100.0 * double(values.size() - 1)));
  const auto k_lo = static_cast<std::size_t>(std::llround(low_pct / 100.0 * double(values.size() - 1)));
  std::nth_element(values.begin(), values.begin() + k_lo, values.begin() + k_hi + 1);
  return {values[k_lo], hi};
}

template <class Keep>
std::vector<float> collect(ImageView<const float> image, Keep keep) {
  std::vector<float> values;
  for (std::size_t y = 0; y < image.height(); ++y)
    for (const float* p = image.row(y); p != image.row(y) + image.width(); ++p)
      if (keep(*p)) values.push_back(*p);
  return values;
}

void check_percentiles(double low_pct, double high_pct) {
  if (!(0 <= low_pct && low_pct <= high_pct && high_pct <= 100))
    throw std::invalid_argument("percentiles must satisfy 0 <= low <= high <= 100");
}

std::pair<float, float> finite_min_max(ImageView<const float> image) {
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (std::size_t y = 0; y < image.height(); ++y)
    for (const float* p = image.row(y); p != image.row(y) + image.width(); ++p)
      if (std::isfinite(*p)) {
        lo = std::min(lo, *p);
        hi = std::max(hi, *p);
      }
  return lo <= hi ? std::pair{lo, hi} : std::pair{0.0f, 0.0f};
}

// 256-entry colour table; Hot ramps red, then green, then blue over thirds of the range.
std::array<std::array<std::uint8_t, 3>, 256> colour_table(Colormap map) {
  std::array<std::array<std::uint8_t, 3>, 256> lut{};
  for (int i = 0; i < 256; ++i) {
    if (map == Colormap::Gray) {
      lut[i] = {std::uint8_t(i), std::uint8_t(i), std::uint8_t(i)};
      continue;
    }
    const double t = i / 255.0;
    const auto ramp = [t](double start) {
      return std::uint8_t(std::lround(255.0 * std::clamp(3.0 * (t - start), 0.0, 1.0)));
    };
    lut[i] = {ramp(0.0), ramp(1.0 / 3.0), ramp(2.0 / 3.0)};
  }
  return lut;
}

std::uint8_t to_byte(float v, float lo, float hi) {
  if (!(hi > lo) || !(v == v)) return 0;  // flat image or NaN: black
  const double t = std::clamp((double(v) - lo) / (double(hi) - lo), 0.0, 1.0);
  return static_cast<std::uint8_t>(std::lround(255.0 * t));
}

// Packed 8-bit gray or RGB rows of the stretched image.
std::vector<std::uint8_t> render_rows(const ImageF& image, std::pair<float, float> range, Colormap map) {
  const std::size_t channels = map == Colormap::Gray ? 1 : 3;
  const auto lut = colour_table(map);
  std::vector<std::uint8_t> out(image.size() * channels);
  for (std::size_t i = 0; i < image.size(); ++i) {
    const auto& rgb = lut[to_byte(image.data()[i], range.first, range.second)];
    std::copy_n(rgb.begin(), channels, out.begin() + i * channels);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// libpng. encode_png() is plain C in spirit: no object with a destructor lives in the function
// that calls setjmp, so longjmp skips nothing; it reports failure by return value.

struct PngError {
  char message[256];
};

void png_error_handler(png_structp png, png_const_charp msg) {
  auto* err = static_cast<PngError*>(png_get_error_ptr(png));
  std::snprintf(err->message, sizeof err->message, "%s", msg ? msg : "unknown libpng error");
  png_longjmp(png, 1);
}

void png_warning_handler(png_structp, png_const_charp) {}  // warnings do not fail a preview

bool encode_png(std::FILE* file, std::uint32_t width, std::uint32_t height, int color_type, png_bytep* rows,
                PngError* err) {
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, err, png_error_handler, png_warning_handler);
  if (!png) {
    std::snprintf(err->message, sizeof err->message, "png_create_write_struct failed");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    std::snprintf(err->message, sizeof err->message, "png_create_info_struct failed");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_init_io(png, file);
  png_set_IHDR(png, info, width, height, 8, color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

std::pair<float, float> percentile_range(ImageView<const float> image, double low_pct, double high_pct) {
  check_percentiles(low_pct, high_pct);
  std::vector<float> values = collect(image, [](float v) { return std::isfinite(v); });
  if (values.empty()) return {0.0f, 0.0f};
  return percentiles_of(values, low_pct, high_pct);
}

std::pair<float, float> preview_range(ImageView<const float> image, const PreviewOptions& opt) {
  auto [lo, hi] = percentile_range(image, opt.low_percentile, opt.high_percentile);
  const auto [min, max] = finite_min_max(image);
  if (hi == 0 && max > 0) {  // sparse render: mostly zeros, yet something to show
    std::vector<float> non_zero = collect(image, [](float v) { return std::isfinite(v) && v != 0; });
    hi = percentiles_of(non_zero, opt.low_percentile, opt.high_percentile).second;
  }
  if (!(hi > lo)) return {min, max};
  return {lo, hi};
}

std::size_t preview_block_factor(std::size_t width, std::size_t height, std::size_t max_size_px) {
  const std::size_t longest = std::max(width, height);
  if (max_size_px == 0 || longest <= max_size_px) return 1;
  return (longest + max_size_px - 1) / max_size_px;
}

ImageF downsample_max(ImageView<const float> image, std::size_t factor) {
  if (factor == 0) throw std::invalid_argument("downsample_max: factor must be >= 1");
  const std::size_t w = (image.width() + factor - 1) / factor, h = (image.height() + factor - 1) / factor;
  ImageF out(w, h);
  std::fill(out.begin(), out.end(), std::numeric_limits<float>::quiet_NaN());
  for (std::size_t y = 0; y < image.height(); ++y) {
    float* dst = out.row(y / factor);
    const float* src = image.row(y);
    for (std::size_t x = 0; x < image.width(); ++x) {
      float& m = dst[x / factor];
      if (src[x] > m || (m != m && src[x] == src[x])) m = src[x];  // NaN never wins
    }
  }
  return out;
}

namespace {
void write_png_rows(const std::string& path, std::size_t width, std::size_t height, int color_type,
                    std::vector<std::uint8_t>& pixels, std::size_t channels) {
  if (width > PNG_UINT_31_MAX || height > PNG_UINT_31_MAX)
    throw std::invalid_argument(path + ": image too large for PNG");
  std::vector<png_bytep> rows(height);
  for (std::size_t y = 0; y < rows.size(); ++y) rows[y] = pixels.data() + y * width * channels;
  AtomicFile out(path);
  std::FILE* file = std::fopen(out.temp_path().c_str(), "wb");
  if (!file)
    throw IoError(path, "cannot create temporary file " + out.temp_path() + ": " + std::strerror(errno));
  PngError err{};
  const bool encoded = encode_png(file, static_cast<std::uint32_t>(width), static_cast<std::uint32_t>(height),
                                  color_type, rows.data(), &err);
  const bool stream_ok = std::ferror(file) == 0;
  const int close_errno = std::fclose(file) == 0 ? 0 : errno;
  if (!encoded) throw IoError(path, std::string("PNG encoding failed: ") + err.message + low_space_note(path));
  if (!stream_ok || close_errno != 0)
    throw IoError(path, std::string("write failed: ") + std::strerror(close_errno ? close_errno : EIO) + low_space_note(path));
  out.commit();
}
}  // namespace

void write_preview_png(const std::string& path, ImageView<const float> image, const PreviewOptions& opt) {
  if (image.empty()) throw std::invalid_argument(path + ": cannot write a preview of an empty image");
  const ImageF small =
      downsample_max(image, preview_block_factor(image.width(), image.height(), opt.max_size_px));
  std::vector<std::uint8_t> pixels = render_rows(small, preview_range(small.view(), opt), opt.colormap);
  const bool gray = opt.colormap == Colormap::Gray;
  write_png_rows(path, small.width(), small.height(), gray ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, pixels,
                 gray ? 1 : 3);
}

std::vector<std::uint8_t> preview_rgb(ImageView<const float> image, const PreviewOptions& opt, std::size_t& width,
                                      std::size_t& height) {
  if (image.empty()) throw std::invalid_argument("preview_rgb: an empty image");
  const ImageF small = downsample_max(image, preview_block_factor(image.width(), image.height(), opt.max_size_px));
  width = small.width(), height = small.height();
  std::vector<std::uint8_t> pixels = render_rows(small, preview_range(small.view(), opt), opt.colormap);
  if (opt.colormap != Colormap::Gray) return pixels;
  std::vector<std::uint8_t> rgb(pixels.size() * 3);
  for (std::size_t i = 0; i < pixels.size(); ++i) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = pixels[i];
  return rgb;
}

void write_png_rgb(const std::string& path, std::size_t width, std::size_t height, std::vector<std::uint8_t> rgb) {
  if (rgb.size() != width * height * 3) throw std::invalid_argument(path + ": RGB buffer size mismatch");
  if (width == 0 || height == 0) throw std::invalid_argument(path + ": empty image");
  write_png_rows(path, width, height, PNG_COLOR_TYPE_RGB, rgb, 3);
}

}  // namespace annamosaic
