// Localization-table readers on real third-party files, hand-made malformed files, and a
// generated 10^6-row file. Expected ranges come from Python's csv module on the same files.
#include <gtest/gtest.h>
#include <tbb/global_control.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.hpp"
#include "loc/csv_reader.hpp"
#include "loc/table_reader.hpp"

using namespace annamosaic;
namespace fs = std::filesystem;

namespace {
std::string data(const std::string& name) { return std::string(ANNAMOSAIC_TEST_DATA) + "/" + name; }

std::string write_tmp(const std::string& name, const std::string& text) {
  fs::create_directories(ANNAMOSAIC_TEST_TMP);
  const std::string p = std::string(ANNAMOSAIC_TEST_TMP) + "/" + name;
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

// Parses `text` strictly and returns the InputError (fails the test if none is thrown).
InputError parse_error(const std::string& text, CsvReadOptions opt = {}) {
  try {
    parse_csv_table(text, "bad.csv", opt);
  } catch (const InputError& e) {
    return e;
  }
  ADD_FAILURE() << "no InputError for:\n" << text;
  return InputError("", "");
}

struct Expected {
  const char* file;
  std::size_t rows;
  int frame_min, frame_max;
  double x_min, x_max, y_min, y_max;
  bool z, intensity, uncertainty;
};
}  // namespace

class SharedData : public ::testing::TestWithParam<Expected> {};

TEST_P(SharedData, LoadsWithRightRowCountAndRanges) {
  const Expected& e = GetParam();
  ReadReport rep;
  const LocTable t = read_table(data(e.file), TableReadOptions{}, &rep);
  const TableStats s = compute_stats(t);
  EXPECT_EQ(s.rows, e.rows);
  EXPECT_EQ(rep.rows_read, e.rows);
  EXPECT_EQ(s.frame_min, e.frame_min);
  EXPECT_EQ(s.frame_max, e.frame_max);
  EXPECT_NEAR(s.x_min_nm, e.x_min, 1e-3);
  EXPECT_NEAR(s.x_max_nm, e.x_max, 1e-3);
  EXPECT_NEAR(s.y_min_nm, e.y_min, 1e-3);
  EXPECT_NEAR(s.y_max_nm, e.y_max, 1e-3);
  EXPECT_EQ(t.has_z(), e.z);
  EXPECT_EQ(t.has_intensity(), e.intensity);
  EXPECT_EQ(t.has_uncertainty(), e.uncertainty);
}

INSTANTIATE_TEST_SUITE_P(
    Files, SharedData,
    ::testing::Values(
        Expected{"thunderstorm-3d-export.csv", 11195, 1, 25000, 22882.1555, 27777.4452, 17336.1256, 22316.1322, true, true, true},
        Expected{"u2os-microtubule-single-lume.csv", 2848, 1, 17232, 17847.0, 20778.0, 3479.2, 10757.0, true, true, false},
        Expected{"epfl2013-bundled-tubes-hd-groundtruth.csv", 81178, 1, 361, 662.594, 5899.3061, 637.6275, 5612.3425, false, false, false},
        Expected{"deepstorm-demo1-thunderstorm.csv", 4956, 1, 20, 0.5215, 6399.3908, 1.4046, 6399.9009, false, true, false}));

TEST(CsvReader, ThunderstormFirstRowValuesAreExact) {
  const LocTable t = read_table(data("thunderstorm-3d-export.csv"), {});
  EXPECT_EQ(t.frame[0], 1);
  EXPECT_DOUBLE_EQ(t.x_nm[0], 24840.78095);
  EXPECT_DOUBLE_EQ(t.y_nm[0], 20471.75758);
  EXPECT_FLOAT_EQ(t.z_nm[0], -21.8435f);
  EXPECT_FLOAT_EQ(t.intensity[0], 4086.0f);
  EXPECT_FLOAT_EQ(t.uncertainty_nm[0], 5.08f);
}

TEST(CsvReader, UnquotedHeaderWithoutSpaceAndTabs) {
  const LocTable a = parse_csv_table("frame,x[nm],y[nm]\n0,1.5,2.5\n3,4,5\n", "a.csv", {});
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a.frame[1], 3);
  EXPECT_DOUBLE_EQ(a.y_nm[0], 2.5);
  const LocTable b = parse_csv_table("frame\tx [nm]\ty [nm]\r\n1\t10\t20\r\n", "b.tsv", {});
  ASSERT_EQ(b.size(), 1u);
  EXPECT_DOUBLE_EQ(b.x_nm[0], 10.0);
  // Excel's "CSV UTF-8" starts with a byte-order mark: not part of the first column's name.
  const LocTable c = parse_csv_table("\xEF\xBB\xBF\"frame\",\"x [nm]\",\"y [nm]\"\r\n2,7,8\r\n", "c.csv", {});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c.frame[0], 2);
}

