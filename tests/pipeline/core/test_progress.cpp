#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

#include "core/progress.hpp"

using annamosaic::Progress;

TEST(Progress, LineHasCountRateAndEta) {
  const std::string s = Progress::format_line("parse", 250, 1000, "rows", 5.0);
  EXPECT_NE(s.find("parse: 250/1000 rows (25.0%)"), std::string::npos) << s;
  EXPECT_NE(s.find("50 rows/s"), std::string::npos) << s;
  EXPECT_NE(s.find("ETA 15 s"), std::string::npos) << s;
}

TEST(Progress, SlowRatesKeepTwoDigitsAndTheEtaFollowsThePaceGiven) {
  const std::string s = Progress::format_line("FoVs", 15, 36, "FoVs", 40.0);
  EXPECT_NE(s.find("0.38 FoVs/s"), std::string::npos) << s;  // not "0 FoVs/s"
  EXPECT_NE(s.find("ETA 56 s"), std::string::npos) << s;     // 21 left at the mean rate
  // A slow first item (start-up) makes the mean rate pessimistic: the pace after it decides.
  EXPECT_NE(Progress::format_line("FoVs", 15, 36, "FoVs", 40.0, 0.7).find("ETA 30 s"), std::string::npos);
}

TEST(Progress, FinishedLineSaysDoneAndUnknownTotalHasNoEta) {
  EXPECT_NE(Progress::format_line("x", 10, 10, "FoVs", 3725).find("done in 1 h 2 min"), std::string::npos);
  const std::string s = Progress::format_line("x", 2'500'000, 0, "rows", 1.0);
  EXPECT_NE(s.find("2.50M rows"), std::string::npos) << s;
  EXPECT_EQ(s.find("ETA"), std::string::npos);
}

TEST(Progress, DurationsCarryTheirUnits) {
  // "01:47" beside "3:29:48" read as hours and minutes to users (probe93).
  EXPECT_EQ(annamosaic::duration_text(47.4), "47 s");
  EXPECT_EQ(annamosaic::duration_text(107), "1 min 47 s");
  EXPECT_EQ(annamosaic::duration_text(3 * 3600 + 29 * 60 + 48), "3 h 29 min");
  EXPECT_EQ(annamosaic::duration_text(3 * 86400 + 5 * 3600 + 10), "3 d 5 h");
  EXPECT_EQ(annamosaic::duration_text(1e300), "over 1000 d");  // 1 item left at a pace of 1e-300/s
  EXPECT_EQ(annamosaic::duration_text(-1), "unknown");
  EXPECT_EQ(annamosaic::duration_text(NAN), "unknown");
}

TEST(Progress, AdvanceFromManyThreadsCountsEverything) {
  Progress p("t", 4000, "items", 1e9);
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) ts.emplace_back([&] { for (int k = 0; k < 1000; ++k) p.advance(); });
  for (auto& t : ts) t.join();
  p.finish();
  EXPECT_EQ(p.done(), 4000u);
}
