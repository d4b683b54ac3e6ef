#include "loc/loc_table.hpp"

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

}  // namespace annamosaic
