#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "batch/fov_result.hpp"
#include "batch/manifest.hpp"
#include "core/error.hpp"

using namespace annamosaic;

namespace {
FovResult sample() {
  FovResult r;
  r.id = 12;
  r.row = 2;
  r.col = 5;
  r.x_um = 108.5;
  r.localizations = 4242;
  r.status = "degraded";
  r.reason = "locs.csv:7: column 2: not a number";
  r.inference = "cpu fp32, whole FoV";
  r.wf_shift_x_px = -1.25;
  r.wf_pixel_nm = 216;  // a 2 x 2 binned widefield's
  r.sparse = ImageF(40, 30);
  r.sparse(3, 4) = 7;
  r.reconstruction = ImageF(40, 30);
  r.reconstruction(39, 29) = 0.5f;
  r.error_map = ImageF(10, 8);
  return r;
}
}  // namespace

TEST(FovResult, RoundTripAndReproducibleBytes) {
  std::filesystem::create_directories(ANNAMOSAIC_TEST_TMP);
  const std::string a = std::string(ANNAMOSAIC_TEST_TMP) + "/a.h5", b = std::string(ANNAMOSAIC_TEST_TMP) + "/b.h5";
  write_fov_result(a, sample());
  write_fov_result(b, sample());
  EXPECT_EQ(file_checksum(a), file_checksum(b));  // no timestamps inside
  const FovResult r = read_fov_result(a);
  EXPECT_EQ(r.id, 12);
  EXPECT_EQ(r.col, 5);
  EXPECT_EQ(r.localizations, 4242);
  EXPECT_EQ(r.status, "degraded");
  EXPECT_EQ(r.reason, "locs.csv:7: column 2: not a number");
  EXPECT_EQ(r.inference, "cpu fp32, whole FoV");
  EXPECT_EQ(r.wf_shift_x_px, -1.25);
  EXPECT_EQ(r.wf_pixel_nm, 216);
  EXPECT_EQ(r.software.rfind("annamosaic ", 0), 0u) << r.software;  // written by write_fov_result itself
  EXPECT_EQ(r.sparse(3, 4), 7.0f);
  EXPECT_EQ(r.reconstruction(39, 29), 0.5f);
  EXPECT_TRUE(r.widefield.empty());
  EXPECT_EQ(r.error_map.width(), 10u);
  const FovResult only = read_fov_result(a, {"reconstruction"});
  EXPECT_TRUE(only.sparse.empty());
  EXPECT_FALSE(only.reconstruction.empty());
}

TEST(FovResult, ImagesOfSeveralChunksRoundTripExactly) {
  // 600 x 530: a 3 x 3 grid of 256 px chunks with partial edge chunks, compressed in parallel
  // and stored raw; every value (negative, tiny, huge) must come back bit for bit.
  FovResult r = sample();
  r.reconstruction = ImageF(600, 530);
  r.widefield = ImageF(600, 530);
  for (std::size_t y = 0; y < 530; ++y)
    for (std::size_t x = 0; x < 600; ++x) {
      r.reconstruction(x, y) = static_cast<float>(std::sin(0.01 * static_cast<double>(x * y)) * 1e-3);
      r.widefield(x, y) = static_cast<float>(x) * 1e6f - static_cast<float>(y);
    }
  r.sparse = ImageF();
  const std::string a = std::string(ANNAMOSAIC_TEST_TMP) + "/big.h5";
  write_fov_result(a, r);
  const FovResult back = read_fov_result(a);
  ASSERT_EQ(back.reconstruction.width(), 600u);
  ASSERT_EQ(back.reconstruction.height(), 530u);
  for (std::size_t y = 0; y < 530; ++y)
    for (std::size_t x = 0; x < 600; ++x) {
      ASSERT_EQ(back.reconstruction(x, y), r.reconstruction(x, y)) << x << "," << y;
      ASSERT_EQ(back.widefield(x, y), r.widefield(x, y)) << x << "," << y;
    }
  EXPECT_TRUE(back.sparse.empty());
}

TEST(FovResult, CorruptChunkDataIsAnInputErrorNamingTheFile) {
  // Chunks are decompressed outside HDF5 (in parallel): damaged compressed bytes must still
  // give an InputError that names the file, not garbage pixels or a crash.
  FovResult r = sample();
  r.reconstruction = ImageF(600, 530);
  for (std::size_t i = 0; i < r.reconstruction.size(); ++i) r.reconstruction.data()[i] = static_cast<float>(i % 977) * 0.25f;
  const std::string a = std::string(ANNAMOSAIC_TEST_TMP) + "/corrupt.h5";
  write_fov_result(a, r);
  const auto size = std::filesystem::file_size(a);
  {
    std::fstream f(a, std::ios::in | std::ios::out | std::ios::binary);
    for (std::uintmax_t pos = size / 3; pos < 2 * size / 3; pos += 97) {  // the middle: chunk data
      f.seekp(static_cast<std::streamoff>(pos));
      f.put('\x5a');
    }
  }
  try {
    read_fov_result(a, {"reconstruction"});
    FAIL() << "corrupt chunks were read without an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("corrupt.h5"), std::string::npos) << e.what();
  }
}

TEST(FovResult, TruncatedFileIsAnInputError) {
  const std::string a = std::string(ANNAMOSAIC_TEST_TMP) + "/t.h5";
  write_fov_result(a, sample());
  std::filesystem::resize_file(a, 500);
  EXPECT_THROW(read_fov_result(a), InputError);
}