TEST(CsvReader, ExplicitMappingAndCameraPixels) {
  CsvReadOptions opt;
  opt.columns = parse_column_mapping("frame=T,x=PosX,y=PosY");
  opt.xy_unit = XyUnit::CameraPixel;
  opt.camera_pixel_nm = 108;
  const LocTable t = parse_csv_table("# exported by a tool\nT;PosX;PosY;extra\n5;1.5;2;x\n", "m.csv", opt);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t.frame[0], 5);
  EXPECT_DOUBLE_EQ(t.x_nm[0], 162.0);
  EXPECT_DOUBLE_EQ(t.y_nm[0], 216.0);
  // px named in the header but no pixel size given: a clear error
  const InputError e = parse_error("frame,x [px],y [px]\n1,2,3\n");
  EXPECT_NE(std::string(e.what()).find("camera pixel"), std::string::npos) << e.what();
  EXPECT_THROW(parse_column_mapping("frame=a,colour=b"), InputError);
  EXPECT_THROW(parse_column_mapping("frame"), InputError);
}

// Options, campaign.ini and recorded settings compare the same setting in one spelling.
TEST(CsvReader, TableSettingsHaveOneCanonicalSpelling) {
  for (const char* um : {"um", "\xC2\xB5m", "micron"}) EXPECT_EQ(xy_unit_name(*parse_xy_unit(um)), "um") << um;
  EXPECT_EQ(xy_unit_name(*parse_xy_unit("px")), "px");
  EXPECT_FALSE(parse_xy_unit("mm").has_value());
  EXPECT_EQ(delimiter_name(*parse_delimiter(",")), "comma");
  EXPECT_EQ(delimiter_name(*parse_delimiter(";")), "semicolon");
  EXPECT_EQ(delimiter_name(*parse_delimiter("\t")), "tab");
  EXPECT_EQ(*parse_delimiter("auto"), 0);
  EXPECT_EQ(*parse_delimiter(""), 0);
  EXPECT_FALSE(parse_delimiter("space").has_value());
  // A delimiter given that the header does not use is named as the cause (not "no delimiter found").
  CsvReadOptions comma;
  comma.delimiter = ',';
  const std::string what = parse_error("frame;x;y\n1;2;3\n", comma).what();
  EXPECT_NE(what.find("the delimiter given (','"), std::string::npos) << what;
}

TEST(CsvReader, MicrometreColumnsFromTheNameTheMappingOrTheOption) {
  // Named in the header (ASCII or the micro sign), named in a mapped column, or given for all.
  for (const char* text : {"frame,x [um],y [um]\n1,1.5,2.25\n", "frame,X (\xC2\xB5m),Y (\xC2\xB5m)\n1,1.5,2.25\n",
                           "frame,x_um,y_um\n1,1.5,2.25\n"}) {
    const LocTable t = parse_csv_table(text, "um.csv", {});
    ASSERT_EQ(t.size(), 1u) << text;
    EXPECT_DOUBLE_EQ(t.x_nm[0], 1500.0) << text;
    EXPECT_DOUBLE_EQ(t.y_nm[0], 2250.0) << text;
  }
  CsvReadOptions mapped;
  mapped.columns = parse_column_mapping("x=Position X [um],y=Position Y [um]");
  EXPECT_DOUBLE_EQ(parse_csv_table("frame,Position X [um],Position Y [um]\n1,2,3\n", "m.csv", mapped).x_nm[0], 2000.0);
  CsvReadOptions all_um;
  all_um.xy_unit = XyUnit::Micrometre;
  const LocTable t = parse_csv_table("frame,x,y,uncertainty [nm]\n1,2,3,10\n", "o.csv", all_um);
  EXPECT_DOUBLE_EQ(t.y_nm[0], 3000.0);
  EXPECT_FLOAT_EQ(t.uncertainty_nm[0], 10.0f);  // says nm: not scaled with the coordinates
  // Only the letter and a unit name the axis: drift or pixel columns beside it are other columns.
  const LocTable d = parse_csv_table("frame,x_nm,y_nm,x_drift_nm,y_drift_nm,x_pixel_err\n1,5,6,0.1,0.2,3\n", "d.csv", {});
  EXPECT_DOUBLE_EQ(d.x_nm[0], 5.0);
  CsvReadOptions nm_named;  // a mapped column whose name says nm is nm whatever --xy-unit says
  nm_named.columns = parse_column_mapping("x=xnm,y=ynm");
  nm_named.xy_unit = XyUnit::Micrometre;
  EXPECT_DOUBLE_EQ(parse_csv_table("frame,xnm,ynm\n1,5,6\n", "n.csv", nm_named).x_nm[0], 5.0);
}

