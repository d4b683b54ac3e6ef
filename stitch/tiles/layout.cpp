#include "tiles/layout.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <numeric>
#include <stdexcept>

namespace annamosaic {
namespace {

struct Term {
  std::size_t a, b;
  double dx, dy, wx, wy;
};

// Reverse Cuthill-McKee: a permutation that keeps graph neighbours close in index, so the normal
// matrix has a narrow band. Deterministic (ties broken by index).
std::vector<std::size_t> rcm_order(std::size_t n, const std::vector<std::vector<std::size_t>>& adj) {
  std::vector<std::size_t> order;
  order.reserve(n);
  std::vector<char> seen(n, 0);
  std::vector<std::size_t> by_degree(n);
  std::iota(by_degree.begin(), by_degree.end(), 0);
  std::stable_sort(by_degree.begin(), by_degree.end(),
                   [&](std::size_t x, std::size_t y) { return adj[x].size() < adj[y].size(); });
  for (std::size_t start : by_degree) {
    if (seen[start]) continue;
    std::deque<std::size_t> q{start};
    seen[start] = 1;
    while (!q.empty()) {
      const std::size_t v = q.front();
      q.pop_front();
      order.push_back(v);
      std::vector<std::size_t> next;
      for (std::size_t u : adj[v])
        if (!seen[u]) seen[u] = 1, next.push_back(u);
      std::stable_sort(next.begin(), next.end(), [&](std::size_t x, std::size_t y) { return adj[x].size() < adj[y].size(); });
      for (std::size_t u : next) q.push_back(u);
    }
  }
  std::reverse(order.begin(), order.end());
  return order;
}

// Solves the normal equations of `terms` plus gauge * (p - nominal)^2 for one axis (values d, weights
// w of each term picked by `axis`).
void solve_axis(const std::vector<Term>& terms, const std::vector<double>& nominal, double gauge, const std::vector<std::size_t>& pos,
                std::size_t band, bool axis_y, std::vector<double>& out) {
  const std::size_t n = nominal.size(), B = band + 1;
  std::vector<double> L(n * B, 0.0), rhs(n, 0.0);
  auto at = [&](std::size_t i, std::size_t j) -> double& { return L[i * B + (i - j)]; };  // i >= j, i - j <= band
  for (std::size_t t = 0; t < n; ++t) {
    const std::size_t i = pos[t];
    at(i, i) += gauge;
    rhs[i] += gauge * nominal[t];
  }
  for (const Term& e : terms) {
    const double w = axis_y ? e.wy : e.wx, d = axis_y ? e.dy : e.dx;
    if (w <= 0) continue;
    const std::size_t i = pos[e.a], j = pos[e.b];
    at(i, i) += w;
    at(j, j) += w;
    at(std::max(i, j), std::min(i, j)) -= w;
    rhs[j] += w * d, rhs[i] -= w * d;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t j0 = i > band ? i - band : 0;
    for (std::size_t j = j0; j <= i; ++j) {
      double s = at(i, j);
      const std::size_t k0 = std::max(j0, j > band ? j - band : 0);
      for (std::size_t k = k0; k < j; ++k) s -= at(i, k) * at(j, k);
      if (i == j) {
        if (!(s > 0)) throw std::runtime_error("solve_layout: normal matrix is not positive definite");
        at(i, i) = std::sqrt(s);
      } else {
        at(i, j) = s / at(j, j);
      }
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    double s = rhs[i];
    for (std::size_t k = i > band ? i - band : 0; k < i; ++k) s -= at(i, k) * rhs[k];
    rhs[i] = s / at(i, i);
  }
  for (std::size_t i = n; i-- > 0;) {
    double s = rhs[i];
    for (std::size_t k = i + 1; k <= std::min(n - 1, i + band); ++k) s -= at(k, i) * rhs[k];
    rhs[i] = s / at(i, i);
  }
  out.resize(n);
  for (std::size_t t = 0; t < n; ++t) out[t] = rhs[pos[t]];
}

}  // namespace

LayoutSolution solve_layout(const LayoutInput& in, const LayoutOptions& opt) {
  const std::size_t n = in.nominal_x_px.size();
  if (in.nominal_y_px.size() != n) throw std::invalid_argument("solve_layout: nominal x and y differ in size");
  if (!(opt.link_sigma_px > 0) || !(opt.prior_sigma_px > 0)) throw std::invalid_argument("solve_layout: sigmas must be > 0");
  for (const auto& [a, b] : in.prior_pairs)
    if (a >= n || b >= n || a == b) throw std::invalid_argument("solve_layout: prior pair with a bad tile index");
  for (const LayoutLink& l : in.links)
    if (l.a >= n || l.b >= n || l.a == l.b || !(l.weight > 0) || !std::isfinite(l.dx_px) || !std::isfinite(l.dy_px) ||
        l.weight_x < 0 || l.weight_y < 0 || !(l.weight_x + l.weight_y > 0))
      throw std::invalid_argument("solve_layout: link with a bad tile index, weight or shift");
  LayoutSolution s;
  s.link_used.assign(in.links.size(), 1);
  s.link_residual_px.assign(in.links.size(), 0.0);
  if (n == 0) return s;

  const double wp = 1.0 / (opt.prior_sigma_px * opt.prior_sigma_px);
  const double wl = 1.0 / (opt.link_sigma_px * opt.link_sigma_px);
  const double gauge = 1e-3 * wp;
  std::vector<Term> priors;
  for (const auto& [a, b] : in.prior_pairs)
    priors.push_back({a, b, in.nominal_x_px[b] - in.nominal_x_px[a], in.nominal_y_px[b] - in.nominal_y_px[a], wp, wp});
  // Ordering and bandwidth from every edge that can ever be present.
  std::vector<std::vector<std::size_t>> adj(n);
  auto connect = [&](std::size_t a, std::size_t b) {
    adj[a].push_back(b);
    adj[b].push_back(a);
  };
  for (const Term& t : priors) connect(t.a, t.b);
  for (const LayoutLink& l : in.links) connect(l.a, l.b);
  for (auto& v : adj) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
  }
  const std::vector<std::size_t> order = rcm_order(n, adj);
  std::vector<std::size_t> pos(n);
  for (std::size_t k = 0; k < n; ++k) pos[order[k]] = k;
  std::size_t band = 0;
  for (std::size_t a = 0; a < n; ++a)
    for (std::size_t b : adj[a]) band = std::max(band, pos[a] > pos[b] ? pos[a] - pos[b] : pos[b] - pos[a]);

