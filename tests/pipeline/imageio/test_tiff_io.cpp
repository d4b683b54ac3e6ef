// TIFF reading and writing: round trips through our writer, files built with raw libtiff calls
// (types and layouts our writer never produces), metadata, and every error path.
#include <gtest/gtest.h>
#include <tiffio.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/image.hpp"
#include "imageio/tiff_io.hpp"

using namespace annamosaic;
namespace fs = std::filesystem;

namespace {

// Scratch file unique to the running test: ctest -j runs tests of this binary concurrently.
std::string scratch(const std::string& name) {
  const fs::path dir = fs::path(ANNAMOSAIC_TEST_TMP) / "tiff";
  fs::create_directories(dir);
  const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  return (dir / (test + "_" + name)).string();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A float image with fractional, negative and large values.
ImageF ramp(std::size_t w, std::size_t h, float offset = 0) {
  ImageF img(w, h);
  for (std::size_t y = 0; y < h; ++y)
    for (std::size_t x = 0; x < w; ++x)
      img(x, y) = offset + float(x) * 1.25f - float(y) * 3.5f + 1e4f * (x == y);
  return img;
}

void expect_equal(const ImageF& a, const ImageF& b) {
  ASSERT_EQ(a.width(), b.width());
  ASSERT_EQ(a.height(), b.height());
  for (std::size_t y = 0; y < a.height(); ++y)
    for (std::size_t x = 0; x < a.width(); ++x) ASSERT_EQ(a(x, y), b(x, y)) << "at " << x << "," << y;
}

// The one-field-at-a-time layout tags of a hand-built file.
struct RawLayout {
  int bits = 16, format = SAMPLEFORMAT_UINT, samples = 1, photometric = PHOTOMETRIC_MINISBLACK;
  std::uint32_t tile = 0;  // 0: one strip per 4 rows; else square tiles of this size
  int compression = COMPRESSION_NONE;
};

// Writes a w x h file with raw libtiff calls; pixel i (row-major, sample-interleaved) takes
// values[i % values.size()]. T must match layout.bits/format.
template <class T>
void write_raw(const std::string& path, std::uint32_t w, std::uint32_t h, const std::vector<T>& values,
               const RawLayout& l) {
  TIFF* t = TIFFOpen(path.c_str(), "w");
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(TIFFSetField(t, TIFFTAG_IMAGEWIDTH, w));
  ASSERT_TRUE(TIFFSetField(t, TIFFTAG_IMAGELENGTH, h));
  ASSERT_TRUE(TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, l.bits));
  ASSERT_TRUE(TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, l.format));
  ASSERT_TRUE(TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, l.samples));
  ASSERT_TRUE(TIFFSetField(t, TIFFTAG_PHOTOMETRIC, l.photometric));
  ASSERT_TRUE(TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG));
  ASSERT_TRUE(TIFFSetField(t, TIFFTAG_COMPRESSION, l.compression));
  const std::size_t per_row = std::size_t{w} * l.samples;
  const auto value = [&](std::size_t i) { return values[i % values.size()]; };
  if (l.tile == 0) {
    ASSERT_TRUE(TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, std::uint32_t{4}));
    std::vector<T> row(per_row);
    for (std::uint32_t y = 0; y < h; ++y) {
      for (std::size_t i = 0; i < per_row; ++i) row[i] = value(y * per_row + i);
      ASSERT_EQ(TIFFWriteScanline(t, row.data(), y, 0), 1);
    }
  } else {
    ASSERT_TRUE(TIFFSetField(t, TIFFTAG_TILEWIDTH, l.tile));
    ASSERT_TRUE(TIFFSetField(t, TIFFTAG_TILELENGTH, l.tile));
    std::vector<T> tile(std::size_t{l.tile} * l.tile * l.samples);
    for (std::uint32_t ty = 0; ty < h; ty += l.tile)
      for (std::uint32_t tx = 0; tx < w; tx += l.tile) {
        std::fill(tile.begin(), tile.end(), T{});
        for (std::uint32_t r = 0; r < l.tile && ty + r < h; ++r)
          for (std::uint32_t c = 0; c < l.tile && tx + c < w; ++c)
            for (int s = 0; s < l.samples; ++s)
              tile[(r * l.tile + c) * l.samples + s] = value((ty + r) * per_row + (tx + c) * l.samples + s);
        ASSERT_GE(TIFFWriteTile(t, tile.data(), tx, ty, 0, 0), 0);
      }
  }
  TIFFClose(t);
}

