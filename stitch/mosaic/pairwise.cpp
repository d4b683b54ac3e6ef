#include "mosaic/pairwise.hpp"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>

#include "register/phase_correlation.hpp"

namespace annamosaic {
namespace {

// The four edge strips of one tile (width S across the edge, full length along it).
struct Strips {
  ImageF left, right, top, bottom;
  bool loaded = false;
};

ImageF cut(const ImageF& img, std::size_t x0, std::size_t y0, std::size_t w, std::size_t h) {
  return to_image(img.view().region(x0, y0, w, h));
}

Strips cut_strips(const ImageF& img, std::size_t S) {
  Strips s;
  if (img.empty()) return s;
  const std::size_t W = img.width(), H = img.height();
  const std::size_t sx = std::min(S, W), sy = std::min(S, H);
  s.left = cut(img, 0, 0, sx, H);
  s.right = cut(img, W - sx, 0, sx, H);
  s.top = cut(img, 0, 0, W, sy);
  s.bottom = cut(img, 0, H - sy, W, sy);
  s.loaded = true;
  return s;
}

}  // namespace

PairwiseResult register_neighbours(const TileSource& src, const PairwiseOptions& opt) {
  const auto& tiles = src.tiles();
  PairwiseResult out;
  if (tiles.empty()) return out;
  const double px_per_um = 1000.0 / opt.pixel_nm;
  const std::size_t ov = static_cast<std::size_t>(std::lround(opt.overlap_um * px_per_um));
  const std::size_t m = static_cast<std::size_t>(std::lround(opt.search_um * px_per_um));
  const std::size_t S = ov + m;
  std::map<std::pair<int, int>, std::size_t> at;
  int rows = 0;
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    at[{tiles[i].row, tiles[i].col}] = i;
    rows = std::max(rows, tiles[i].row + 1);
  }
  PcOptions pc;
  pc.window = Window::Tukey;
  pc.tukey_alpha = 0.2;
  pc.prefilter = Prefilter::Gaussian;
  pc.prefilter_sigma_px = opt.prefilter_sigma_px;
  pc.subpixel = Subpixel::Paraboloid;
  pc.peaks = 4;
  pc.max_shift_x_px = pc.max_shift_y_px = static_cast<double>(m);

  // Correlators per strip size, created once (planning is serialised inside).
  std::map<std::pair<std::size_t, std::size_t>, std::unique_ptr<PhaseCorrelator>> correlators;
  auto correlate = [&](const ImageF& fixed, const ImageF& moving, double edx, double edy) {
    PcOptions o = pc;
    o.expected_dx_px = edx;
    o.expected_dy_px = edy;
    return PhaseCorrelator(fixed.width(), fixed.height(), o).correlate(fixed.view(), moving.view());
  };
  (void)correlators;

