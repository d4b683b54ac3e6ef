#pragma once
// A list shortened for a message: the first items joined by ", ", then ", ..." when some are left
// out ("ids 3, 7, 12, ...").
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

namespace annamosaic {

template <class T>
std::string first_items(const std::vector<T>& items, std::size_t most) {
  const auto shown = static_cast<std::ptrdiff_t>(std::min(most, items.size()));
  return fmt::format("{}{}", fmt::join(items.begin(), items.begin() + shown, ", "), items.size() > most ? ", ..." : "");
}

}  // namespace annamosaic