// What read_tiff should return for a single-sample raw file.
template <class T>
ImageF expected_from(std::uint32_t w, std::uint32_t h, const std::vector<T>& values) {
  ImageF img(w, h);
  for (std::size_t i = 0; i < img.size(); ++i) img.data()[i] = static_cast<float>(values[i % values.size()]);
  return img;
}

template <class T>
void check_raw_type(int bits, int format, const std::vector<T>& values) {
  const std::string path = scratch("raw_" + std::to_string(bits) + "_" + std::to_string(format) + ".tif");
  RawLayout l;
  l.bits = bits;
  l.format = format;
  write_raw<T>(path, 13, 9, values, l);
  SCOPED_TRACE(path);
  expect_equal(read_tiff(path), expected_from<T>(13, 9, values));
  const TiffInfo info = read_tiff_info(path);
  EXPECT_EQ(info.bits_per_sample, bits);
  EXPECT_EQ(info.sample_format, format);
}

template <class F>
void expect_input_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    for (const auto& p : parts) EXPECT_TRUE(contains(e.what(), p)) << "'" << p << "' not in: " << e.what();
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Round trips through our writer

TEST(TiffIo, FloatPredictorIsOptInAndRoundTrips) {
  const std::string path = scratch("f32_pred3.tif");
  const ImageF img = ramp(64, 40, 3.5f);
  TiffWriteOptions opt;
  opt.float_predictor = true;
  write_tiff(path, img.view(), opt);
  expect_equal(read_tiff(path), img);
}

TEST(TiffIo, Float32RoundTripIsExact) {
  const std::string path = scratch("f32.tif");
  const ImageF img = ramp(301, 77, -20.125f);  // > 1 strip: 301*4 B per row, 256 KiB strips hold 217 rows
  write_tiff(path, img.view(), TiffWriteOptions{});  // defaults: float32, deflate, no float predictor
  expect_equal(read_tiff(path), img);

  const TiffInfo info = read_tiff_info(path);
  EXPECT_EQ(info.width, 301u);
  EXPECT_EQ(info.height, 77u);
  EXPECT_EQ(info.pages, 1u);
  EXPECT_EQ(info.bits_per_sample, 32);
  EXPECT_EQ(info.sample_format, 3);
  EXPECT_EQ(info.samples_per_pixel, 1);
  EXPECT_FALSE(info.tiled);
  EXPECT_FALSE(info.bigtiff);
  EXPECT_EQ(info.pixel_nm, 0.0);  // not given, not invented
}

TEST(TiffIo, UInt16RoundTripIsExact) {
  const std::string path = scratch("u16.tif");
  ImageU16 img(640, 480);  // 1280 B rows: several 256 KiB strips
  for (std::size_t i = 0; i < img.size(); ++i) img.data()[i] = static_cast<std::uint16_t>(i * 7919u);
  TiffWriteOptions opt;
  opt.pixel = TiffPixel::UInt16;
  write_tiff(path, img.view(), opt);

  const ImageF back = read_tiff(path);
  ASSERT_EQ(back.width(), 640u);
  for (std::size_t i = 0; i < img.size(); ++i) ASSERT_EQ(back.data()[i], float(img.data()[i])) << i;
  const TiffInfo info = read_tiff_info(path);
  EXPECT_EQ(info.bits_per_sample, 16);
  EXPECT_EQ(info.sample_format, 1);
}

TEST(TiffIo, FloatWrittenAsUInt16IsRoundedAndClamped) {
  const std::string path = scratch("clamp.tif");
  const std::vector<float> in = {-5.f, 0.4f, 0.5f, 1.5f, 65534.6f, 7e4f, std::nanf(""), 1234.f};
  ImageF img(in.size(), 1);
  std::copy(in.begin(), in.end(), img.begin());
  TiffWriteOptions opt;
  opt.pixel = TiffPixel::UInt16;
  write_tiff(path, img.view(), opt);
  const ImageF back = read_tiff(path);
  const std::vector<float> want = {0, 0, 1, 2, 65535, 65535, 0, 1234};
  EXPECT_EQ(std::vector<float>(back.begin(), back.end()), want);
}

