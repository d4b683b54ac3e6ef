#pragma once
// Frame windows select which camera frames a render uses: the sparse image S is the first k
// frames (or a random window), the dense target T a long window (ANNA-PALM, anet.md
// "Data preparation"). Windows are written relative to the acquisition's first frame
// ("frame base": 0 or 1 depending on the software) and resolved to absolute frame numbers.
#include <cstdint>
#include <string>

#include "loc/loc_table.hpp"

namespace annamosaic {

// Absolute frame numbers, half-open: frames f with first <= f < end.
struct FrameWindow {
  std::int64_t first = 0;
  std::int64_t end = INT64_MAX;
  bool contains(std::int64_t f) const { return f >= first && f < end; }
  std::int64_t length() const { return end - first; }
};

// Frames of an acquisition: base (its first frame number) and count K.
struct FrameRange {
  std::int64_t base = 0;
  std::int64_t count = 0;
};

// base = 0 if the table's smallest frame is 0, else 1 (ThunderSTORM and most tools count from 1);
// count = max frame - base + 1. `base_override` >= 0 replaces the guess.
FrameRange frame_range_of(const TableStats& stats, std::int64_t base_override = -1);

// Spec (relative frames):
//   all                 every frame
//   A:B  A:  :B         frames [A, B)
//   first:K             frames [0, K)
//   random:L            a window of L consecutive frames at a uniformly random start in [0, K-L]
//   sparse-paper        random window of 300..500 frames inside the first half (S in the paper)
//   dense-paper         consecutive 95% of the K frames at a random offset (T in the paper)
// Random choices use `seed` (deterministic). Bad specs: InputError naming the spec.
FrameWindow parse_frame_window(const std::string& spec, const FrameRange& range, std::uint64_t seed = 0);

// Whether spec draws its window at random (random:L, sparse-paper, dense-paper): the seed matters.
bool frames_window_is_random(const std::string& spec);

// What a user should hear about a window resolved from spec, or "" when nothing: sparse-paper on
// an acquisition so short that its 300-500 frames are a quarter or more of it (the image is then
// not sparse), or a window reaching past the acquisition's last frame (fewer frames than asked).
std::string frame_window_note(const std::string& spec, const FrameRange& range, const FrameWindow& window);

}  // namespace annamosaic