TEST(CsvReader, OtherMicroscopesHeadersAndEncodings) {
  // Zeiss ZEN, a plain "x_pos", and a Latin-1 micro sign (a Windows "ANSI" export).
  EXPECT_DOUBLE_EQ(parse_csv_table("First Frame,Position X [nm],Position Y [nm]\n1,5,6\n", "zen.csv", {}).x_nm[0], 5.0);
  EXPECT_DOUBLE_EQ(parse_csv_table("frame,x_pos,y_pos\n1,5,6\n", "pos.csv", {}).y_nm[0], 6.0);
  EXPECT_DOUBLE_EQ(parse_csv_table("frame,pos_x_um,pos_y_um\n1,1.5,2\n", "p.csv", {}).x_nm[0], 1500.0);
  EXPECT_DOUBLE_EQ(parse_csv_table("frame,x_pos [\xC2\xB5m],y_pos [\xC2\xB5m]\n1,1.5,2\n", "q.csv", {}).y_nm[0], 2000.0);
  // ... but not a column about the position, like its error.
  EXPECT_NE(std::string(parse_error("frame,pos_x_err,y\n1,1,2\n").what()).find("missing required column 'x'"), std::string::npos);
  // No header at all: its first row is said to be numbers (it was listed as the column names).
  const std::string headless = parse_error("1,100,200\n2,110,210\n").what();
  EXPECT_NE(headless.find("(header has '1', '100', '200': numbers, not names: the table has no header line; add one (e.g. "
                          "frame,x,y)"),
            std::string::npos) << headless;
  EXPECT_DOUBLE_EQ(parse_csv_table("frame,x [\xB5m],y [\xB5m]\n1,1.5,2\n", "latin1.csv", {}).x_nm[0], 1500.0);
  // N-STORM: X, Y and the drift-corrected Xc, Yc. Beside X, Y they are named, not used; alone, taken.
  ReadReport both;
  const LocTable n = parse_csv_table("Channel Name,X,Y,Xc,Yc,Frame\n647,10,20,11,21,1\n", "nstorm.csv", {}, &both);
  EXPECT_DOUBLE_EQ(n.x_nm[0], 10.0);
  ASSERT_EQ(both.warnings.size(), 2u);
  EXPECT_NE(both.warnings[0].find("nstorm.csv: column 'Xc' (drift-corrected, N-STORM?) is not used: x is 'X' (--columns x=Xc"),
            std::string::npos)
      << both.warnings[0];
  ReadReport alone;
  const LocTable c = parse_csv_table("Frame,Xc,Yc\n1,11,21\n", "xc.csv", {}, &alone);
  EXPECT_DOUBLE_EQ(c.x_nm[0], 11.0);
  EXPECT_NE(alone.warnings.at(0).find("column 'Xc' (drift-corrected, N-STORM) read as x"), std::string::npos);
}

TEST(CsvReader, FilesThatAreNoCsvTextAreNamed) {
  EXPECT_NE(std::string(parse_error(std::string("\xFF\xFE" "f\0r\0", 6)).what()).find("is UTF-16 text"), std::string::npos);
  EXPECT_NE(std::string(parse_error(std::string("\x1F\x8B\x08\0", 4)).what()).find("is gzip-compressed"), std::string::npos);
  EXPECT_NE(std::string(parse_error("frame,x,y\r1,2,3\r2,3,4\r").what()).find("CR alone"), std::string::npos);
  // A TIFF or an HDF5 file given as a table; control bytes in a message escaped (\\xNN), not cut at NUL.
  EXPECT_NE(std::string(parse_error(std::string("II*\0\x08\0\0\0", 8)).what()).find("is a TIFF image"), std::string::npos);
  EXPECT_NE(std::string(parse_error("\x89HDF\r\n\x1A\n...").what()).find("is an HDF5 file"), std::string::npos);
  EXPECT_NE(std::string(parse_error(std::string("PK\x03\x04\x14\0", 6)).what()).find("an Excel .xlsx workbook"), std::string::npos);
  const InputError control = parse_error(std::string("ab\x02" "cd\x01\nxyz\n", 10));
  EXPECT_NE(std::string(control.what()).find("'ab\\x02cd\\x01'"), std::string::npos) << control.what();
  // A DOS end-of-file byte is quoted as what it is, not as '?' (probe78).
  EXPECT_NE(std::string(parse_error("frame,x,y\n1,2,3\n\x1a\n").what()).find("not a number: '\\x1a'"), std::string::npos);
  // An image saved under the table's name, or any file with NUL bytes: said as what it is (a PNG
  // was answered with its bytes as a header and a delimiter hint).
  EXPECT_NE(std::string(parse_error(std::string("\x89PNG\r\n\x1A\n\0\0\0\rIHDR", 16)).what()).find("is a PNG image"),
            std::string::npos);
  EXPECT_NE(std::string(parse_error(std::string("ab\0cd\x01\nxyz\n", 10)).what()).find("is a binary file (it holds NUL bytes)"),
            std::string::npos);
  // No delimiter at all (space-separated): said, and a long header is cut in the message.
  const InputError spaces = parse_error("frame x y\n1 2 3\n");
  EXPECT_NE(std::string(spaces.what()).find("no delimiter (',', tab or ';') found in it"), std::string::npos) << spaces.what();
  std::string wide = "frame";
  for (int i = 0; i < 500; ++i) wide += ",c" + std::to_string(i);
  EXPECT_LT(std::string(parse_error(wide + "\n").what()).size(), 800u);
}