TEST(TiffIo, UncompressedRegionOfALargerImage) {
  const std::string path = scratch("region.tif");
  const ImageF big = ramp(50, 40);
  const ImageView<const float> region = big.view().region(7, 5, 20, 30);  // stride 50
  TiffWriteOptions opt;
  opt.deflate = false;
  write_tiff(path, region, opt);
  expect_equal(read_tiff(path), to_image(region));
}

TEST(TiffIo, BigTiffRoundTrip) {
  const std::string path = scratch("big.tif");
  const ImageF img = ramp(64, 48);
  TiffWriteOptions opt;
  opt.bigtiff = true;
  write_tiff(path, img.view(), opt);
  EXPECT_TRUE(read_tiff_info(path).bigtiff);
  expect_equal(read_tiff(path), img);
}

TEST(TiffIo, NoTemporaryFileLeftAfterSuccess) {
  const std::string path = scratch("clean.tif");
  write_tiff(path, ramp(8, 8).view(), TiffWriteOptions{});
  for (const auto& e : fs::directory_iterator(fs::path(path).parent_path()))
    EXPECT_FALSE(contains(e.path().filename().string(), "clean.tif.tmp.")) << e.path();
}

// ---------------------------------------------------------------------------------------------
// Files written by other software (raw libtiff)

TEST(TiffIo, ReadsIntegerAndFloatSampleTypes) {
  check_raw_type<std::uint8_t>(8, SAMPLEFORMAT_UINT, {0, 1, 127, 128, 255});
  check_raw_type<std::int8_t>(8, SAMPLEFORMAT_INT, {-128, -1, 0, 1, 127});
  check_raw_type<std::uint16_t>(16, SAMPLEFORMAT_UINT, {0, 1, 40000, 65535});
  check_raw_type<std::int16_t>(16, SAMPLEFORMAT_INT, {-32768, -300, 0, 7, 32767});
  check_raw_type<std::uint32_t>(32, SAMPLEFORMAT_UINT, {0, 1, 70000, 16777216, 4000000000u});
  check_raw_type<std::int32_t>(32, SAMPLEFORMAT_INT, {-2000000000, -5, 0, 5, 123456});
  check_raw_type<float>(32, SAMPLEFORMAT_IEEEFP, {-1.5f, 0.f, 3.25f, 1e-20f, 6e30f});
}

TEST(TiffIo, ReadsTiledFilesWithPartialEdgeTiles) {
  const std::string path = scratch("tiled.tif");
  std::vector<std::uint16_t> values(40 * 23);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<std::uint16_t>(i * 13 + 1);
  RawLayout l;
  l.tile = 16;  // 40 x 23 -> 3 x 2 tiles, the right and bottom ones partly outside the image
  l.compression = COMPRESSION_LZW;
  write_raw<std::uint16_t>(path, 40, 23, values, l);
  EXPECT_TRUE(read_tiff_info(path).tiled);
  expect_equal(read_tiff(path), expected_from<std::uint16_t>(40, 23, values));
}

// ---------------------------------------------------------------------------------------------
// Stacks

TEST(TiffIo, StackPageSelectionAndMean) {
  const std::string path = scratch("stack.tif");
  // Page p (0-based) = base + 10 p: pages 3-5 (1-based) average to page 4 exactly.
  std::vector<ImageF> pages;
  for (int p = 0; p < 5; ++p) pages.push_back(ramp(33, 21, 10.0f * p));
  write_tiff_stack(path,
                   {pages[0].view(), pages[1].view(), pages[2].view(), pages[3].view(), pages[4].view()},
                   TiffWriteOptions{});

  EXPECT_EQ(read_tiff_info(path).pages, 5u);
  expect_equal(read_tiff(path, 3), pages[3]);  // 0-based page index
  expect_equal(read_tiff_mean(path, parse_page_range("3-5")), pages[3]);
  expect_equal(read_tiff_mean(path, parse_page_range("3-")), pages[3]);
  expect_equal(read_tiff_mean(path, parse_page_range("2")), pages[1]);
  expect_equal(read_tiff_mean(path, parse_page_range("all")), pages[2]);
}

