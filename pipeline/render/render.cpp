#include "render/render.hpp"

#include <fmt/format.h>

#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <vector>

namespace annamosaic {

namespace {
// Clamped below 2^52 px (a cast of a larger double, or of inf, to an integer is undefined: a
// table with a coordinate of 1e300 nm came out as 0 px, "nothing to render"): callers' size
// checks then see how large it is.
std::size_t edge_px(double nm, double pixel_nm) {
  const double px = std::ceil(nm / pixel_nm - 1e-9);
  if (!(px > 0)) return 0;  // NaN too
  return static_cast<std::size_t>(std::min(px, 4503599627370496.0));
}
}  // namespace

std::size_t field_width_px(const Field& f, double pixel_nm) { return edge_px(f.width_nm, pixel_nm); }
std::size_t field_height_px(const Field& f, double pixel_nm) { return edge_px(f.height_nm, pixel_nm); }

std::string field_description(const Field& f, double pixel_nm) {
  std::string d = fmt::format("field-nm = {},{},{},{} (x0,y0,width,height of the table's coordinates; columns x, rows y "
                              "downwards)",
                              f.x0_nm, f.y0_nm, f.width_nm, f.height_nm);
  const double w = static_cast<double>(field_width_px(f, pixel_nm)) * pixel_nm;
  const double h = static_cast<double>(field_height_px(f, pixel_nm)) * pixel_nm;
  if (std::abs(w - f.width_nm) > 1e-6 * pixel_nm || std::abs(h - f.height_nm) > 1e-6 * pixel_nm)
    d += fmt::format("; its {} x {} px of {} nm cover {} x {} nm (the last column or row is partly outside the field)",
                     field_width_px(f, pixel_nm), field_height_px(f, pixel_nm), pixel_nm, w, h);
  return d;
}

std::optional<Field> field_in_description(const std::string& description) {
  const std::string key = "field-nm = ";
  const std::size_t at = description.find(key);
  if (at == std::string::npos) return std::nullopt;
  Field f;
  double* v[4] = {&f.x0_nm, &f.y0_nm, &f.width_nm, &f.height_nm};
  const char* p = description.c_str() + at + key.size();
  const char* end = description.c_str() + description.size();
  for (int k = 0; k < 4; ++k) {
    if (k > 0) {
      if (p == end || *p != ',') return std::nullopt;
      ++p;
    }
    const auto r = std::from_chars(p, end, *v[k]);
    if (r.ec != std::errc() || !std::isfinite(*v[k])) return std::nullopt;
    p = r.ptr;
  }
  if (!(f.width_nm > 0 && f.height_nm > 0)) return std::nullopt;
  return f;
}

Field bounding_field(const TableStats& s, double pixel_nm) {
  Field f;
  if (s.rows == 0) return f;
  // On the pixel grid through 0, but never past the minimum: floor(x / p) * p can round to just
  // above x (43326 nm at 16.6 nm), which would leave that localization outside its own field.
  // Rounded to 1e-6 nm: the field is written into descriptions and configurations, where
  // 43323.299999999996 says nothing 43323.3 does not.
  const auto tidy = [](double nm) { return std::round(nm * 1e6) / 1e6; };
  f.x0_nm = std::min(tidy(std::floor(s.x_min_nm / pixel_nm) * pixel_nm), s.x_min_nm);
  f.y0_nm = std::min(tidy(std::floor(s.y_min_nm / pixel_nm) * pixel_nm), s.y_min_nm);
  // +1 pixel so the maximum itself falls inside (pixels are half-open).
  f.width_nm = tidy((std::floor((s.x_max_nm - f.x0_nm) / pixel_nm) + 1) * pixel_nm);
  f.height_nm = tidy((std::floor((s.y_max_nm - f.y0_nm) / pixel_nm) + 1) * pixel_nm);
  return f;
}

std::size_t localizations_outside(const LocTable& table, const Field& f) {
  std::size_t outside = 0;
  for (std::size_t i = 0; i < table.size(); ++i)
    outside += !(table.x_nm[i] >= f.x0_nm && table.x_nm[i] < f.x0_nm + f.width_nm && table.y_nm[i] >= f.y0_nm &&
                 table.y_nm[i] < f.y0_nm + f.height_nm);
  return outside;
}

std::string widefield_field_mismatch(const LocTable& table, const Field& f, double camera_pixel_nm,
                                     const std::string& table_name) {
  const std::size_t outside = localizations_outside(table, f);
  if (outside * 2 <= table.size()) return "";
  const TableStats st = compute_stats(table);
  return fmt::format("covers {:.1f} x {:.1f} um at {:g} nm camera pixels, but {} of the {} localizations of {} (x {:.0f}..{:.0f} "
                     "nm, y {:.0f}..{:.0f} nm) fall outside it: not this table's widefield, or another --camera-pixel-nm",
                     f.width_nm / 1e3, f.height_nm / 1e3, camera_pixel_nm, outside, table.size(), table_name, st.x_min_nm,
                     st.x_max_nm, st.y_min_nm, st.y_max_nm);
}

namespace {

// Coordinates written as decimals (43342.6 nm) are not exact in binary: (x - x0) / 16.6 came out
// 0.99999999999, a pixel early, and quantised tables showed alternating empty and doubled
// columns (probe51). A point within 1e-9 px below an edge counts as on it (coordinates' rounding
// error is ~1e-12 px; no localization is that precise).
constexpr double kEdgeTolerancePx = 1e-9;

struct Counters {
  std::uint64_t in = 0, out_field = 0, out_window = 0;
};

// Bins rows [b, e) into `hist` (width W, height H). Divided, not multiplied by 1 / pixel: a point
// exactly on a pixel edge (integer nm, integer pixel) then falls in the pixel it starts, as the
// half-open convention says (49 * (1 / 49) < 1); the cost is not measurable beside the
// histogram's cache misses.
void bin_rows(const LocTable& t, std::size_t b, std::size_t e, const Field& f, double pixel_nm, std::size_t W,
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
    const double fx = (x[i] - f.x0_nm) / pixel_nm + kEdgeTolerancePx;
    const double fy = (y[i] - f.y0_nm) / pixel_nm + kEdgeTolerancePx;
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
constexpr std::size_t kBlock = std::size_t{1} << 16;  // rows per partitioning task (1 MiB of x and y)

// Partitions rows [b, e) by image band: their pixel indices go to dst grouped by band, band j
// at dst[first[j], first[j + 1]). Two sweeps over the block: count per band, then scatter. The
// second sweep finds the block's coordinates in L2 (a block is 1 MiB of x and y), so memory is
// read once and each key written once; this measured faster than keeping keys in a scratch.
void partition_block(const LocTable& t, std::size_t b, std::size_t e, const Field& f, double pixel_nm, std::size_t W,
                     std::size_t H, const FrameWindow& win, const std::uint16_t* band_of_row, std::size_t bands,
                     std::size_t* cursor, std::uint32_t* dst, std::size_t* first, Counters& c) {
  const double wmax = static_cast<double>(W), hmax = static_cast<double>(H);
  const bool all_frames = win.first <= 0 && win.end == INT64_MAX;
  const std::int32_t* frame = t.frame.data();
  const double* x = t.x_nm.data();
  const double* y = t.y_nm.data();
  const double x0 = f.x0_nm, y0 = f.y0_nm;
  // Written so that NaN fails the tests and counts as outside.
  auto inside = [&](std::size_t i, double& fx, double& fy) {
    fx = (x[i] - x0) / pixel_nm + kEdgeTolerancePx;
    fy = (y[i] - y0) / pixel_nm + kEdgeTolerancePx;
    return fx >= 0.0 && fx < wmax && fy >= 0.0 && fy < hmax && (all_frames || win.contains(frame[i]));
  };
  // cursor[bands] collects the rows not binned.
  std::fill(cursor, cursor + bands + 1, std::size_t{0});
  for (std::size_t i = b; i < e; ++i) {
    double fx, fy;
    const bool in = inside(i, fx, fy);
    ++cursor[in ? band_of_row[static_cast<std::size_t>(fy)] : bands];
  }
  first[0] = 0;
  for (std::size_t j = 0; j < bands; ++j) {
    first[j + 1] = first[j] + cursor[j];
    cursor[j] = first[j];
  }
  for (std::size_t i = b; i < e; ++i) {
    double fx, fy;
    if (inside(i, fx, fy)) {
      const std::size_t iy = static_cast<std::size_t>(fy);
      dst[cursor[band_of_row[iy]]++] = static_cast<std::uint32_t>(iy * W + static_cast<std::size_t>(fx));
    }
  }
  const std::size_t in = first[bands];
  std::uint64_t out_window = 0;
  if (!all_frames)
    for (std::size_t i = b; i < e; ++i) out_window += !win.contains(frame[i]);
  c.in += in;
  c.out_window += out_window;
  c.out_field += (e - b) - in - out_window;
}

}  // namespace

ImageU32 render_counts(const LocTable& t, const Field& field, const RenderOptions& opt, RenderStats* stats) {
  if (!(opt.pixel_nm > 0)) throw std::invalid_argument("render: pixel_nm must be > 0");
  t.check_consistent();
  const std::size_t W = field_width_px(field, opt.pixel_nm), H = field_height_px(field, opt.pixel_nm);
  if (W >= kOutside || H >= kOutside || W * H >= kOutside) throw std::invalid_argument("render: image larger than 2^32 - 1 pixels");
  ImageU32 out(W, H);
  const std::size_t n = t.size();
  Counters total;

  // Small tables: one direct pass. Large ones: the histogram (tens of MB for a FoV) does not fit
  // in cache and random increments would be cache misses. So each block of rows is first
  // partitioned by horizontal band of the image (a band is ~512 KiB, L2-sized) in its own slice
  // of one scratch array, then each band is filled by one task from every block's slice: no
  // private copies, no atomics, and the order of increments within a pixel does not matter for
  // integer counts, so the result is the same for any thread count.
  constexpr std::size_t kSerialBelow = 1 << 16;
  auto work = [&] {
    if (n < kSerialBelow || W * H == 0) {
      bin_rows(t, 0, n, field, opt.pixel_nm, W, H, opt.window, out.data(), total);
      return;
    }
    const std::size_t rows_per_band = std::max<std::size_t>(1, (512u << 10) / (W * sizeof(std::uint32_t)));
    const std::size_t bands = (H + rows_per_band - 1) / rows_per_band;
    if (bands > 65535) throw std::invalid_argument("render: image too tall for banded binning");
    std::vector<std::uint16_t> band_of_row(H);
    for (std::size_t y = 0; y < H; ++y) band_of_row[y] = static_cast<std::uint16_t>(y / rows_per_band);
    // Segments bound the scratch memory (4 bytes per row of the segment).
    constexpr std::size_t kSegment = std::size_t{1} << 24;
    // Uninitialised scratch (every slot used is written first): no zero-fill pass.
    const std::size_t scratch = std::min(n, kSegment);
    std::unique_ptr<std::uint32_t[]> sorted(new std::uint32_t[scratch]);
    tbb::enumerable_thread_specific<std::vector<std::size_t>> cursors(bands + 1);
    for (std::size_t s0 = 0; s0 < n; s0 += kSegment) {
      const std::size_t s1 = std::min(n, s0 + kSegment);
      const std::size_t blocks = (s1 - s0 + kBlock - 1) / kBlock;
      std::vector<std::size_t> first(blocks * (bands + 1));
      std::vector<Counters> counters(blocks);
      tbb::parallel_for(std::size_t{0}, blocks, [&](std::size_t k) {
        const std::size_t b = s0 + k * kBlock, e = std::min(s1, b + kBlock);
        partition_block(t, b, e, field, opt.pixel_nm, W, H, opt.window, band_of_row.data(), bands, cursors.local().data(),
                        sorted.get() + k * kBlock, first.data() + k * (bands + 1), counters[k]);
      });
      tbb::parallel_for(std::size_t{0}, bands, [&](std::size_t band) {
        std::uint32_t* hist = out.data();
        for (std::size_t k = 0; k < blocks; ++k) {
          const std::uint32_t* src = sorted.get() + k * kBlock;
          const std::size_t* f = first.data() + k * (bands + 1);
          for (std::size_t i = f[band]; i < f[band + 1]; ++i) {
            std::uint32_t& h = hist[src[i]];
            h += (h != kOutside);
          }
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