TEST(CsvReader, NamesAreQuotedAsTheFileHoldsThem) {
  // A Latin-1 "\xb5m" is read as um, and the log's column line stays UTF-8: the byte is escaped.
  ReadReport latin1;
  const LocTable t = parse_csv_table("frame,x [\xb5m],y [\xb5m]\n1,2,3\n", "l1.csv", {}, &latin1);
  EXPECT_DOUBLE_EQ(t.x_nm.at(0), 2000.0);
  EXPECT_NE(latin1.columns.find("x='x [\\xb5m]'"), std::string::npos) << latin1.columns;
  // ... and so is a row error's column name (probe87: the raw byte reached the log there).
  const std::string cell = parse_error("frame,x [\xb5m],y [\xb5m]\n1,abc,3\n").what();
  EXPECT_NE(cell.find("column 2 (\"x [\\xb5m]\")"), std::string::npos) << cell;
  ReadReport utf8;
  parse_csv_table("frame,x [\xc2\xb5m],y [\xc2\xb5m]\n1,2,3\n", "u8.csv", {}, &utf8);
  EXPECT_NE(utf8.columns.find("x='x [\xc2\xb5m]'"), std::string::npos) << utf8.columns;  // UTF-8 kept as it is
  // Bytes that only look like UTF-8 (a surrogate, an overlong form, a lead byte past U+10FFFF) are
  // escaped too, and so is a backslash, so that a "\t" written in the file is not read as a tab.
  const std::string odd = parse_error("frame,x [\xed\xa0\x80m],y\n1,2,3\n").what();
  EXPECT_NE(odd.find("'x [\\xed\\xa0\\x80m]'"), std::string::npos) << odd;
  EXPECT_NE(std::string(parse_error("frame,x,y\n\xe0\x80\x80,2,3\n").what()).find("'\\xe0\\x80\\x80'"), std::string::npos);
  EXPECT_NE(std::string(parse_error("frame,x,y\n\xf5\x80\x80\x80,2,3\n").what()).find("'\\xf5\\x80\\x80\\x80'"),
            std::string::npos);
  EXPECT_NE(std::string(parse_error("frame,x,y\na\\tb,2,3\n").what()).find("'a\\\\tb'"), std::string::npos);
  // A tab inside a comma-separated header: shown as \t, and named as a second delimiter.
  const std::string mixed = parse_error("frame\tx [nm],y [nm]\n1\t2,3\n").what();
  EXPECT_NE(mixed.find("'frame\\tx [nm]'"), std::string::npos) << mixed;
  EXPECT_NE(mixed.find("it holds a tab as well as the commas it is split at: mixed delimiters?"), std::string::npos) << mixed;
}

TEST(CsvReader, FramesThatStartAgainAreSaid) {
  // One table twice, end to end without its second header: read as it stands, and said.
  std::string once;
  for (int f = 1; f <= 120; ++f) once += std::to_string(f) + "," + std::to_string(10 * f) + ",5\n";
  ReadReport twice;
  EXPECT_EQ(parse_csv_table("frame,x,y\n" + once + once, "twice.csv", {}, &twice).size(), 240u);
  ASSERT_EQ(twice.warnings.size(), 1u);
  EXPECT_EQ(twice.warnings[0], "twice.csv: its frames run in order up to 120, then start again at 1 (data row 121): tables "
                               "joined end to end, or one copied twice? Read as one acquisition, as they are");
  // One stray row at either end is no second table (probe81).
  ReadReport stray_end, stray_start;
  parse_csv_table("frame,x,y\n" + once + "0,1,2\n", "stray.csv", {}, &stray_end);
  parse_csv_table("frame,x,y\n500,1,2\n" + once, "stray.csv", {}, &stray_start);
  EXPECT_TRUE(stray_end.warnings.empty()) << stray_end.warnings.at(0);
  EXPECT_TRUE(stray_start.warnings.empty()) << stray_start.warnings.at(0);
  // Sorted by something else (frames all over): not this.
  std::string shuffled;
  for (int i = 0; i < 120; ++i) shuffled += std::to_string((i * 37) % 120 + 1) + ",1,2\n";
  ReadReport other;
  parse_csv_table("frame,x,y\n" + shuffled, "by-molecule.csv", {}, &other);
  EXPECT_TRUE(other.warnings.empty());
}

