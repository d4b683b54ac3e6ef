#include "loc/loc_table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace annamosaic {
namespace {
template <class T>
void append_optional(std::vector<T>& dst, const std::vector<T>& src, std::size_t dst_rows_before,
                     bool dst_was_empty) {
  if (dst_was_empty) {
    dst = src;
  } else if (dst.size() == dst_rows_before && !src.empty()) {
    dst.insert(dst.end(), src.begin(), src.end());
  } else {
    dst.clear();  // one side lacks the column: drop it rather than misalign rows
  }
}
}  // namespace

void LocTable::append(const LocTable& other) {
  // A part without rows (a reader's chunk of comments only) has no optional columns either:
  // appending it must not drop this table's.
  if (other.empty()) return;
  const std::size_t before = size();
  const bool was_empty = before == 0;
  frame.insert(frame.end(), other.frame.begin(), other.frame.end());
  x_nm.insert(x_nm.end(), other.x_nm.begin(), other.x_nm.end());
  y_nm.insert(y_nm.end(), other.y_nm.begin(), other.y_nm.end());
  append_optional(z_nm, other.z_nm, before, was_empty);
  append_optional(intensity, other.intensity, before, was_empty);
  append_optional(uncertainty_nm, other.uncertainty_nm, before, was_empty);
}

void LocTable::check_consistent() const {
  const std::size_t n = size();
  auto ok_opt = [n](std::size_t m) { return m == 0 || m == n; };
  if (x_nm.size() != n || y_nm.size() != n || !ok_opt(z_nm.size()) || !ok_opt(intensity.size()) ||
      !ok_opt(uncertainty_nm.size()))
    throw std::logic_error("LocTable columns have different lengths");
}

TableStats compute_stats(const LocTable& t) {
  TableStats s;
  s.rows = t.size();
  if (t.empty()) return s;
  auto [fmin, fmax] = std::minmax_element(t.frame.begin(), t.frame.end());
  auto [xmin, xmax] = std::minmax_element(t.x_nm.begin(), t.x_nm.end());
  auto [ymin, ymax] = std::minmax_element(t.y_nm.begin(), t.y_nm.end());
  s.frame_min = *fmin;
  s.frame_max = *fmax;
  s.x_min_nm = *xmin;
  s.x_max_nm = *xmax;
  s.y_min_nm = *ymin;
  s.y_max_nm = *ymax;
  return s;
}

std::string far_outliers_message(const LocTable& t, const FarOutliers& o) {
  std::string rows;
  for (std::size_t j = 0; j < o.rows.size() && j < 3; ++j)
    rows += fmt::format("{}data row {} at ({:.6g}, {:.6g}) nm", j ? ", " : "", o.rows[j] + 1, t.x_nm[o.rows[j]], t.y_nm[o.rows[j]]);
  if (o.rows.size() > 3) rows += fmt::format(" and {} more", o.rows.size() - 3);
  // The table keeps no line numbers (4 bytes a row); the count is said as what it is (probe102:
  // "data row 710" was read as line 710).
  return fmt::format("{} localization(s) lie far outside the others (98% of them in x {:.6g}..{:.6g} nm, y {:.6g}..{:.6g} nm): "
                     "{} (data rows count the localizations read from 1, not the header, comment or blank lines); a "
                     "corrupt row or a coordinate in another unit?",
                     o.rows.size(), o.x_lo_nm, o.x_hi_nm, o.y_lo_nm, o.y_hi_nm, rows);
}

FarOutliers far_outliers(const LocTable& t) {
  FarOutliers o;
  const std::size_t n = t.size();
  if (n < 100) return o;
  const std::size_t k = (n - 1) / 100;  // the 1st percentile's index; n-1-k the 99th's
  auto box = [&](const std::vector<double>& v, double& lo, double& hi) {
    std::vector<double> s(v);
    std::nth_element(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(k), s.end());
    lo = s[k];
    std::nth_element(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(n - 1 - k), s.end());
    hi = s[n - 1 - k];
  };
  box(t.x_nm, o.x_lo_nm, o.x_hi_nm);
  box(t.y_nm, o.y_lo_nm, o.y_hi_nm);
  // 250 um: wider than any camera field (2048 px x 108 nm = 221 um), so sparse background
  // detections around a small structure never count.
  constexpr double kMinMarginNm = 250e3;
  const double mx = std::max(kMinMarginNm, 3 * (o.x_hi_nm - o.x_lo_nm)), my = std::max(kMinMarginNm, 3 * (o.y_hi_nm - o.y_lo_nm));
  for (std::size_t i = 0; i < n; ++i)
    if (t.x_nm[i] < o.x_lo_nm - mx || t.x_nm[i] > o.x_hi_nm + mx || t.y_nm[i] < o.y_lo_nm - my || t.y_nm[i] > o.y_hi_nm + my)
      o.rows.push_back(i);
  return o;
}

