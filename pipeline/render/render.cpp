#include "render/render.hpp"

#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <vector>

namespace annamosaic {

std::size_t field_width_px(const Field& f, double pixel_nm) {
  return static_cast<std::size_t>(std::max(0.0, std::ceil(f.width_nm / pixel_nm - 1e-9)));
}
std::size_t field_height_px(const Field& f, double pixel_nm) {
  return static_cast<std::size_t>(std::max(0.0, std::ceil(f.height_nm / pixel_nm - 1e-9)));
}

Field bounding_field(const TableStats& s, double pixel_nm) {
  Field f;
  if (s.rows == 0) return f;
  f.x0_nm = std::floor(s.x_min_nm / pixel_nm) * pixel_nm;
  f.y0_nm = std::floor(s.y_min_nm / pixel_nm) * pixel_nm;
  // +1 pixel so the maximum itself falls inside (pixels are half-open).
  f.width_nm = (std::floor((s.x_max_nm - f.x0_nm) / pixel_nm) + 1) * pixel_nm;
  f.height_nm = (std::floor((s.y_max_nm - f.y0_nm) / pixel_nm) + 1) * pixel_nm;
  return f;
}

namespace {

struct Counters {
  std::uint64_t in = 0, out_field = 0, out_window = 0;
};

// Bins rows [b, e) into `hist` (width W, height H). The hot loop: two multiplies, two compares.
void bin_rows(const LocTable& t, std::size_t b, std::size_t e, const Field& f, double inv_px, std::size_t W,
              std::size_t H, const FrameWindow& win, std::uint32_t* hist, Counters& c) {
  const double wmax = static_cast<double>(W), hmax = static_cast<double>(H);
  // Readers guarantee frames >= 0, so [0, max) is "all frames" and skips the test.
  const bool all_frames = win.first <= 0 && win.end == INT64_MAX;
  const std::int32_t* frame = t.frame.data();
  const double* x = t.x_nm.data();
  const double* y = t.y_nm.data();
  std::uint64_t in = 0, out_field = 0, out_window = 0;
  for (std::size_t i = b; i < e; ++i) {
    if (!all_frames && !win.contains(frame[i])) {
      ++out_window;
      continue;
    }
    const double fx = (x[i] - f.x0_nm) * inv_px;
    const double fy = (y[i] - f.y0_nm) * inv_px;
    // Written so that NaN fails both tests and counts as outside.
    if (fx >= 0.0 && fx < wmax && fy >= 0.0 && fy < hmax) {
      const std::size_t ix = static_cast<std::size_t>(fx), iy = static_cast<std::size_t>(fy);
      std::uint32_t& h = hist[iy * W + ix];
      h += (h != std::numeric_limits<std::uint32_t>::max());
      ++in;
    } else {
      ++out_field;
    }
  }
  c.in += in;
  c.out_field += out_field;
  c.out_window += out_window;
}

}  // namespace

namespace {

constexpr std::uint32_t kOutside = std::numeric_limits<std::uint32_t>::max();

// Pass 1 over rows [b, e): pixel index per row (kOutside when not binned) and rows per band.
void compute_keys(const LocTable& t, std::size_t b, std::size_t e, const Field& f, double inv_px, std::size_t W,
                  std::size_t H, const FrameWindow& win, const std::uint16_t* band_of_row, std::uint32_t* keys,
                  std::uint16_t* band_of_key, std::size_t* band_count, Counters& c) {
  const double wmax = static_cast<double>(W), hmax = static_cast<double>(H);
  const bool all_frames = win.first <= 0 && win.end == INT64_MAX;
  std::uint64_t in = 0, out_field = 0, out_window = 0;
  for (std::size_t i = b; i < e; ++i) {
    std::uint32_t key = kOutside;
    if (!all_frames && !win.contains(t.frame[i])) {
      ++out_window;
    } else {
      const double fx = (t.x_nm[i] - f.x0_nm) * inv_px;
      const double fy = (t.y_nm[i] - f.y0_nm) * inv_px;
      if (fx >= 0.0 && fx < wmax && fy >= 0.0 && fy < hmax) {
        const std::size_t iy = static_cast<std::size_t>(fy);
        key = static_cast<std::uint32_t>(iy * W + static_cast<std::size_t>(fx));
        const std::uint16_t band = band_of_row[iy];  // table lookup: no division in the hot loop
        band_of_key[i - b] = band;
        ++band_count[band];
        ++in;
      } else {
        ++out_field;
      }
    }
    keys[i - b] = key;
  }
  c.in += in;
  c.out_field += out_field;
  c.out_window += out_window;
}

}  // namespace

ImageU32 render_counts(const LocTable& t, const Field& field, const RenderOptions& opt, RenderStats* stats) {
  if (!(opt.pixel_nm > 0)) throw std::invalid_argument("render: pixel_nm must be > 0");
  t.check_consistent();
  const std::size_t W = field_width_px(field, opt.pixel_nm), H = field_height_px(field, opt.pixel_nm);
  if (W * H >= kOutside) throw std::invalid_argument("render: image larger than 2^32 - 1 pixels");
  ImageU32 out(W, H);
  const double inv_px = 1.0 / opt.pixel_nm;
  const std::size_t n = t.size();
  Counters total;

  // Small tables: one direct pass. Large ones: the histogram (tens of MB for a FoV) does not fit
  // in cache and random increments would be cache misses. So rows are first partitioned by
  // horizontal band (a band of the image is ~512 KiB, L2-sized), then each band is filled by
  // one task: no private copies, no atomics, and the order of increments within a pixel does
  // not matter for integer counts, so the result is the same for any thread count.
  constexpr std::size_t kSerialBelow = 1 << 16;
  auto work = [&] {
    if (n < kSerialBelow || W * H == 0) {
      bin_rows(t, 0, n, field, inv_px, W, H, opt.window, out.data(), total);
      return;
    }
    const std::size_t rows_per_band = std::max<std::size_t>(1, (512u << 10) / (W * sizeof(std::uint32_t)));
    const std::size_t bands = (H + rows_per_band - 1) / rows_per_band;
    if (bands > 65535) throw std::invalid_argument("render: image too tall for banded binning");
    std::vector<std::uint16_t> band_of_row(H);
    for (std::size_t y = 0; y < H; ++y) band_of_row[y] = static_cast<std::uint16_t>(y / rows_per_band);
    // Segments bound the scratch memory (10 bytes per row of the segment).
    constexpr std::size_t kSegment = std::size_t{1} << 24;
    constexpr std::size_t kBlock = std::size_t{1} << 16;  // rows per pass-1 task
    // Uninitialised scratch (every slot used is written first): no zero-fill pass.
    const std::size_t scratch = std::min(n, kSegment);
    std::unique_ptr<std::uint32_t[]> keys(new std::uint32_t[scratch]), sorted(new std::uint32_t[scratch]);
    std::unique_ptr<std::uint16_t[]> band_of_key(new std::uint16_t[scratch]);
    for (std::size_t s0 = 0; s0 < n; s0 += kSegment) {
      const std::size_t s1 = std::min(n, s0 + kSegment);
      const std::size_t blocks = (s1 - s0 + kBlock - 1) / kBlock;
      std::vector<std::size_t> count(blocks * bands, 0);
      std::vector<Counters> counters(blocks);
      tbb::parallel_for(std::size_t{0}, blocks, [&](std::size_t k) {
        const std::size_t b = s0 + k * kBlock, e = std::min(s1, b + kBlock);
        compute_keys(t, b, e, field, inv_px, W, H, opt.window, band_of_row.data(), keys.get() + (b - s0),
                     band_of_key.get() + (b - s0), count.data() + k * bands, counters[k]);
      });
      // Offsets: band-major, then block order, so each band's keys are contiguous.
      std::vector<std::size_t> offset(blocks * bands);
      std::vector<std::size_t> band_begin(bands + 1, 0);
      std::size_t pos = 0;
      for (std::size_t band = 0; band < bands; ++band) {
        band_begin[band] = pos;
        for (std::size_t k = 0; k < blocks; ++k) {
          offset[k * bands + band] = pos;
          pos += count[k * bands + band];
        }
      }
      band_begin[bands] = pos;
      tbb::parallel_for(std::size_t{0}, blocks, [&](std::size_t k) {
        const std::size_t b = k * kBlock, e = std::min(s1 - s0, b + kBlock);
        std::size_t* off = offset.data() + k * bands;
        for (std::size_t i = b; i < e; ++i) {
          const std::uint32_t key = keys[i];
          if (key != kOutside) sorted[off[band_of_key[i]]++] = key;
        }
      });
      tbb::parallel_for(std::size_t{0}, bands, [&](std::size_t band) {
        std::uint32_t* hist = out.data();
        for (std::size_t i = band_begin[band]; i < band_begin[band + 1]; ++i) {
          std::uint32_t& h = hist[sorted[i]];
          h += (h != kOutside);
        }
      });
      for (const auto& c : counters) {
        total.in += c.in;
        total.out_field += c.out_field;
        total.out_window += c.out_window;
      }
    }
  };
  if (opt.threads > 0) tbb::task_arena(static_cast<int>(opt.threads)).execute(work);
  else work();
  if (stats) *stats = RenderStats{total.in, total.out_field, total.out_window};
  return out;
}

ImageF render(const LocTable& t, const Field& field, const RenderOptions& opt, RenderStats* stats) {
  const ImageU32 counts = render_counts(t, field, opt, stats);
  ImageF out(counts.width(), counts.height());
  std::transform(counts.begin(), counts.end(), out.begin(), [](std::uint32_t v) { return static_cast<float>(v); });
  return out;
}

std::size_t counts_to_u16(const ImageU32& counts, ImageU16& out) {
  out = ImageU16(counts.width(), counts.height());
  std::size_t saturated = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const std::uint32_t v = counts.data()[i];
    saturated += v > 65535u;
    out.data()[i] = static_cast<std::uint16_t>(std::min<std::uint32_t>(v, 65535u));
  }
  return saturated;
}

}  // namespace annamosaic