TEST(TiffIo, AStackShorterThanAskedAveragesThePagesAskedForThatItHas) {
  const std::string path = scratch("short_stack.tif");
  std::vector<ImageF> pages;
  for (int p = 0; p < 4; ++p) pages.push_back(ramp(9, 7, 10.0f * p));
  write_tiff_stack(path, {pages[0].view(), pages[1].view(), pages[2].view(), pages[3].view()}, TiffWriteOptions{});
  std::string note;
  // Pages 3-5 of 4: pages 3 and 4 (their mean is page 3's ramp + 5), not the blurred first ones.
  const ImageF mean = read_tiff_mean_or_all(path, parse_page_range("3-5"), note);
  EXPECT_FLOAT_EQ(mean(0, 0), pages[2](0, 0) + 5.0f);
  EXPECT_NE(note.find("4 pages, fewer than the pages 3-5 asked for: averaging pages 3-4"), std::string::npos) << note;
  // None of the pages asked for: all of them, said.
  const ImageF all = read_tiff_mean_or_all(path, parse_page_range("6-8"), note);
  EXPECT_FLOAT_EQ(all(0, 0), pages[0](0, 0) + 15.0f);
  EXPECT_NE(note.find("averaging all pages"), std::string::npos) << note;
}

TEST(TiffIo, PageOutOfRangeNamesFileAndPageCount) {
  const std::string path = scratch("two_pages.tif");
  const ImageF a = ramp(8, 8), b = ramp(8, 8, 1);
  write_tiff_stack(path, {a.view(), b.view()}, TiffWriteOptions{});
  expect_input_error([&] { read_tiff(path, 2); }, {path, "2 pages"});
  expect_input_error([&] { read_tiff_mean(path, PageRange{2, 3}); }, {path, "2 pages"});
}

TEST(TiffIo, MeanOfPagesWithDifferentSizesIsAnInputError) {
  const std::string path = scratch("mixed.tif");
  const ImageF a = ramp(8, 8), b = ramp(9, 8);
  write_tiff_stack(path, {a.view(), b.view()}, TiffWriteOptions{});
  expect_input_error([&] { read_tiff_mean(path, PageRange{}); }, {path, "9 x 8"});
}

// ---------------------------------------------------------------------------------------------
// Metadata

TEST(TiffIo, PixelSizeRoundTripsThroughResolutionTags) {
  const std::string path = scratch("scale.tif");
  TiffWriteOptions opt;
  opt.pixel_nm = 107.5;
  write_tiff(path, ramp(16, 16).view(), opt);
  const TiffInfo info = read_tiff_info(path);
  EXPECT_EQ(info.pixel_nm, 107.5);  // rationals pass through libtiff's float; float noise is rounded off
  EXPECT_TRUE(contains(info.description, "ImageJ=")) << info.description;
  EXPECT_TRUE(contains(info.description, "\nunit=um\n")) << info.description;
  opt.pixel_nm = 108;  // a camera pixel: the float rational alone reads back as 107.99999865
  write_tiff(scratch("scale108.tif"), ramp(16, 16).view(), opt);
  EXPECT_EQ(read_tiff_info(scratch("scale108.tif")).pixel_nm, 108.0);

  // The tags themselves, as any TIFF reader sees them.
  TIFF* t = TIFFOpen(path.c_str(), "r");
  ASSERT_NE(t, nullptr);
  float x_res = 0, y_res = 0;
  std::uint16_t unit = 0;
  EXPECT_TRUE(TIFFGetField(t, TIFFTAG_XRESOLUTION, &x_res));
  EXPECT_TRUE(TIFFGetField(t, TIFFTAG_YRESOLUTION, &y_res));
  EXPECT_TRUE(TIFFGetField(t, TIFFTAG_RESOLUTIONUNIT, &unit));
  TIFFClose(t);
  EXPECT_FLOAT_EQ(x_res, float(1e7 / 107.5));
  EXPECT_FLOAT_EQ(y_res, float(1e7 / 107.5));
  EXPECT_EQ(unit, RESUNIT_CENTIMETER);
}