std::string skipped_rows_message(const std::string& path, const ReadReport& report) {
  if (report.rows_skipped == 0) return "";
  std::string first;
  for (const std::string& e : report.skipped_examples) first += (first.empty() ? "" : "; ") + e;
  return path + ": skipped " + std::to_string(report.rows_skipped) + " malformed row(s) of " +
         std::to_string(report.rows_skipped + report.rows_read) + " (--skip-bad-rows); first: " + first;
}

}  // namespace annamosaic

namespace annamosaic {

namespace {

// Width of the central 98% of `v` (1st to 99th percentile): a few far outliers do not count.
double central_span(std::vector<double> v) {
  const auto at = [&](double q) {
    auto it = v.begin() + static_cast<std::ptrdiff_t>(q * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), it, v.end());
    return *it;
  };
  return at(0.99) - at(0.01);
}

}  // namespace

std::string assumed_unit_warning(const std::string& path, const ReadReport& report, const LocTable& table) {
  if (table.size() < 100) return "";
  const TableStats s = compute_stats(table);
  if (!report.xy_unit_assumed) {
    // The unit stated (by the header, --xy-unit or the file format), yet 100 or more localizations
    // within 50 nm: smaller than any structure imaged whole (probe95: "x [nm]" over values in um,
    // and one point repeated, each rendered to a 1 x 1 px image without a word). A pick of one
    // small structure (an origami, a pore: 100 nm and more) is not said.
    const double w_nm = s.x_max_nm - s.x_min_nm, h_nm = s.y_max_nm - s.y_min_nm;
    if (std::max(w_nm, h_nm) < 50.0)
      return fmt::format("{}: its {} localizations span only {:.4g} x {:.4g} nm in the unit read (the header's, --xy-unit's "
                         "or the format's): if the values are um or camera pixels, that unit is wrong; if they are one point "
                         "repeated, the export is faulty",
                         path, table.size(), w_nm, h_nm);
    // Most of them over more than 10 mm: more than five times the paper's whole 33 x 33 mosaic
    // (1.8 mm), let alone a camera's field (probe95: a table in pm under an "x [nm]" header, read
    // as 200 mm by table-info without a word).
    if (std::max(w_nm, h_nm) <= 10e6) return "";
    const double x_mm = central_span(table.x_nm) / 1e6, y_mm = central_span(table.y_nm) / 1e6;
    if (std::max(x_mm, y_mm) <= 10.0) return "";
    return fmt::format("{}: its {} localizations span {:.3g} x {:.3g} mm (98% of them) in the unit read (the header's, "
                       "--xy-unit's or the format's): more than any field of view or mosaic (a camera field is under "
                       "0.3 mm). If the values are in pm or another unit, that unit is wrong: convert the table",
                       path, table.size(), x_mm, y_mm);
  }
  const double span_nm = std::max(s.x_max_nm - s.x_min_nm, s.y_max_nm - s.y_min_nm);
  if (span_nm > 1e6) {
    // Millimetres as nm: most of the localizations, not a few outliers (far_outliers says those),
    // spread over more than a camera's field (probe78: a pm table read as 7.5 x 2.2 mm, unsaid).
    const double x_mm = central_span(table.x_nm) / 1e6, y_mm = central_span(table.y_nm) / 1e6;
    if (std::max(x_mm, y_mm) > 1.0)
      return fmt::format("{}: its {} localizations span {:.3g} x {:.3g} mm (98% of them), read as nm because the header "
                         "names no unit for x and y: more than a camera's field. If the unit is not nm, convert the "
                         "table (--xy-unit reads nm, um, px; or name the columns 'x [nm]' to say they are nm)",
                         path, table.size(), x_mm, y_mm);
    return "";
  }
  if (!(span_nm < 5000.0)) return "";
  return fmt::format("{}: its {} localizations span only {:.4g} x {:.4g} nm, read as nm because the header names no unit "
                     "for x and y: if they are micrometres or camera pixels, give --xy-unit um, or --xy-unit px with "
                     "--camera-pixel-nm (or name the columns 'x [um]', 'x [px]')",
                     path, table.size(), s.x_max_nm - s.x_min_nm, s.y_max_nm - s.y_min_nm);
}

}  // namespace annamosaic