TEST(CsvReader, AnAssumedUnitIsReported) {
  ReadReport plain, named;
  parse_csv_table("frame,x,y\n1,2,3\n", "p.csv", {}, &plain);
  parse_csv_table("frame,x [nm],y [nm]\n1,2,3\n", "n.csv", {}, &named);
  EXPECT_TRUE(plain.xy_unit_assumed);
  EXPECT_FALSE(named.xy_unit_assumed);
  CsvReadOptions chosen;  // --xy-unit nm given: chosen, not assumed
  chosen.xy_unit_given = true;
  ReadReport given;
  parse_csv_table("frame,x,y\n1,2,3\n", "g.csv", chosen, &given);
  EXPECT_FALSE(given.xy_unit_assumed);
  // --xy-unit where the header states the unit is not used: said.
  CsvReadOptions um;
  um.xy_unit = XyUnit::Micrometre;
  ReadReport ignored;
  parse_csv_table("frame,x [nm],y [nm]\n1,2,3\n", "n.csv", um, &ignored);
  ASSERT_FALSE(ignored.warnings.empty());
  EXPECT_NE(ignored.warnings[0].find("--xy-unit um not used for column 'x [nm]'"), std::string::npos);
}

TEST(CsvReader, MissingRequiredColumnNamesIt) {
  const InputError e = parse_error("frame,x [nm],z [nm]\n1,2,3\n");
  EXPECT_NE(std::string(e.what()).find("missing required column 'y'"), std::string::npos) << e.what();
  EXPECT_EQ(e.line(), 1);
  CsvReadOptions opt;
  opt.columns = {{"x", "nope"}};
  EXPECT_NE(std::string(parse_error("frame,x,y\n1,2,3\n", opt).what()).find("'nope'"), std::string::npos);
}

TEST(CsvReader, RepeatedOrCompetingColumnsAreErrorsNotGuesses) {
  // The same name twice: ambiguous whether detected or mapped explicitly.
  const InputError twice = parse_error("frame,x [nm],y [nm],x [nm]\n1,2,3,4\n");
  EXPECT_NE(std::string(twice.what()).find("'x [nm]' appears twice in the header (fields 2 and 4)"), std::string::npos)
      << twice.what();
  EXPECT_EQ(twice.line(), 1);
  CsvReadOptions mapped;
  mapped.columns = {{"x", "x [nm]"}};
  EXPECT_NE(std::string(parse_error("frame,x [nm],y [nm],x [nm]\n1,2,3,4\n", mapped).what()).find("appears twice"),
            std::string::npos);
  // Two columns that both look like x: an error that says how to choose, and choosing works.
  const InputError both = parse_error("frame,x [nm],x,y\n1,2,3,4\n");
  EXPECT_NE(std::string(both.what()).find("'x [nm]' and 'x' both look like x: say which one with --columns x=NAME"),
            std::string::npos)
      << both.what();
  CsvReadOptions choose;
  choose.columns = {{"x", "x"}};
  const LocTable t = parse_csv_table("frame,x [nm],x,y\n1,2,3,4\n", "c.csv", choose);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_DOUBLE_EQ(t.x_nm[0], 3.0);
  // A repeated column nobody reads is harmless.
  EXPECT_EQ(parse_csv_table("frame,x,y,note,note\n1,2,3,a,b\n", "n.csv", {}).size(), 1u);
}

TEST(CsvReader, AUnitOnOneAxisOnlyIsRefusedNotReadAsNm) {
  // "x [um]" beside a bare "y": y read as nm would be 1000 times too small (a 1-pixel-high image).
  const InputError e = parse_error("frame,x [um],y\n1,1.5,2.5\n");
  EXPECT_NE(std::string(e.what()).find("column 'x [um]' names its unit but 'y' (y) does not"), std::string::npos) << e.what();
  EXPECT_NE(std::string(parse_error("frame,x,y [um]\n1,1.5,2.5\n").what()).find("but 'x' (x) does not"), std::string::npos);
  CsvReadOptions given;  // --xy-unit um for the bare one: read
  given.xy_unit = XyUnit::Micrometre, given.xy_unit_given = true;
  ReadReport given_report;  // ... and not told that --xy-unit went unused for x: it read y
  EXPECT_DOUBLE_EQ(parse_csv_table("frame,x [um],y\n1,1.5,2.5\n", "g.csv", given, &given_report).y_nm[0], 2500.0);
  EXPECT_TRUE(given_report.warnings.empty()) << given_report.warnings.at(0);
  // x and y in different units: one header is wrong (probe95: y read 1000 times x ran out of
  // memory rendering); refused, naming both columns and the line.
  const InputError mixed = parse_error("frame,x [nm],y [um]\n1,1.5,2.5\n");
  EXPECT_NE(std::string(mixed.what()).find("columns 'x [nm]' and 'y [um]' name different units (nm, um)"), std::string::npos)
      << mixed.what();
  EXPECT_NE(std::string(mixed.what()).find(":1"), std::string::npos) << mixed.what();
  EXPECT_EQ(parse_csv_table("frame,x_um,y [µm]\n1,1.5,2.5\n", "same.csv", {}).y_nm[0], 2500.0);  // one unit, two spellings
  // A unit that is not read is named in the missing-column error.
  EXPECT_NE(std::string(parse_error("frame,x [mm],y [mm]\n1,1,2\n").what()).find("'x [mm]' names a unit not read here"),
            std::string::npos);
}

