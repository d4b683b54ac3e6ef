#include "mosaic/layout.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace annamosaic {
namespace {

// Solves (sum_e w_e (p_b - p_a - d_e)^2 + sum_i lambda (p_i - n_i)^2) -> min by CG on the
// normal equations A p = rhs, A = weighted graph Laplacian + lambda I (SPD thanks to the prior).
std::vector<double> solve_axis(std::size_t n, const std::vector<Edge>& edges, const std::vector<bool>& use,
                               const std::vector<double>& weight, const std::vector<double>& d,
                               const std::vector<double>& nominal, double lambda) {
  std::vector<double> diag(n, lambda), rhs(n);
  for (std::size_t i = 0; i < n; ++i) rhs[i] = lambda * nominal[i];
  for (std::size_t k = 0; k < edges.size(); ++k) {
    if (!use[k]) continue;
    const auto& e = edges[k];
    diag[e.a] += weight[k];
    diag[e.b] += weight[k];
    rhs[e.b] += weight[k] * d[k];
    rhs[e.a] -= weight[k] * d[k];
  }
  auto apply = [&](const std::vector<double>& p, std::vector<double>& out) {
    for (std::size_t i = 0; i < n; ++i) out[i] = diag[i] * p[i];
    for (std::size_t k = 0; k < edges.size(); ++k) {
      if (!use[k]) continue;
      const auto& e = edges[k];
      out[e.a] -= weight[k] * p[e.b];
      out[e.b] -= weight[k] * p[e.a];
    }
  };
  std::vector<double> p = nominal, r(n), z(n), q(n), Ap(n);
  apply(p, Ap);
  for (std::size_t i = 0; i < n; ++i) r[i] = rhs[i] - Ap[i];
  for (std::size_t i = 0; i < n; ++i) z[i] = r[i] / diag[i];  // Jacobi preconditioner
  q = z;
  double rz = std::inner_product(r.begin(), r.end(), z.begin(), 0.0);
  const double tol = 1e-20 * std::max(1.0, std::inner_product(rhs.begin(), rhs.end(), rhs.begin(), 0.0));
  for (std::size_t it = 0; it < 10 * n + 100 && rz > tol; ++it) {
    apply(q, Ap);
    const double alpha = rz / std::inner_product(q.begin(), q.end(), Ap.begin(), 0.0);
    for (std::size_t i = 0; i < n; ++i) p[i] += alpha * q[i], r[i] -= alpha * Ap[i];
    for (std::size_t i = 0; i < n; ++i) z[i] = r[i] / diag[i];
    const double rz_new = std::inner_product(r.begin(), r.end(), z.begin(), 0.0);
    for (std::size_t i = 0; i < n; ++i) q[i] = z[i] + (rz_new / rz) * q[i];
    rz = rz_new;
  }
  return p;
}

}  // namespace

Layout solve_layout(const std::vector<TileMeta>& tiles, std::vector<Edge> edges, const LayoutOptions& opt) {
  const std::size_t n = tiles.size();
  const double px_per_um = 1000.0 / opt.pixel_nm;
  std::vector<double> nx(n), ny(n);
  for (std::size_t i = 0; i < n; ++i) nx[i] = tiles[i].x_um * px_per_um, ny[i] = tiles[i].y_um * px_per_um;
  std::vector<bool> use(edges.size());
  std::vector<double> w(edges.size()), dx(edges.size()), dy(edges.size());
  for (std::size_t k = 0; k < edges.size(); ++k) {
    use[k] = edges[k].accepted;
    w[k] = std::max(0.05, edges[k].ncc);
    dx[k] = edges[k].dx_px;
    dy[k] = edges[k].dy_px;
  }
  Layout L;
  while (true) {
    L.x_px = solve_axis(n, edges, use, w, dx, nx, opt.prior_weight);
    L.y_px = solve_axis(n, edges, use, w, dy, ny, opt.prior_weight);
    double worst = -1, sum = 0;
    std::size_t worst_k = 0, count = 0;
    for (std::size_t k = 0; k < edges.size(); ++k) {
      const auto& e = edges[k];
      const double rx = L.x_px[e.b] - L.x_px[e.a] - dx[k], ry = L.y_px[e.b] - L.y_px[e.a] - dy[k];
      edges[k].residual_px = std::hypot(rx, ry);
      if (!use[k]) continue;
      sum += edges[k].residual_px;
      ++count;
      if (edges[k].residual_px > worst) worst = edges[k].residual_px, worst_k = k;
    }
    const double mean = count ? sum / count : 0;
    if (count == 0 || worst <= opt.max_residual_px || worst <= opt.residual_ratio * mean) break;
    use[worst_k] = false;  // drop the worst link and solve again
    edges[worst_k].dropped = true;
  }
  double ss = 0;
  for (std::size_t k = 0; k < edges.size(); ++k) {
    if (!use[k]) continue;
    ++L.accepted;
    ss += edges[k].residual_px * edges[k].residual_px;
    L.max_residual_px = std::max(L.max_residual_px, edges[k].residual_px);
  }
  for (const auto& e : edges) L.dropped += e.dropped;
  L.rms_residual_px = L.accepted ? std::sqrt(ss / L.accepted) : 0.0;
  L.edges = std::move(edges);
  return L;
}

nlohmann::json layout_to_json(const std::vector<TileMeta>& tiles, const Layout& L, double pixel_nm, double threshold) {
  nlohmann::json t = nlohmann::json::array(), e = nlohmann::json::array();
  for (std::size_t i = 0; i < tiles.size(); ++i)
    t.push_back({{"id", tiles[i].id},
                 {"row", tiles[i].row},
                 {"col", tiles[i].col},
                 {"x_px", L.x_px[i]},
                 {"y_px", L.y_px[i]},
                 {"x_um", L.x_px[i] * pixel_nm / 1000.0},
                 {"y_um", L.y_px[i] * pixel_nm / 1000.0},
                 {"nominal_x_um", tiles[i].x_um},
                 {"nominal_y_um", tiles[i].y_um}});
  for (const Edge& g : L.edges)
    e.push_back({{"a", tiles[g.a].id},
                 {"b", tiles[g.b].id},
                 {"direction", g.horizontal ? "right" : "down"},
                 {"dx_px", g.dx_px},
                 {"dy_px", g.dy_px},
                 {"nominal_dx_px", g.nominal_dx_px},
                 {"nominal_dy_px", g.nominal_dy_px},
                 {"ncc", g.ncc},
                 {"weight", g.accepted ? std::max(0.05, g.ncc) : 0.0},
                 {"accepted", g.accepted && !g.dropped},
                 {"dropped_as_outlier", g.dropped},
                 {"residual_px", g.residual_px}});
  return {{"pixel_nm", pixel_nm},
          {"tiles", t},
          {"edges", e},
          {"summary",
           {{"tiles", tiles.size()},
            {"edges", L.edges.size()},
            {"accepted", L.accepted},
            {"dropped_as_outliers", L.dropped},
            {"ncc_threshold", threshold},
            {"rms_residual_px", L.rms_residual_px},
            {"max_residual_px", L.max_residual_px}}}};
}

}  // namespace annamosaic
