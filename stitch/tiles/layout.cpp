#include "tiles/layout.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <numeric>
#include <stdexcept>

namespace annamosaic {
namespace {

// Two links' leave-one-out gains within this ratio count as alike (see solve_layout).
constexpr double kAlikeGain = 0.75;

// Union-find over tiles; each set is named by its smallest tile index.
class TileSets {
 public:
  explicit TileSets(std::size_t n) : parent_(n) { std::iota(parent_.begin(), parent_.end(), 0); }
  std::size_t find(std::size_t v) {
    while (parent_[v] != v) v = parent_[v] = parent_[parent_[v]];
    return v;
  }
  // Joins the sets of a and b; false if they were one already (the link closes a loop).
  bool join(std::size_t a, std::size_t b) {
    const std::size_t ra = find(a), rb = find(b);
    if (ra == rb) return false;
    parent_[std::max(ra, rb)] = std::min(ra, rb);
    return true;
  }

 private:
  std::vector<std::size_t> parent_;
};

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

// The normal equations of `terms` plus gauge * (p - nominal)^2 for one axis (values d, weights w of
// each term picked by `axis`), factorised once (banded Cholesky, in the RCM order `pos`): solve()
// gives the positions, leverage() what the leave-one-out test of a link needs.
class AxisSystem {
 public:
  AxisSystem(const std::vector<Term>& terms, const std::vector<double>& nominal, double gauge, const std::vector<std::size_t>& pos,
             std::size_t band, bool axis_y)
      : n_(nominal.size()), band_(band), B_(band + 1), L_(n_ * B_, 0.0), rhs_(n_, 0.0), pos_(pos) {
    for (std::size_t t = 0; t < n_; ++t) {
      const std::size_t i = pos[t];
      at(i, i) += gauge;
      rhs_[i] += gauge * nominal[t];
    }
    for (const Term& e : terms) {
      const double w = axis_y ? e.wy : e.wx, d = axis_y ? e.dy : e.dx;
      if (w <= 0) continue;
      const std::size_t i = pos[e.a], j = pos[e.b];
      at(i, i) += w;
      at(j, j) += w;
      at(std::max(i, j), std::min(i, j)) -= w;
      rhs_[j] += w * d, rhs_[i] -= w * d;
    }
    for (std::size_t i = 0; i < n_; ++i) {
      const std::size_t j0 = i > band_ ? i - band_ : 0;
      for (std::size_t j = j0; j <= i; ++j) {
        double s = at(i, j);
        const std::size_t k0 = std::max(j0, j > band_ ? j - band_ : 0);
        for (std::size_t k = k0; k < j; ++k) s -= at(i, k) * at(j, k);
        if (i == j) {
          if (!(s > 0)) throw std::runtime_error("solve_layout: normal matrix is not positive definite");
          at(i, i) = std::sqrt(s);
        } else {
          at(i, j) = s / at(j, j);
        }
      }
    }
  }

  // Tile positions (indexed by tile, not by RCM position).
  std::vector<double> solve() const {
    std::vector<double> y = rhs_;
    forward(y, 0);
    for (std::size_t i = n_; i-- > 0;) {
      double s = y[i];
      for (std::size_t k = i + 1; k <= std::min(n_ - 1, i + band_); ++k) s -= at(k, i) * y[k];
      y[i] = s / at(i, i);
    }
    std::vector<double> out(n_);
    for (std::size_t t = 0; t < n_; ++t) out[t] = y[pos_[t]];
    return out;
  }

  // g' N^-1 g for g = e_b - e_a: the variance factor of the offset p_b - p_a. A link of weight w
  // in the system then has redundancy 1 - w g' N^-1 g, and dropping it lowers the weighted sum of
  // squared residuals by w r^2 / (1 - w g' N^-1 g).
  double leverage(std::size_t a, std::size_t b) const {
    const std::size_t i = pos_[a], j = pos_[b];
    std::vector<double> y(n_, 0.0);
    y[i] -= 1, y[j] += 1;
    const std::size_t first = std::min(i, j);
    forward(y, first);
    double q = 0;
    for (std::size_t k = first; k < n_; ++k) q += y[k] * y[k];
    return q;
  }

 private:
  double& at(std::size_t i, std::size_t j) { return L_[i * B_ + (i - j)]; }  // i >= j, i - j <= band
  double at(std::size_t i, std::size_t j) const { return L_[i * B_ + (i - j)]; }
  // L y' = y in place, for y zero before `first`.
  void forward(std::vector<double>& y, std::size_t first) const {
    for (std::size_t i = first; i < n_; ++i) {
      double s = y[i];
      for (std::size_t k = std::max(first, i > band_ ? i - band_ : 0); k < i; ++k) s -= at(i, k) * y[k];
      y[i] = s / at(i, i);
    }
  }

  std::size_t n_, band_, B_;
  std::vector<double> L_, rhs_;
  const std::vector<std::size_t>& pos_;
};

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