TEST(CsvReader, OneColumnMappedToTwoRolesIsRefused) {
  CsvReadOptions opt;
  opt.columns = parse_column_mapping("x=X,z=X");
  const InputError e = parse_error("Frame,X,Y\n1,1500,2500\n", opt);
  EXPECT_NE(std::string(e.what()).find("--columns maps column 'X' to both x and z"), std::string::npos) << e.what();
  // ... and one role mapped twice: which was meant cannot be told.
  EXPECT_THROW(parse_column_mapping("frame=T,x=X,y=Y,x=Z"), InputError);
  // A column taken by another role is shown as such where x is missing.
  opt.columns = parse_column_mapping("intensity=X");
  EXPECT_NE(std::string(parse_error("Frame,X,Y\n1,1500,2500\n", opt).what()).find("'X' (as intensity)"), std::string::npos);
}

TEST(CsvReader, IndentedCommentsBlankSpacesJoinedTablesAndQuotedDelimiters) {
  // Indented comments and lines of spaces are skipped like comments and blank lines.
  EXPECT_EQ(parse_csv_table("  # exported by ...\nframe,x,y\n1,2,3\n   \n\t# note\n2,4,5\n  \n", "s.csv", {}).size(), 2u);
  // Two tables joined end to end: the second header is named as such.
  const InputError joined = parse_error("frame,x,y\n1,2,3\nframe,x,y\n2,3,4\n");
  EXPECT_EQ(joined.line(), 3);
  EXPECT_NE(std::string(joined.what()).find("the header line again"), std::string::npos) << joined.what();
  // "777,32" quoted in a comma table (a decimal comma): refused, and the quoting said.
  const InputError quoted = parse_error("frame,x,y\n1,\"777,32\",\"3753,63\"\n");
  EXPECT_NE(std::string(quoted.what()).find("column 2 (\"x\"): not a number: '\"777,32\"' (a decimal comma or a thousands "
                                            "separator, in quotes?"),
            std::string::npos)
      << quoted.what();
  // A quote opened and never closed: x read as 123 from `"123,100` was a guess.
  const InputError unclosed = parse_error("frame,x,y\n1,2,3\n1,\"123,100\n");
  EXPECT_EQ(unclosed.line(), 3);
  EXPECT_NE(std::string(unclosed.what()).find("a quote (\") opened and never closed on this line"), std::string::npos)
      << unclosed.what();
  // A quoted text cell holding the delimiter in a column nothing reads is CSV as meant: read.
  const LocTable t = parse_csv_table("frame,x,y,note\n1,2,3,\"a, b\"\n2,4,5,plain\n", "note.csv", {});
  ASSERT_EQ(t.size(), 2u);
  EXPECT_DOUBLE_EQ(t.y_nm[0], 3.0);
}

TEST(CsvReader, DecimalCommaIsNamedNotGuessed) {
  const InputError e = parse_error("frame;x [nm];y [nm]\n1;100,5;200\n");
  EXPECT_NE(std::string(e.what()).find("not a number: '100,5' (a decimal comma?"), std::string::npos) << e.what();
  EXPECT_EQ(e.line(), 2);
  // "1,019.8": a thousands separator, for which replacing the commas by points is the wrong advice.
  const InputError grouped = parse_error("frame\tx [nm]\ty [nm]\n1\t1,019.8\t200\n");
  EXPECT_NE(std::string(grouped.what()).find("(commas grouping the thousands? numbers must be plain, like 1019.8"),
            std::string::npos)
      << grouped.what();
  EXPECT_EQ(std::string(grouped.what()).find("sed 's/,/./g'"), std::string::npos) << grouped.what();
  // "1.019,8" (a German export): the comma is the decimal mark; removing the commas would read 1.0198.
  const InputError german = parse_error("frame;x [nm];y [nm]\n1;1.019,8;200\n");
  EXPECT_NE(std::string(german.what()).find("(a decimal comma, with points grouping the thousands?"), std::string::npos)
      << german.what();
  EXPECT_EQ(std::string(german.what()).find("sed"), std::string::npos) << german.what();
}

// Excel's "sep=," line before the header is named, not left to read as a header of two columns.
TEST(CsvReader, ExcelsDelimiterLineIsNamed) {
  const InputError e = parse_error("sep=,\nframe,x [nm],y [nm]\n1,2,3\n");
  EXPECT_NE(std::string(e.what()).find("its first line is Excel's delimiter line ('sep=...'): delete that line"),
            std::string::npos)
      << e.what();
}

