#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/text_list.hpp"

using annamosaic::first_items;

TEST(TextList, ShortListsAreWholeAndLongOnesEndInEllipsis) {
  EXPECT_EQ(first_items(std::vector<int>{3, 7, 12}, 10), "3, 7, 12");
  EXPECT_EQ(first_items(std::vector<int>{3, 7, 12}, 3), "3, 7, 12");  // all shown: no "..."
  EXPECT_EQ(first_items(std::vector<int>{3, 7, 12, 15}, 3), "3, 7, 12, ...");
  EXPECT_EQ(first_items(std::vector<std::string>{"a.csv", "b.csv"}, 1), "a.csv, ...");
  EXPECT_EQ(first_items(std::vector<int>{}, 5), "");
}
