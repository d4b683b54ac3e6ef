// Far outliers: none in real third-party tables, every planted one found by row.
#include <gtest/gtest.h>

#include "loc/loc_table.hpp"
#include "loc/table_reader.hpp"
#include "core/error.hpp"

#include <filesystem>
#include <fstream>

using namespace annamosaic;

namespace {
std::string data(const std::string& name) { return std::string(ANNAMOSAIC_TEST_DATA) + "/" + name; }
}  // namespace

TEST(FarOutliers, NoneInRealTables) {
  for (const char* f : {"epfl2013-bundled-tubes-hd-groundtruth.csv", "deepstorm-demo1-thunderstorm.csv",
                        "thunderstorm-3d-export.csv", "u2os-microtubule-single-lume.csv"}) {
    const LocTable t = read_table(data(f), TableReadOptions{});
    const FarOutliers o = far_outliers(t);
    EXPECT_TRUE(o.rows.empty()) << f << ": " << far_outliers_message(t, o);
  }
}

TEST(FarOutliers, APlantedRowIsNamedAndATinyTableIsLeftAlone) {
  LocTable t = read_table(data("epfl2013-bundled-tubes-hd-groundtruth.csv"), TableReadOptions{});
  const std::size_t n = t.size();
  t.frame.push_back(1), t.x_nm.push_back(3e6), t.y_nm.push_back(2000);  // 3 mm away: another unit?
  t.frame.push_back(1), t.x_nm.push_back(2000), t.y_nm.push_back(-1e9);
  const FarOutliers o = far_outliers(t);
  EXPECT_EQ(o.rows, (std::vector<std::size_t>{n, n + 1}));
  const std::string m = far_outliers_message(t, o);
  EXPECT_NE(m.find("2 localization(s) lie far outside the others"), std::string::npos) << m;
  EXPECT_NE(m.find("data row " + std::to_string(n + 1) + " at (3e+06, 2000) nm"), std::string::npos) << m;
  // Detections anywhere in a camera field beside a small structure are data, not outliers.
  LocTable near = read_table(data("epfl2013-bundled-tubes-hd-groundtruth.csv"), TableReadOptions{});
  near.frame.push_back(1), near.x_nm.push_back(near.x_nm[0] + 8000), near.y_nm.push_back(near.y_nm[0]);
  near.frame.push_back(1), near.x_nm.push_back(200e3), near.y_nm.push_back(-20e3);
  EXPECT_TRUE(far_outliers(near).rows.empty());
  LocTable tiny;
  for (int i = 0; i < 10; ++i) tiny.frame.push_back(i), tiny.x_nm.push_back(i), tiny.y_nm.push_back(i);
  tiny.x_nm[9] = 1e12;
  EXPECT_TRUE(far_outliers(tiny).rows.empty());  // under 100 rows: no robust percentiles
}

// A table read as nm for want of a unit that spans a few nm: micrometres (or camera pixels) read
// as nm. Said with how to give the unit; real nm tables and tables with a named unit are not.
TEST(AssumedUnit, MicrometresReadAsNanometresAreSaid) {
  LocTable um;
  for (int i = 0; i < 200; ++i) um.frame.push_back(i), um.x_nm.push_back(0.03 * i), um.y_nm.push_back(0.02 * i);
  ReadReport assumed;
  assumed.xy_unit_assumed = true;
  const std::string w = assumed_unit_warning("locs.csv", assumed, um);
  EXPECT_NE(w.find("locs.csv: its 200 localizations span only 5.97 x 3.98 nm"), std::string::npos) << w;
  EXPECT_NE(w.find("--xy-unit um"), std::string::npos) << w;
  // With the unit named (nm) the same table is no field of view either (probe95: "x [nm]" over
  // values in um, drawn to a 1 x 1 px image unsaid): said as the header's slip.
  const std::string named = assumed_unit_warning("locs.csv", ReadReport{}, um);
  EXPECT_NE(named.find("locs.csv: its 200 localizations span only 5.97 x 3.98 nm in the unit read (the header's, "
                       "--xy-unit's or the format's)"), std::string::npos) << named;
  LocTable pick = um;  // 200 localizations over 60 x 40 nm: one small structure picked, not said
  for (double& v : pick.x_nm) v *= 10;
  for (double& v : pick.y_nm) v *= 10;
  EXPECT_EQ(assumed_unit_warning("pick.csv", ReadReport{}, pick), "");
  const LocTable real = read_table(data("epfl2013-bundled-tubes-hd-groundtruth.csv"), TableReadOptions{});
  EXPECT_EQ(assumed_unit_warning("epfl.csv", assumed, real), "");
  um.x_nm.resize(50), um.y_nm.resize(50), um.frame.resize(50);
  EXPECT_EQ(assumed_unit_warning("few.csv", assumed, um), "");  // under 100: a small structure may be that small
  // Picometres read as nm: millimetres of "field". One far outlier alone is not that (far_outliers says it).
  LocTable pm;
  for (int i = 0; i < 200; ++i) pm.frame.push_back(i), pm.x_nm.push_back(1e6 + 37500.0 * i), pm.y_nm.push_back(1e6 + 11000.0 * i);
  const std::string wide = assumed_unit_warning("pm.csv", assumed, pm);
  EXPECT_NE(wide.find("pm.csv: its 200 localizations span 7.35 x 2.16 mm (98% of them), read as nm"), std::string::npos) << wide;
  LocTable one_far;
  for (int i = 0; i < 200; ++i) one_far.frame.push_back(i), one_far.x_nm.push_back(30.0 * i), one_far.y_nm.push_back(20.0 * i);
  one_far.x_nm[7] = 5e6;
  EXPECT_EQ(assumed_unit_warning("far.csv", assumed, one_far), "");
  // With the unit stated, 7.4 x 2.2 mm (a few whole mosaics in global coordinates) is a plausible
  // table; the 147 mm of a pm table under an 'x [nm]' header is not.
  EXPECT_EQ(assumed_unit_warning("pm.csv", ReadReport{}, pm), "");
  for (double& v : pm.x_nm) v *= 20;
  const std::string stated = assumed_unit_warning("pm.csv", ReadReport{}, pm);
  EXPECT_NE(stated.find("pm.csv: its 200 localizations span 147 x 2.16 mm (98% of them) in the unit read"), std::string::npos)
      << stated;
}

// A file given as the table that is another kind of file is named as what it is, by its name
// alone (its content is never read as a table).
TEST(TableReader, AnImageOrAnUnknownFormatIsNamed) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "table_reader_names";
  std::filesystem::create_directories(dir);
  for (const char* name : {"widefield.tif", "overview.PNG"}) {
    std::ofstream((dir / name).string()) << "not read";
    try {
      read_table((dir / name).string(), TableReadOptions{});
      ADD_FAILURE() << name << " was read";
    } catch (const annamosaic::InputError& e) {
      EXPECT_NE(std::string(e.what()).find("not a localization table (a widefield given as the table?)"), std::string::npos)
          << e.what();
    }
  }
  // One that is not there is said so, whatever its name (not "an image").
  EXPECT_THROW(read_table((dir / "gone.tif").string(), TableReadOptions{}), annamosaic::IoError);
  try {
    read_table("/nonexistent/locs.parquet", TableReadOptions{});
    ADD_FAILURE() << "a .parquet file was read";
  } catch (const annamosaic::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown table format '.parquet'"), std::string::npos) << e.what();
  }
}