TEST(CsvReader, NonNumericCellGivesLineAndColumn) {
  const InputError e = parse_error("frame,x [nm],y [nm]\n1,2,3\n2,abc,4\n");
  EXPECT_EQ(e.file(), "bad.csv");
  EXPECT_EQ(e.line(), 3);
  EXPECT_EQ(e.column(), 2);
  EXPECT_NE(std::string(e.what()).find("bad.csv:3: column 2 (\"x [nm]\"): not a number"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("'abc'"), std::string::npos) << e.what();
}

TEST(CsvReader, NanAndInfAreRejectedInTheColumnsRead) {
  EXPECT_EQ(parse_error("frame,x,y\n1,nan,3\n").column(), 2);
  EXPECT_EQ(parse_error("frame,x,y\n1,2,inf\n").column(), 3);
  EXPECT_EQ(parse_error("frame,x,y\n1,2,-INF\n").line(), 2);
  // Finite as written, infinite once in nm (1e306 um): refused by place, not read as inf.
  const InputError big = parse_error("frame,x [um],y [um]\n1,2,3\n2,1e306,3\n");
  EXPECT_EQ(big.line(), 3);
  EXPECT_EQ(big.column(), 2);
  EXPECT_NE(std::string(big.what()).find("value out of range: '1e306'"), std::string::npos) << big.what();
  // In a column nothing reads (a fit's NaN uncertainty), the position is still data: kept, said.
  ReadReport r;
  const LocTable t = parse_csv_table("frame,x,y,uncertainty [nm],intensity\n1,2,3,10,5\n2,4,5,Infinity,6\n3,6,7,nan,nan\n",
                                     "u.csv", {}, &r);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_TRUE(std::isnan(t.uncertainty_nm[1]));
  EXPECT_FLOAT_EQ(t.intensity[1], 6.0f);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("u.csv:3: 2 row(s) (this the first) have NaN or infinite values"), std::string::npos)
      << r.warnings[0];
}

// Signs and numbers past a double's range: "+-5" is no number; 1e-400 is 0 as written (a fit's
// underflow); 1e400 is infinite, refused in a position column.
TEST(CsvReader, SignsAndNumbersPastADoubleAreReadAsWritten) {
  EXPECT_EQ(parse_error("frame,x,y\n1,+-5,3\n").column(), 2);
  EXPECT_EQ(parse_error("frame,x,y\n1,\"++5\",3\n").column(), 2);
  EXPECT_DOUBLE_EQ(parse_csv_table("frame,x,y\n1,\"+5\",\"-3\"\n", "s.csv", {}).y_nm[0], -3.0);
  const LocTable t = parse_csv_table("frame,x,y,uncertainty [nm]\n1,2,3,1e-400\n2,4,5,7\n", "u.csv", {});
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t.uncertainty_nm[0], 0.0f);
  EXPECT_DOUBLE_EQ(parse_csv_table("frame,x,y\n1,1e-400,3\n", "t.csv", {}).x_nm[0], 0.0);
  const InputError big = parse_error("frame,x,y\n1,2,3\n2,1e400,3\n");
  EXPECT_EQ(big.line(), 3);
  EXPECT_NE(std::string(big.what()).find("not finite: '1e400'"), std::string::npos) << big.what();
}

// A stretch of comments as long as a reader's chunk leaves that chunk without rows: the
// optional columns of the rest of the table must survive it.
TEST(CsvReader, AChunkOfCommentsKeepsTheOptionalColumns) {
  std::string text = "frame,x,y,intensity\n1,2,3,40\n";
  for (int i = 0; i < 2000; ++i) text += "# a long comment line written by some acquisition software\n";
  text += "2,4,5,50\n";
  CsvReadOptions o;
  o.threads = 2;
  o.chunk_bytes = 4096;
  const LocTable t = parse_csv_table(text, "gap.csv", o);
  ASSERT_EQ(t.size(), 2u);
  ASSERT_EQ(t.intensity.size(), 2u);
  EXPECT_FLOAT_EQ(t.intensity[1], 50.0f);
}

TEST(CsvReader, FrameMustBeNonNegativeInteger) {
  EXPECT_NE(std::string(parse_error("frame,x,y\n-1,2,3\n").what()).find("non-negative integer"), std::string::npos);
  // 2^31 is a non-negative integer, past what is read: said so (probe78 was told it was not one).
  const InputError big = parse_error("frame,x,y\n1,2,3\n3000000000,2,3\n");
  EXPECT_EQ(big.line(), 3);
  EXPECT_NE(std::string(big.what()).find("frame 3000000000 is past the largest frame number read here (2^31 - 1"),
            std::string::npos) << big.what();
  EXPECT_EQ(parse_error("frame,x,y\n1,2,3\n1.5,2,3\n").line(), 3);
  EXPECT_EQ(parse_csv_table("frame,x,y\n2.0,2,3\n", "f.csv", {}).frame[0], 2);
}

TEST(CsvReader, EmptyFileAndHeaderOnly) {
  const std::string p = write_tmp("empty.csv", "");
  try {
    read_csv_table(p, {});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("empty.csv"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos);
  }
  EXPECT_THROW(parse_csv_table("# only a comment\n\n", "c.csv", {}), InputError);
  // A header and no rows is an empty FoV, which is valid input.
  EXPECT_EQ(parse_csv_table("frame,x,y\n", "h.csv", {}).size(), 0u);
}

