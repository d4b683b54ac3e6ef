#include <gtest/gtest.h>

#include "core/error.hpp"
#include "loc/frame_window.hpp"

using namespace annamosaic;

namespace {
TableStats frames(int lo, int hi) {
  TableStats s;
  s.rows = 10;
  s.frame_min = lo;
  s.frame_max = hi;
  return s;
}
}  // namespace

TEST(FrameWindow, BaseIsZeroOrOne) {
  EXPECT_EQ(frame_range_of(frames(0, 999)).base, 0);
  EXPECT_EQ(frame_range_of(frames(0, 999)).count, 1000);
  EXPECT_EQ(frame_range_of(frames(1, 1000)).base, 1);
  EXPECT_EQ(frame_range_of(frames(5, 1000)).base, 1);  // 1-based file whose first frames were empty
  EXPECT_EQ(frame_range_of(frames(5, 1000), 5).count, 996);
}

TEST(FrameWindow, RangesAreRelativeToTheBase) {
  const FrameRange r = frame_range_of(frames(1, 20000));
  FrameWindow w = parse_frame_window("0:1000", r);
  EXPECT_EQ(w.first, 1);
  EXPECT_EQ(w.end, 1001);
  EXPECT_TRUE(w.contains(1000));
  EXPECT_FALSE(w.contains(1001));
  w = parse_frame_window("first:1000", r);
  EXPECT_EQ(w.length(), 1000);
  w = parse_frame_window("500:", r);
  EXPECT_EQ(w.first, 501);
  EXPECT_EQ(w.end, INT64_MAX);
  EXPECT_TRUE(parse_frame_window("all", r).contains(123456));
}

TEST(FrameWindow, PaperWindowsAreSeededAndInRange) {
  const FrameRange r{0, 20000};
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    const FrameWindow s = parse_frame_window("sparse-paper", r, seed);
    EXPECT_GE(s.length(), 300);
    EXPECT_LE(s.length(), 500);
    EXPECT_GE(s.first, 0);
    EXPECT_LE(s.end, 10000);  // inside the first half
    const FrameWindow d = parse_frame_window("dense-paper", r, seed);
    EXPECT_EQ(d.length(), 19000);
    EXPECT_LE(d.end, 20000);
    const FrameWindow x = parse_frame_window("random:700", r, seed);
    EXPECT_EQ(x.length(), 700);
    EXPECT_LE(x.end, 20000);
  }
  EXPECT_EQ(parse_frame_window("sparse-paper", r, 3).first, parse_frame_window("sparse-paper", r, 3).first);
  bool differs = false;
  for (std::uint64_t seed = 1; seed < 10; ++seed)
    differs |= parse_frame_window("random:700", r, seed).first != parse_frame_window("random:700", r, 0).first;
  EXPECT_TRUE(differs);
}

TEST(FrameWindow, OnlyRandomWindowsDependOnTheSeed) {
  for (const char* spec : {"random:10", "sparse-paper", "dense-paper"}) EXPECT_TRUE(frames_window_is_random(spec)) << spec;
  for (const char* spec : {"all", "", "first:10", "10:20", "randomish"}) EXPECT_FALSE(frames_window_is_random(spec)) << spec;
}

TEST(FrameWindow, BadSpecsAreErrors) {
  const FrameRange r{1, 100};
  EXPECT_THROW(parse_frame_window("10:5", r), InputError);
  EXPECT_THROW(parse_frame_window("abc", r), InputError);
  EXPECT_THROW(parse_frame_window("first:x", r), InputError);
  EXPECT_THROW(parse_frame_window("-3:5", r), InputError);
}

TEST(FrameWindow, NotesSayWhenAWindowIsNotWhatItSeems) {
  // 1,000 frames (the ANNA-PALM sparse acquisitions): sparse-paper takes 300-500 of them.
  const FrameRange short_run{1, 1000};
  const FrameWindow s = parse_frame_window("sparse-paper", short_run, 7);
  const std::string n = frame_window_note("sparse-paper", short_run, s);
  EXPECT_NE(n.find("only 1000 frames"), std::string::npos) << n;
  EXPECT_NE(n.find("first:50"), std::string::npos) << n;
  // On a long acquisition it is what the paper did: nothing to say.
  const FrameRange long_run{1, 40000};
  EXPECT_EQ(frame_window_note("sparse-paper", long_run, parse_frame_window("sparse-paper", long_run, 7)), "");
  // A window past the last frame holds fewer frames than asked.
  const std::string past = frame_window_note("first:5000", short_run, parse_frame_window("first:5000", short_run));
  EXPECT_NE(past.find("ends at frame 1000 (1000 frames), so the window holds 1000 frames, not 5000"), std::string::npos) << past;
  EXPECT_EQ(frame_window_note("first:500", short_run, parse_frame_window("first:500", short_run)), "");
  EXPECT_EQ(frame_window_note("all", short_run, parse_frame_window("all", short_run)), "");
}