  for (;;) {
    std::vector<Term> terms = priors;
    for (std::size_t k = 0; k < in.links.size(); ++k)
      if (s.link_used[k]) {
        const LayoutLink& l = in.links[k];
        terms.push_back({l.a, l.b, l.dx_px, l.dy_px, wl * l.weight * l.weight_x, wl * l.weight * l.weight_y});
      }
    solve_axis(terms, in.nominal_x_px, gauge, pos, band, false, s.x_px);
    solve_axis(terms, in.nominal_y_px, gauge, pos, band, true, s.y_px);
    ++s.solves;
    double sum = 0, worst = -1;
    std::size_t used = 0, worst_k = 0;
    for (std::size_t k = 0; k < in.links.size(); ++k) {
      const LayoutLink& l = in.links[k];
      const double r = std::hypot(l.weight_x > 0 ? s.x_px[l.b] - s.x_px[l.a] - l.dx_px : 0.0,
                                  l.weight_y > 0 ? s.y_px[l.b] - s.y_px[l.a] - l.dy_px : 0.0);
      s.link_residual_px[k] = r;
      if (!s.link_used[k]) continue;
      ++used;
      sum += r;
      if (r > worst) worst = r, worst_k = k;
    }
    if (used == 0 || s.dropped >= opt.max_drops) break;
    const double mean = sum / static_cast<double>(used);
    if (worst <= std::max(opt.max_residual_px, opt.residual_ratio * mean)) break;
    s.link_used[worst_k] = 0;
    ++s.dropped;
  }
  // Components over the used links (union-find), numbered by their smallest tile index.
  std::vector<std::size_t> parent(n);
  std::iota(parent.begin(), parent.end(), 0);
  auto find = [&](std::size_t v) {
    while (parent[v] != v) v = parent[v] = parent[parent[v]];
    return v;
  };
  std::vector<char> linked(n, 0);
  double ss = 0;
  std::size_t used = 0;
  for (std::size_t k = 0; k < in.links.size(); ++k) {
    if (!s.link_used[k]) continue;
    const LayoutLink& l = in.links[k];
    linked[l.a] = linked[l.b] = 1;
    const std::size_t ra = find(l.a), rb = find(l.b);
    // Only links measuring both axes tie tiles together rigidly.
    if (ra != rb && l.weight_x > 0 && l.weight_y > 0) parent[std::max(ra, rb)] = std::min(ra, rb);
    ss += s.link_residual_px[k] * s.link_residual_px[k];
    s.max_residual_px = std::max(s.max_residual_px, s.link_residual_px[k]);
    ++used;
  }
  s.rms_residual_px = used ? std::sqrt(ss / static_cast<double>(used)) : 0.0;
  s.component.assign(n, -1);
  std::vector<int> id_of_root(n, -1);
  for (std::size_t v = 0; v < n; ++v) {
    const std::size_t r = find(v);
    if (id_of_root[r] < 0) id_of_root[r] = s.components++;
    s.component[v] = id_of_root[r];
    if (!linked[v]) ++s.isolated_tiles;
  }
  return s;
}

}  // namespace annamosaic
