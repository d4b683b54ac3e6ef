#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "core/progress.hpp"

using annamosaic::Progress;

TEST(Progress, LineHasCountRateAndEta) {
  const std::string s = Progress::format_line("parse", 250, 1000, "rows", 5.0);
  EXPECT_NE(s.find("parse: 250/1000 rows (25.0%)"), std::string::npos) << s;
  EXPECT_NE(s.find("50 rows/s"), std::string::npos) << s;
  EXPECT_NE(s.find("ETA 00:15"), std::string::npos) << s;
}

TEST(Progress, SlowRatesKeepTwoDigitsAndTheEtaFollowsThePaceGiven) {
  const std::string s = Progress::format_line("FoVs", 15, 36, "FoVs", 40.0);
  EXPECT_NE(s.find("0.38 FoVs/s"), std::string::npos) << s;  // not "0 FoVs/s"
  EXPECT_NE(s.find("ETA 00:56"), std::string::npos) << s;     // 21 left at the mean rate
  // A slow first item (start-up) makes the mean rate pessimistic: the pace after it decides.
  EXPECT_NE(Progress::format_line("FoVs", 15, 36, "FoVs", 40.0, 0.7).find("ETA 00:30"), std::string::npos);
}

TEST(Progress, FinishedLineSaysDoneAndUnknownTotalHasNoEta) {
  EXPECT_NE(Progress::format_line("x", 10, 10, "FoVs", 3725).find("done in 1:02:05"), std::string::npos);
  const std::string s = Progress::format_line("x", 2'500'000, 0, "rows", 1.0);
  EXPECT_NE(s.find("2.50M rows"), std::string::npos) << s;
  EXPECT_EQ(s.find("ETA"), std::string::npos);
}

TEST(Progress, AdvanceFromManyThreadsCountsEverything) {
  Progress p("t", 4000, "items", 1e9);
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) ts.emplace_back([&] { for (int k = 0; k < 1000; ++k) p.advance(); });
  for (auto& t : ts) t.join();
  p.finish();
  EXPECT_EQ(p.done(), 4000u);
}