  // Rows are processed in order, keeping only the previous row's strips: memory grows with the
  // number of columns, not with the number of tiles.
  std::map<std::size_t, Strips> prev, cur;
  std::mt19937 rng(opt.seed);
  const std::size_t null_per_row = std::max<std::size_t>(1, (opt.null_pairs + rows - 1) / std::max(rows, 1));
  for (int r = 0; r < rows; ++r) {
    std::vector<std::size_t> row_tiles;
    for (std::size_t i = 0; i < tiles.size(); ++i)
      if (tiles[i].row == r) row_tiles.push_back(i);
    std::vector<Strips> loaded(row_tiles.size());
    tbb::parallel_for(std::size_t{0}, row_tiles.size(), [&](std::size_t k) {
      loaded[k] = cut_strips(src.load(row_tiles[k], opt.channel), S);
    });
    cur.clear();
    for (std::size_t k = 0; k < row_tiles.size(); ++k) cur[row_tiles[k]] = std::move(loaded[k]);

    // Edges of this row: right neighbours, and lower edges from the previous row into this one.
    std::vector<Edge> edges;
    for (std::size_t i : row_tiles) {
      const TileMeta& t = tiles[i];
      if (auto it = at.find({t.row, t.col + 1}); it != at.end()) edges.push_back({i, it->second, true});
      if (auto it = at.find({t.row - 1, t.col}); it != at.end()) edges.push_back({it->second, i, false});
    }
    std::vector<double> nulls;
    // Random non-adjacent pairs of this row (|dc| >= 2), cut exactly like horizontal edges.
    std::vector<std::pair<std::size_t, std::size_t>> null_pairs;
    if (row_tiles.size() >= 3)
      for (std::size_t k = 0; k < null_per_row; ++k) {
        const std::size_t a = rng() % row_tiles.size();
        std::size_t b = rng() % row_tiles.size();
        if (std::abs(static_cast<long>(tiles[row_tiles[a]].col) - static_cast<long>(tiles[row_tiles[b]].col)) < 2) continue;
        null_pairs.emplace_back(row_tiles[a], row_tiles[b]);
      }
    nulls.assign(null_pairs.size(), 0.0);
    tbb::parallel_for(std::size_t{0}, edges.size() + null_pairs.size(), [&](std::size_t k) {
      const bool is_null = k >= edges.size();
      Edge e;
      if (is_null) {
        e = Edge{null_pairs[k - edges.size()].first, null_pairs[k - edges.size()].second, true};
      } else {
        e = edges[k];
      }
      const TileMeta& A = tiles[e.a];
      const TileMeta& B = tiles[e.b];
      const Strips& sa = (cur.count(e.a) ? cur : prev).at(e.a);
      const Strips& sb = cur.at(e.b);
      if (!sa.loaded || !sb.loaded) return;
      // Nominal offset of B relative to A in pixels (a null pair pretends to be a right neighbour).
      double ndx = (B.x_um - A.x_um) * px_per_um, ndy = (B.y_um - A.y_um) * px_per_um;
      if (is_null) ndx = static_cast<double>(A.width_px) - ov, ndy = 0;
      e.nominal_dx_px = ndx;
      e.nominal_dy_px = ndy;
      PcResult res;
      if (e.horizontal) {
        const ImageF& f = sa.right;
        const ImageF& mv = sb.left;
        if (f.width() != mv.width() || f.height() != mv.height()) return;
        // fixed(x) = A(x + W - S) = B(x + W - S - t): the content of B's strip lies at dx = W - S - tx.
        const double base = static_cast<double>(A.width_px) - static_cast<double>(f.width());
        res = correlate(f, mv, base - ndx, -ndy);
        e.dx_px = base - res.dx_px;
        e.dy_px = -res.dy_px;
      } else {
        const ImageF& f = sa.bottom;
        const ImageF& mv = sb.top;
        if (f.width() != mv.width() || f.height() != mv.height()) return;
        const double base = static_cast<double>(A.height_px) - static_cast<double>(f.height());
        res = correlate(f, mv, -ndx, base - ndy);
        e.dx_px = -res.dx_px;
        e.dy_px = base - res.dy_px;
      }
      e.valid = res.valid;
      e.ncc = res.valid ? res.ncc : 0.0;
      if (is_null) nulls[k - edges.size()] = e.ncc;
      else edges[k] = e;
    });
    out.edges.insert(out.edges.end(), edges.begin(), edges.end());
    out.null_ncc.insert(out.null_ncc.end(), nulls.begin(), nulls.end());
    prev = std::move(cur);
  }
  // Acceptance threshold: what the best of the random non-adjacent pairs reach, plus a margin.
  std::vector<double> n = out.null_ncc;
  std::sort(n.begin(), n.end());
  const double q95 = n.empty() ? 0.0 : n[static_cast<std::size_t>(0.95 * (n.size() - 1))];
  out.ncc_threshold = std::max(opt.min_ncc, q95 + 0.05);
  for (Edge& e : out.edges) e.accepted = e.valid && e.ncc >= out.ncc_threshold;
  return out;
}

}  // namespace annamosaic
