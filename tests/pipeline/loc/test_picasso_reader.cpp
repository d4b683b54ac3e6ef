// Picasso HDF5: a /locs compound table written here with the HDF5 C API in Picasso's field
// layout (frame u4, x/y/photons/lpx f4; x, y in camera pixels).
#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "loc/table_reader.hpp"

using namespace annamosaic;

namespace {
struct PicassoRow {
  std::uint32_t frame;
  float x, y, photons, lpx;
};

std::string write_picasso(const std::string& name, const std::vector<PicassoRow>& rows, bool with_y = true) {
  std::filesystem::create_directories(ANNAMOSAIC_TEST_TMP);
  const std::string path = std::string(ANNAMOSAIC_TEST_TMP) + "/" + name;
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(PicassoRow));
  H5Tinsert(t, "frame", HOFFSET(PicassoRow, frame), H5T_STD_U32LE);
  H5Tinsert(t, "x", HOFFSET(PicassoRow, x), H5T_IEEE_F32LE);
  if (with_y) H5Tinsert(t, "y", HOFFSET(PicassoRow, y), H5T_IEEE_F32LE);
  H5Tinsert(t, "photons", HOFFSET(PicassoRow, photons), H5T_IEEE_F32LE);
  H5Tinsert(t, "lpx", HOFFSET(PicassoRow, lpx), H5T_IEEE_F32LE);
  hsize_t n = rows.size();
  hid_t s = H5Screate_simple(1, &n, nullptr);
  hid_t d = H5Dcreate2(f, "locs", t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  EXPECT_GE(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()), 0);
  H5Dclose(d);
  H5Sclose(s);
  H5Tclose(t);
  H5Fclose(f);
  return path;
}
}  // namespace

TEST(PicassoReader, ReadsLocsInCameraPixels) {
  const std::string p = write_picasso("locs.hdf5", {{0, 1.5f, 2.0f, 900, 0.1f}, {3, 10.0f, 20.0f, 1200, 0.2f}});
  TableReadOptions opt;
  opt.csv.camera_pixel_nm = 100;
  ReadReport rep;
  const LocTable t = read_table(p, opt, &rep);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t.frame[1], 3);
  EXPECT_DOUBLE_EQ(t.x_nm[0], 150.0);
  EXPECT_DOUBLE_EQ(t.y_nm[1], 2000.0);
  EXPECT_FLOAT_EQ(t.intensity[1], 1200.0f);
  EXPECT_NEAR(t.uncertainty_nm[0], 10.0f, 1e-4);
  EXPECT_NE(rep.columns.find("Picasso"), std::string::npos);
}

TEST(PicassoReader, ClearErrors) {
  const std::string p = write_picasso("locs2.hdf5", {{0, 1, 2, 3, 4}});
  EXPECT_THROW(read_table(p, {}), InputError);  // no pixel size
  TableReadOptions opt;
  opt.csv.camera_pixel_nm = 100;
  const std::string noy = write_picasso("noy.hdf5", {{0, 1, 2, 3, 4}}, false);
  try {
    read_table(noy, opt);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no field 'y'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("noy.hdf5"), std::string::npos);
  }
  const std::string junk = std::string(ANNAMOSAIC_TEST_TMP) + "/junk.h5";
  std::ofstream(junk) << "not hdf5 at all";
  EXPECT_THROW(read_table(junk, opt), InputError);
  // Not there: an I/O error (exit 3), as for a missing CSV table, not a malformed file (exit 2).
  EXPECT_THROW(read_table(std::string(ANNAMOSAIC_TEST_TMP) + "/nosuch.hdf5", opt), IoError);
}

TEST(PicassoReader, RowsDeclaredButNeverWrittenAreRefused) {
  // A chunked, compressed /locs of 2^27 rows of which nothing was written (a writer killed after
  // creating it): reading it whole would be 134 million localizations at (0, 0) and gigabytes.
  std::filesystem::create_directories(ANNAMOSAIC_TEST_TMP);
  const std::string path = std::string(ANNAMOSAIC_TEST_TMP) + "/cut_short.hdf5";
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(PicassoRow));
  H5Tinsert(t, "frame", HOFFSET(PicassoRow, frame), H5T_STD_U32LE);
  H5Tinsert(t, "x", HOFFSET(PicassoRow, x), H5T_IEEE_F32LE);
  H5Tinsert(t, "y", HOFFSET(PicassoRow, y), H5T_IEEE_F32LE);
  hsize_t n = hsize_t{1} << 27, chunk = 65536, unlimited = H5S_UNLIMITED;
  hid_t s = H5Screate_simple(1, &n, &unlimited);
  hid_t p = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(p, 1, &chunk);
  H5Pset_deflate(p, 4);
  hid_t d = H5Dcreate2(f, "locs", t, s, H5P_DEFAULT, p, H5P_DEFAULT);
  // One chunk written: "only some".
  std::vector<PicassoRow> rows(chunk, PicassoRow{1, 2.0f, 3.0f, 0, 0});
  hid_t ms = H5Screate_simple(1, &chunk, nullptr);
  hsize_t start = 0;
  H5Sselect_hyperslab(s, H5S_SELECT_SET, &start, nullptr, &chunk, nullptr);
  EXPECT_GE(H5Dwrite(d, t, ms, s, H5P_DEFAULT, rows.data()), 0);
  for (hid_t h : {ms, s}) H5Sclose(h);
  H5Dclose(d);
  H5Pclose(p);
  H5Tclose(t);
  H5Fclose(f);
  TableReadOptions opt;
  opt.csv.camera_pixel_nm = 100;
  try {
    read_table(path, opt);
    FAIL() << "read 2^27 rows of which 65536 were written";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("declares 134217728 rows, but only some of them were ever written"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("cut_short.hdf5"), std::string::npos) << e.what();
  }
}
