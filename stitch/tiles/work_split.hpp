#pragma once
// Splitting ordered work items (grid rows, mosaic block rows) into contiguous ranges, one per
// process, with about equal work: item i goes to the process whose equal share of the total
// holds the item's middle. Contiguous ranges keep the tiles a process loads together.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace annamosaic {

inline std::vector<int> split_contiguous(const std::vector<double>& work, std::size_t ranks) {
  std::vector<int> owner(work.size(), 0);
  double total = 0;
  for (double w : work) total += w;
  if (ranks <= 1 || !(total > 0)) return owner;
  double before = 0;
  for (std::size_t i = 0; i < work.size(); ++i) {
    const double share = std::floor((before + work[i] / 2) / total * static_cast<double>(ranks));
    owner[i] = static_cast<int>(std::min(share, static_cast<double>(ranks) - 1));
    before += work[i];
  }
  return owner;
}

}  // namespace annamosaic
