#include "loc/loc_content.hpp"

#include <cmath>
#include <cstdio>

namespace annamosaic {
namespace {
// splitmix64's finaliser: every input bit reaches every output bit, so that a sum of mixed keys
// does not cancel for tables that differ by a few localizations.
std::uint64_t mix(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
std::uint64_t milli_nm(double v_nm) {
  // Non-finite coordinates never get this far (the readers refuse them); a fixed key if they do.
  return std::isfinite(v_nm) ? static_cast<std::uint64_t>(std::llround(v_nm * 1000.0)) : 0x7ff8000000000000ULL;
}
}  // namespace

std::uint64_t localization_key(std::int32_t frame, double x_nm, double y_nm) {
  return mix(mix(mix(static_cast<std::uint32_t>(frame)) ^ milli_nm(x_nm)) ^ milli_nm(y_nm));
}

std::string content_fingerprint(const LocTable& table) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < table.size(); ++i) sum += localization_key(table.frame[i], table.x_nm[i], table.y_nm[i]);
  char buf[40];
  std::snprintf(buf, sizeof buf, "locset:%016llx", static_cast<unsigned long long>(mix(sum ^ table.size())));
  return buf;
}

}  // namespace annamosaic
