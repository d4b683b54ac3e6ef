#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>

#include "sim/campaign.hpp"
#include "sim/specimen.hpp"

using namespace annamosaic;

namespace {
SpecimenOptions everywhere(Structure s) {
  SpecimenOptions o;
  o.structure = s;
  o.region = {0, 0, 200'000, 200'000};
  o.cell_fraction = 1.0;
  o.cell_spacing_um = 400;  // one huge cell: coverage 1 over the test area
  o.cell_radius_um = 500;
  o.gradient = 0.0;
  o.seed = 42;
  return o;
}

std::vector<PointNm> inside(std::vector<PointNm> v, const RectNm& r) {
  v.erase(std::remove_if(v.begin(), v.end(), [&](const PointNm& p) { return !r.contains(p.x_nm, p.y_nm); }), v.end());
  std::sort(v.begin(), v.end(), [](const PointNm& a, const PointNm& b) { return std::tie(a.x_nm, a.y_nm) < std::tie(b.x_nm, b.y_nm); });
  return v;
}
}  // namespace

TEST(Specimen, OverlappingRectanglesSeeTheSameLabels) {
  for (Structure s : {Structure::Microtubules, Structure::NuclearPores}) {
    const Specimen sp(everywhere(s));
    const RectNm a{40'000, 40'000, 25'000, 25'000}, b{64'000, 41'000, 25'000, 25'000};
    const RectNm overlap{64'000, 41'000, 1'000, 24'000};
    const auto la = inside(sp.labels_in(a), overlap), lb = inside(sp.labels_in(b), overlap);
    ASSERT_GT(la.size(), 10u) << structure_name(s);
    ASSERT_EQ(la.size(), lb.size());
    for (std::size_t i = 0; i < la.size(); ++i) {
      EXPECT_EQ(la[i].x_nm, lb[i].x_nm);
      EXPECT_EQ(la[i].y_nm, lb[i].y_nm);
    }
  }
}

TEST(Specimen, CellsLeaveEmptyRegionsAndSeedsMatter) {
  SpecimenOptions o = everywhere(Structure::Microtubules);
  o.cell_spacing_um = 45;
  o.cell_radius_um = 12;  // small cells: most of the area is empty
  o.cell_fraction = 0.5;
  const Specimen sp(o);
  int empty = 0, full = 0;
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 8; ++j) {
      const double d = sp.density_at(i * 20'000.0 + 3'000, j * 20'000.0 + 7'000);
      empty += d == 0.0;
      full += d > 0.5;
    }
  EXPECT_GT(empty, 10);
  EXPECT_GT(full, 2);
  SpecimenOptions o2 = o;
  o2.seed = 43;
  const RectNm r{0, 0, 100'000, 100'000};
  EXPECT_NE(Specimen(o).labels_in(r).size(), Specimen(o2).labels_in(r).size());
}

TEST(Specimen, NuclearPoresDoNotOverlap) {
  const Specimen sp(everywhere(Structure::NuclearPores));
  const auto c = sp.pore_centres_in({10'000, 10'000, 5'000, 5'000});
  ASSERT_GT(c.size(), 50u);
  double dmin = 1e9;
  for (std::size_t i = 0; i < c.size(); ++i)
    for (std::size_t j = i + 1; j < c.size(); ++j) dmin = std::min(dmin, std::hypot(c[i].x_nm - c[j].x_nm, c[i].y_nm - c[j].y_nm));
  EXPECT_GT(dmin, 150.0 + 2 * 5.0);
}

TEST(Specimen, NuclearPoresHaveEightFoldSymmetryAnd150nmDiameterInThePerfectImage) {
  SpecimenOptions o = everywhere(Structure::NuclearPores);
  o.labels_per_site = 12;
  const Specimen sp(o);
  const RectNm area{20'000, 20'000, 3'000, 3'000};
  const double px = 2.0;
  const ImageF perfect = perfect_image(sp.labels_in(area.expanded(200)), area, px, 4.0);
  const double pi = std::acos(-1.0);
  int checked = 0, eightfold = 0;
  double radius_sum = 0;
  for (const PointNm& c : sp.pore_centres_in(area.expanded(-150))) {
    // Radial profile: mean intensity on rings of radius r.
    double best_r = 0, best_v = -1;
    for (double r = 40; r <= 110; r += 1) {
      double v = 0;
      for (int a = 0; a < 360; ++a) {
        const double x = (c.x_nm + r * std::cos(a * pi / 180) - area.x0_nm) / px;
        const double y = (c.y_nm + r * std::sin(a * pi / 180) - area.y0_nm) / px;
        v += perfect(static_cast<std::size_t>(x), static_cast<std::size_t>(y));
      }
      if (v > best_v) best_v = v, best_r = r;
    }
    radius_sum += best_r;
    // Angular profile on that ring: its strongest non-zero harmonic must be 8.
    std::vector<double> prof(360);
    for (int a = 0; a < 360; ++a) {
      const double x = (c.x_nm + best_r * std::cos(a * pi / 180) - area.x0_nm) / px;
      const double y = (c.y_nm + best_r * std::sin(a * pi / 180) - area.y0_nm) / px;
      prof[a] = perfect(static_cast<std::size_t>(x), static_cast<std::size_t>(y));
    }
    int best_k = 0;
    double best_m = 0;
    for (int k = 1; k <= 16; ++k) {
      std::complex<double> s = 0;
      for (int a = 0; a < 360; ++a) s += prof[a] * std::polar(1.0, -2 * pi * k * a / 360);
      if (std::abs(s) > best_m) best_m = std::abs(s), best_k = k;
    }
    ++checked;
    eightfold += best_k == 8;
  }
  ASSERT_GT(checked, 20);
  EXPECT_GE(eightfold, checked * 9 / 10) << eightfold << " of " << checked;
  EXPECT_NEAR(2 * radius_sum / checked, 150.0, 6.0);  // diameter
}