TEST(TiffIo, PixelSizeFromInchResolutionAndImageJUnit) {
  // Inch: 160 nm pixels are 2.54e7 / 160 = 158750 pixels per inch.
  const std::string inch = scratch("inch.tif");
  write_raw<std::uint16_t>(inch, 4, 4, {1}, RawLayout{});
  TIFF* t = TIFFOpen(inch.c_str(), "r+");
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(TIFFSetField(t, TIFFTAG_XRESOLUTION, 158750.0));
  ASSERT_TRUE(TIFFSetField(t, TIFFTAG_YRESOLUTION, 158750.0));
  ASSERT_TRUE(TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH));
  ASSERT_TRUE(TIFFRewriteDirectory(t));
  TIFFClose(t);
  EXPECT_NEAR(read_tiff_info(inch).pixel_nm, 160.0, 1e-3);

  // No unit, ImageJ description in microns (how ImageJ and tifffile save): 10 px per um.
  const std::string ij = scratch("imagej.tif");
  write_raw<std::uint16_t>(ij, 4, 4, {1}, RawLayout{});
  t = TIFFOpen(ij.c_str(), "r+");
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(TIFFSetField(t, TIFFTAG_XRESOLUTION, 10.0));
  ASSERT_TRUE(TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_NONE));
  ASSERT_TRUE(TIFFSetField(t, TIFFTAG_IMAGEDESCRIPTION, "ImageJ=1.54f\nunit=micron\n"));
  ASSERT_TRUE(TIFFRewriteDirectory(t));
  TIFFClose(t);
  EXPECT_NEAR(read_tiff_info(ij).pixel_nm, 100.0, 1e-4);
}

TEST(TiffIo, DescriptionIsAppendedAsImageJCommentLines) {
  const std::string path = scratch("described.tif");
  TiffWriteOptions opt;
  opt.description = "run 7\nfov=3";
  write_tiff(path, ramp(4, 4).view(), opt);
  EXPECT_EQ(read_tiff_info(path).description, "ImageJ=1.53t\n# run 7\n# fov=3\n");
}

// ---------------------------------------------------------------------------------------------
// Page ranges

TEST(ParsePageRange, AcceptsAllSingleClosedAndOpenRanges) {
  const auto check = [](const std::string& spec, std::size_t first, std::size_t last) {
    const PageRange r = parse_page_range(spec);
    EXPECT_EQ(r.first, first) << spec;
    EXPECT_EQ(r.last, last) << spec;
  };
  check("all", 1, 0);
  check("3", 3, 3);
  check("3-5", 3, 5);
  check("3-", 3, 0);
  check(" 2-4 ", 2, 4);
}