TEST(CsvReader, TruncatedLastLineAndWrongFieldCount) {
  const InputError t = parse_error("frame,x,y\n1,2,3\n2,5");
  EXPECT_NE(std::string(t.what()).find("truncated last line"), std::string::npos) << t.what();
  EXPECT_EQ(t.line(), 3);
  const InputError m = parse_error("frame,x,y\n1,2\n2,5,6\n");
  EXPECT_NE(std::string(m.what()).find("expected 3 fields, found 2"), std::string::npos) << m.what();
  // A last line with all its fields but no line end is read, and said: it may be cut inside a number.
  ReadReport rep;
  EXPECT_EQ(parse_csv_table("frame,x,y\n1,2,3\n2,4,6", "n.csv", {}, &rep).size(), 2u);
  ASSERT_EQ(rep.warnings.size(), 1u);
  EXPECT_NE(rep.warnings[0].find("n.csv:3: the last line has no line end"), std::string::npos) << rep.warnings[0];
  // Ended lines, or a trailing comment without an end: nothing to say.
  ReadReport ended, comment;
  parse_csv_table("frame,x,y\n1,2,3\n", "e.csv", {}, &ended);
  EXPECT_TRUE(ended.warnings.empty());
  parse_csv_table("frame,x,y\r\n1,2,3\r\n# end", "c.csv", {}, &comment);
  EXPECT_TRUE(comment.warnings.empty());
}

TEST(CsvReader, SkipBadRowsCountsAndReportsThem) {
  CsvReadOptions opt;
  opt.skip_bad_rows = true;
  ReadReport rep;
  const LocTable t = parse_csv_table("frame,x,y\n1,2,3\n2,x,3\n3,nan,1\n4,5,6\n-2,1,1\n", "s.csv", opt, &rep);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(rep.rows_skipped, 3u);
  ASSERT_EQ(rep.skipped_examples.size(), 3u);
  EXPECT_NE(rep.skipped_examples[0].find("s.csv:3:"), std::string::npos) << rep.skipped_examples[0];
  EXPECT_EQ(t.frame[1], 4);
}

TEST(CsvReader, MissingFileIsIoErrorNamingIt) {
  try {
    read_table("/nonexistent/locs.csv", {});
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/locs.csv"), std::string::npos);
  }
  EXPECT_THROW(read_table(data("PROVENANCE.md"), {}), InputError);  // unknown extension
  // A workbook or a compressed table is named as such, by its extension, before it is opened.
  for (const auto& [name, said] : {std::pair{"locs.xlsx", "a spreadsheet workbook"}, std::pair{"locs.csv.gz", "decompress it first"}})
    try {
      read_table(std::string("/nonexistent/") + name, {});
      ADD_FAILURE() << name;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(said), std::string::npos) << e.what();
    }
}

namespace {
// A ThunderSTORM-style file with `rows` rows, deterministic content; row r has frame r/100+1.
std::string generate(std::size_t rows, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 55300);
  std::string s = "\"id\",\"frame\",\"x [nm]\",\"y [nm]\",\"sigma [nm]\",\"intensity [photon]\",\"uncertainty [nm]\"\n";
  s.reserve(rows * 80);
  char buf[160];
  for (std::size_t r = 0; r < rows; ++r) {
    const int n = std::snprintf(buf, sizeof buf, "%zu,%zu,%.4f,%.4f,120.5,%.1f,%.2f\n", r + 1, r / 100 + 1, u(rng),
                                u(rng), 1000.0 + r % 1000, 5.0 + (r % 7));
    s.append(buf, static_cast<std::size_t>(n));
  }
  return s;
}
}  // namespace

TEST(CsvReader, MillionRowsSameResultForAnyThreadCountAndChunking) {
  const std::string text = generate(1'000'000, 7);
  CsvReadOptions one;
  one.threads = 1;
  one.chunk_bytes = 1 << 22;
  CsvReadOptions many;
  many.threads = 4;
  many.chunk_bytes = 100'003;  // odd size: chunk edges fall mid-line and must be moved
  const LocTable a = parse_csv_table(text, "gen.csv", one);
  const LocTable b = parse_csv_table(text, "gen.csv", many);
  ASSERT_EQ(a.size(), 1'000'000u);
  EXPECT_EQ(a.frame, b.frame);
  EXPECT_EQ(a.x_nm, b.x_nm);
  EXPECT_EQ(a.y_nm, b.y_nm);
  EXPECT_EQ(a.intensity, b.intensity);
  EXPECT_EQ(a.frame.back(), 10000);
  // An error deep in the file is reported at its exact line, whatever the chunking.
  std::string bad = text;
  const std::size_t line = 777'777;  // 1-based data line; file line = line + 1
  std::size_t pos = 0;
  for (std::size_t i = 0; i < line; ++i) pos = bad.find('\n', pos) + 1;
  bad.replace(bad.find(',', bad.find(',', pos) + 1) + 1, 1, "Q");
  try {
    parse_csv_table(bad, "gen.csv", many);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.line(), static_cast<std::int64_t>(line + 1)) << e.what();
    EXPECT_EQ(e.column(), 3);
  }
}
