#include "loc/frame_window.hpp"

#include <algorithm>
#include <charconv>
#include <random>

#include <fmt/format.h>

#include "core/error.hpp"

namespace annamosaic {
namespace {

std::int64_t to_int(const std::string& spec, const std::string& s) {
  std::int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v < 0)
    throw InputError("--frames", "bad frame window '" + spec + "': '" + s + "' is not a non-negative integer");
  return v;
}

std::int64_t uniform(std::mt19937_64& rng, std::int64_t lo, std::int64_t hi) {  // inclusive
  if (hi <= lo) return lo;
  return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
}

}  // namespace

FrameRange frame_range_of(const TableStats& stats, std::int64_t base_override) {
  FrameRange r;
  r.base = base_override >= 0 ? base_override : (stats.rows > 0 && stats.frame_min == 0 ? 0 : 1);
  r.count = stats.rows > 0 ? std::max<std::int64_t>(0, stats.frame_max - r.base + 1) : 0;
  return r;
}

FrameWindow parse_frame_window(const std::string& spec, const FrameRange& range, std::uint64_t seed) {
  std::int64_t a = 0, b = INT64_MAX;
  std::mt19937_64 rng(seed);
  const std::int64_t K = range.count;
  const auto colon = spec.find(':');
  if (spec == "all" || spec.empty()) {
  } else if (spec == "sparse-paper") {
    const std::int64_t len = uniform(rng, 300, 500);
    const std::int64_t half = K / 2;
    a = uniform(rng, 0, std::max<std::int64_t>(0, half - len));
    b = a + len;
  } else if (spec == "dense-paper") {
    const std::int64_t len = std::max<std::int64_t>(1, (K * 95 + 99) / 100);
    a = uniform(rng, 0, std::max<std::int64_t>(0, K - len));
    b = a + len;
  } else if (colon != std::string::npos) {
    const std::string head = spec.substr(0, colon), tail = spec.substr(colon + 1);
    if (head == "first") {
      a = 0;
      b = to_int(spec, tail);
    } else if (head == "random") {
      const std::int64_t len = to_int(spec, tail);
      a = uniform(rng, 0, std::max<std::int64_t>(0, K - len));
      b = a + len;
    } else {
      if (!head.empty()) a = to_int(spec, head);
      if (!tail.empty()) b = to_int(spec, tail);
    }
  } else {
    throw InputError("--frames", "bad frame window '" + spec +
                                     "' (use all, A:B, first:K, random:L, sparse-paper or dense-paper)");
  }
  if (b <= a) throw InputError("--frames", "frame window '" + spec + "' is empty");
  FrameWindow w;
  w.first = range.base + a;
  w.end = b == INT64_MAX ? INT64_MAX : range.base + b;
  return w;
}

bool frames_window_is_random(const std::string& spec) {
  return spec == "sparse-paper" || spec == "dense-paper" || spec.rfind("random:", 0) == 0;
}

std::string frame_window_note(const std::string& spec, const FrameRange& range, const FrameWindow& window) {
  const std::int64_t K = range.count, end = range.base + K;
  if (K <= 0 || window.end == INT64_MAX) return "";
  const std::int64_t used = std::max<std::int64_t>(0, std::min(window.end, end) - std::max(window.first, range.base));
  if (spec == "sparse-paper" && 4 * used >= K)
    return fmt::format("--frames sparse-paper: the acquisition has only {} frames, so its window of {} frames is {:.0f}% of "
                       "them and the image is hardly sparse (the paper's sparse windows are 300-500 of tens of thousands); "
                       "give a shorter window, e.g. --frames first:{}",
                       K, used, 100.0 * used / K, std::max<std::int64_t>(1, K / 20));
  if (window.end > end && used > 0)
    return fmt::format("--frames {}: the acquisition ends at frame {} ({} frames), so the window holds {} frames, not {}", spec,
                       end - 1, K, used, window.length());
  return "";
}

}  // namespace annamosaic