TEST(ParsePageRange, RejectsBadSpecsNamingThem) {
  for (const std::string spec : {"", "0", "5-3", "abc", "3-x", "-3", "1-2-3", "3 5", "0-2", "+3", "3.5"})
    expect_input_error([&] { parse_page_range(spec); }, {"'" + spec + "'"});
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST(TiffIo, RgbIsRejectedNamingFileAndSamples) {
  const std::string path = scratch("rgb.tif");
  RawLayout l;
  l.bits = 8;
  l.samples = 3;
  l.photometric = PHOTOMETRIC_RGB;
  write_raw<std::uint8_t>(path, 5, 5, {10, 20, 30}, l);
  EXPECT_EQ(read_tiff_info(path).samples_per_pixel, 3);  // info describes, read refuses
  expect_input_error([&] { read_tiff(path); }, {path, "RGB", "3 samples per pixel"});
}

TEST(TiffIo, OtherUnsupportedLayoutsAreNamed) {
  const std::string f64 = scratch("f64.tif");
  RawLayout l;
  l.bits = 64;
  l.format = SAMPLEFORMAT_IEEEFP;
  write_raw<double>(f64, 4, 4, {1.0}, l);
  expect_input_error([&] { read_tiff(f64); }, {f64, "64-bit floating point"});

  const std::string white = scratch("miniswhite.tif");
  l = RawLayout{};
  l.photometric = PHOTOMETRIC_MINISWHITE;
  write_raw<std::uint16_t>(white, 4, 4, {1}, l);
  expect_input_error([&] { read_tiff(white); }, {white, "MinIsWhite"});

  const std::string two = scratch("two_samples.tif");
  l = RawLayout{};
  l.samples = 2;
  write_raw<std::uint16_t>(two, 4, 4, {1}, l);
  expect_input_error([&] { read_tiff(two); }, {two, "2 samples per pixel"});
}

TEST(TiffIo, MissingFileIsAnErrorNamingThePath) {
  const std::string path = scratch("does_not_exist.tif");
  try {
    read_tiff(path);
    FAIL() << "expected an error";
  } catch (const IoError& e) {
    EXPECT_TRUE(contains(e.what(), path)) << e.what();
  }
  EXPECT_THROW(read_tiff_info(path), IoError);
}

TEST(TiffIo, RandomBytesAfterATiffHeaderAreAnInputError) {
  const std::string path = scratch("random.tif");
  std::mt19937 rng(42);
  std::string bytes = std::string("II*\0\x08\0\0\0", 8);
  for (int i = 0; i < 4096; ++i) bytes += static_cast<char>(rng() & 0xFF);
  std::ofstream(path, std::ios::binary) << bytes;
  expect_input_error([&] { read_tiff(path); }, {path, "libtiff"});
}

TEST(TiffIo, TruncatedFileIsAnInputError) {
  const std::string path = scratch("truncated.tif");
  write_tiff(path, ramp(128, 128).view(), TiffWriteOptions{});
  fs::resize_file(path, fs::file_size(path) / 2);
  expect_input_error([&] { read_tiff(path); }, {path, "libtiff"});
}

TEST(TiffIo, TruncatedStackIsAnInputErrorNotFewerPages) {
  // A 5-page stack cut inside the directory of page 2: the pages before it read fine, but the
  // file is corrupt, so counting (and averaging) must not go on with 1 page.
  const std::string path = scratch("truncated_stack.tif");
  const ImageF page = ramp(64, 64);
  write_tiff_stack(path, {page.view(), page.view(), page.view(), page.view(), page.view()}, TiffWriteOptions{});
  TIFF* t = TIFFOpen(path.c_str(), "r");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(TIFFSetDirectory(t, 1), 1);
  const std::uint64_t second_directory = TIFFCurrentDirOffset(t);
  TIFFClose(t);
  fs::resize_file(path, second_directory + 2);
  expect_input_error([&] { read_tiff_mean(path, PageRange{}); }, {path, "directory after page 1"});
  expect_input_error([&] { read_tiff_info(path); }, {path, "truncated"});
}

TEST(TiffIo, CorruptCompressedDataIsAnInputError) {
  const std::string path = scratch("corrupt_strip.tif");
  write_tiff(path, ramp(128, 128).view(), TiffWriteOptions{});
  // Overwrite the first strip's deflate stream in place; the directory stays valid.
  TIFF* t = TIFFOpen(path.c_str(), "r");
  ASSERT_NE(t, nullptr);
  std::uint64_t* offsets = nullptr;
  ASSERT_TRUE(TIFFGetField(t, TIFFTAG_STRIPOFFSETS, &offsets));
  const std::uint64_t offset = offsets[0];
  TIFFClose(t);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f << std::string(64, '\xA5');
  f.close();
  expect_input_error([&] { read_tiff(path); }, {path, "libtiff"});
}

TEST(TiffIo, FailedWriteIsAnIoErrorAndLeavesNothing) {
  const fs::path dir = fs::path(scratch("no_such_dir"));
  const std::string path = (dir / "out.tif").string();
  try {
    write_tiff(path, ramp(8, 8).view(), TiffWriteOptions{});
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_TRUE(contains(e.what(), path)) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir));

  // The final rename fails (a folder is in the way) after a complete write: no temporary remains.
  const fs::path blocked = fs::path(scratch("blocked"));
  fs::create_directories(blocked / "occupied.tif" / "child");
  EXPECT_THROW(write_tiff((blocked / "occupied.tif").string(), ramp(8, 8).view(), TiffWriteOptions{}),
               IoError);
  for (const auto& e : fs::directory_iterator(blocked)) EXPECT_EQ(e.path().filename(), "occupied.tif");
}

TEST(TiffIo, EmptyImageIsRejectedBeforeCreatingAFile) {
  const std::string path = scratch("empty.tif");
  const ImageF empty;
  EXPECT_THROW(write_tiff(path, empty.view(), TiffWriteOptions{}), std::invalid_argument);
  EXPECT_THROW(write_tiff_stack(path, {}, TiffWriteOptions{}), std::invalid_argument);
  EXPECT_FALSE(fs::exists(path));
}