  std::vector<std::vector<std::size_t>> links_of(n);  // per tile, the links that touch it
  for (std::size_t k = 0; k < in.links.size(); ++k) links_of[in.links[k].a].push_back(k), links_of[in.links[k].b].push_back(k);
  for (;;) {
    std::vector<Term> terms = priors;
    for (std::size_t k = 0; k < in.links.size(); ++k)
      if (s.link_used[k]) {
        const LayoutLink& l = in.links[k];
        terms.push_back({l.a, l.b, l.dx_px, l.dy_px, wl * l.weight * l.weight_x, wl * l.weight * l.weight_y});
      }
    const AxisSystem sys_x(terms, in.nominal_x_px, gauge, pos, band, false), sys_y(terms, in.nominal_y_px, gauge, pos, band, true);
    s.x_px = sys_x.solve();
    s.y_px = sys_y.solve();
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
    if (used == 0 || s.dropped >= opt.max_drops || worst <= opt.max_residual_px) break;
    const double mean = sum / static_cast<double>(used);
    // The worst residual is not always on the wrong link: least squares spreads a wrong link's
    // error over the links that close loops with it, most onto the least weighted. A confident
    // false match (high NCC) then shows its error on its correct, fainter neighbours. So among the
    // used links near the worst one (both tiles within two links of its tiles: every link that
    // shares a grid cell's loop with it), the candidate is the one whose removal lowers the
    // weighted squared residuals most (its leave-one-out test, exact for one link at a time).
    std::vector<char> near(n, 0);
    std::vector<std::size_t> frontier{in.links[worst_k].a, in.links[worst_k].b};
    for (std::size_t t : frontier) near[t] = 1;
    for (int hop = 0; hop < 2; ++hop) {
      std::vector<std::size_t> next;
      for (std::size_t t : frontier)
        for (std::size_t k : links_of[t])
          if (s.link_used[k])
            for (std::size_t u : {in.links[k].a, in.links[k].b})
              if (!near[u]) near[u] = 1, next.push_back(u);
      frontier = std::move(next);
    }
    // gain: the drop in weighted squared residuals; miss_px: how far the link's offset lies from
    // what the other links predict (its residual over its redundancy, per axis).
    auto leave_out = [&](std::size_t k, double& miss_px) {
      const LayoutLink& l = in.links[k];
      double gain = 0, miss2 = 0;
      for (const bool axis_y : {false, true}) {
        const double w = wl * l.weight * (axis_y ? l.weight_y : l.weight_x);
        if (w <= 0) continue;
        const std::vector<double>& p = axis_y ? s.y_px : s.x_px;
        const double r = p[l.b] - p[l.a] - (axis_y ? l.dy_px : l.dx_px);
        const double redundancy = std::max(1.0 - w * (axis_y ? sys_y : sys_x).leverage(l.a, l.b), 1e-9);
        gain += w * r * r / redundancy;
        miss2 += (r / redundancy) * (r / redundancy);
      }
      miss_px = std::sqrt(miss2);
      return gain;
    };
    // Links whose removal helps alike (all links of one loop and no other do exactly alike:
    // the data cannot tell which is wrong) are told apart as Fiji does, by the larger residual:
    // the fainter match.
    struct Candidate {
      std::size_t k;
      double gain, miss_px;
    };
    std::vector<Candidate> candidates;
    double best_gain = 0;
    for (std::size_t k = 0; k < in.links.size(); ++k)
      if (s.link_used[k] && near[in.links[k].a] && near[in.links[k].b]) {
        Candidate c{k, 0, 0};
        c.gain = leave_out(k, c.miss_px);
        best_gain = std::max(best_gain, c.gain);
        candidates.push_back(c);
      }
    const Candidate* pick = nullptr;
    for (const Candidate& c : candidates)
      if (c.gain >= kAlikeGain * best_gain && (!pick || s.link_residual_px[c.k] > s.link_residual_px[pick->k])) pick = &c;
    const std::size_t drop = pick->k;
    const double miss_px = pick->miss_px;
    // Dropped by Fiji's rule (the worst residual stands out of the mean), or where the candidate
    // misses what the others predict by more than residual_ratio x the mean miss: residuals over
    // the average redundancy (cycle rank / links; 0 in a tree, where nothing can be told). The
    // second catches a wrong link that closes many loops, whose error least squares spreads so
    // evenly over them that no residual stands out.
    bool drop_it = worst > opt.residual_ratio * mean;
    if (!drop_it && miss_px > opt.max_residual_px) {
      TileSets sets(n);
      std::size_t cycle_rank = 0;  // independent loops among the used links
      for (std::size_t k = 0; k < in.links.size(); ++k)
        if (s.link_used[k] && !sets.join(in.links[k].a, in.links[k].b)) ++cycle_rank;
      const double mean_redundancy = static_cast<double>(cycle_rank) / static_cast<double>(used);
      drop_it = cycle_rank > 0 && miss_px > opt.residual_ratio * mean / mean_redundancy;
    }
    if (!drop_it) break;
    s.link_used[drop] = 0;
    ++s.dropped;
  }
  // Components over the used links (union-find), numbered by their smallest tile index.
  TileSets sets(n);
  std::vector<char> linked(n, 0);
  double ss = 0;
  std::size_t used = 0;
  for (std::size_t k = 0; k < in.links.size(); ++k) {
    if (!s.link_used[k]) continue;
    const LayoutLink& l = in.links[k];
    linked[l.a] = linked[l.b] = 1;
    // Only links measuring both axes tie tiles together rigidly.
    if (l.weight_x > 0 && l.weight_y > 0) sets.join(l.a, l.b);
    ss += s.link_residual_px[k] * s.link_residual_px[k];
    s.max_residual_px = std::max(s.max_residual_px, s.link_residual_px[k]);
    ++used;
  }
  s.rms_residual_px = used ? std::sqrt(ss / static_cast<double>(used)) : 0.0;
  s.component.assign(n, -1);
  std::vector<int> id_of_root(n, -1);
  for (std::size_t v = 0; v < n; ++v) {
    const std::size_t r = sets.find(v);
    if (id_of_root[r] < 0) id_of_root[r] = s.components++;
    s.component[v] = id_of_root[r];
    if (!linked[v]) ++s.isolated_tiles;
  }
  return s;
}

}  // namespace annamosaic
