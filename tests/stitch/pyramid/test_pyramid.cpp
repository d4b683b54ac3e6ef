// Pure parts of the pyramid module: level plan, 2x2 rounding, histograms, codecs, XML text.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "pyramid/chunk_codec.hpp"
#include "pyramid/metadata_text.hpp"
#include "pyramid/pyramid.hpp"

using namespace annamosaic;

TEST(PlanPyramid, GigapixelMosaicHasEightLevelsDownToOneChunk) {
  const auto L = plan_pyramid(33180, 33180);
  ASSERT_EQ(L.size(), 8u);
  const std::size_t expect[] = {33180, 16590, 8295, 4147, 2073, 1036, 518, 259};
  for (std::size_t r = 0; r < L.size(); ++r) {
    EXPECT_EQ(L[r].width, expect[r]);
    EXPECT_EQ(L[r].height, expect[r]);
  }
  EXPECT_EQ(L[0].padded_width(), 33792u);   // 33 chunks of 1024
  EXPECT_EQ(L[0].padded_height(), 33280u);  // 65 chunks of 512
  EXPECT_EQ(L.back().chunks(), 1u);
}

TEST(PlanPyramid, OddAndThinSizes) {
  auto L = plan_pyramid(3001, 2101);
  ASSERT_EQ(L.size(), 4u);  // 3001x2101, 1500x1050, 750x525, 375x262
  EXPECT_EQ(L[1].width, 1500u);
  EXPECT_EQ(L[1].height, 1050u);
  EXPECT_EQ(L[3].width, 375u);
  EXPECT_EQ(L[3].height, 262u);
  EXPECT_EQ(plan_pyramid(1024, 512).size(), 1u);   // one chunk already
  EXPECT_EQ(plan_pyramid(1025, 512).size(), 2u);
  EXPECT_EQ(plan_pyramid(5000, 1).size(), 1u);     // cannot halve a 1-pixel side
  EXPECT_EQ(plan_pyramid(5000, 3).size(), 2u);     // 5000x3 -> 2500x1, then stop
  EXPECT_THROW(plan_pyramid(0, 10), std::invalid_argument);
}

TEST(Downsample, RoundsHalfUpAndDropsOddEdge) {
  // 3 x 2 source: the odd third column never reaches level 1.
  ImageU16 src(3, 2);
  src(0, 0) = 0, src(1, 0) = 0, src(0, 1) = 0, src(1, 1) = 2;  // mean 0.5 -> 1 (half up)
  src(2, 0) = 60000, src(2, 1) = 60000;
  ImageU16 dst(1, 1);
  downsample_2x2(src.view(), dst.view());
  EXPECT_EQ(dst(0, 0), 1);
  ImageU16 a(2, 2);
  a(0, 0) = 0, a(1, 0) = 0, a(0, 1) = 0, a(1, 1) = 1;  // mean 0.25 -> 0
  downsample_2x2(a.view(), dst.view());
  EXPECT_EQ(dst(0, 0), 0);
  a(0, 0) = 1, a(1, 0) = 2, a(0, 1) = 2, a(1, 1) = 2;  // mean 1.75 -> 2
  downsample_2x2(a.view(), dst.view());
  EXPECT_EQ(dst(0, 0), 2);
  a(0, 0) = 65535, a(1, 0) = 65535, a(0, 1) = 65535, a(1, 1) = 65534;  // no overflow, 65534.75 -> 65535
  downsample_2x2(a.view(), dst.view());
  EXPECT_EQ(dst(0, 0), 65535);
  ImageU16 wrong(2, 1);
  EXPECT_THROW(downsample_2x2(src.view(), wrong.view()), std::invalid_argument);
}

TEST(Downsample, MatchesFloatMeanWithinRoundingOnRandomData) {
  std::mt19937 rng(3);
  ImageU16 src(101, 77), dst(50, 38);
  for (auto& v : src) v = static_cast<std::uint16_t>(rng());
  // A strided source view (a region of a bigger image) must work too.
  ImageU16 big(120, 90);
  for (std::size_t y = 0; y < 77; ++y)
    for (std::size_t x = 0; x < 101; ++x) big(x + 5, y + 3) = src(x, y);
  downsample_2x2(big.view().region(5, 3, 101, 77), dst.view());
  for (std::size_t y = 0; y < 38; ++y)
    for (std::size_t x = 0; x < 50; ++x) {
      const double m = (double(src(2 * x, 2 * y)) + src(2 * x + 1, 2 * y) + src(2 * x, 2 * y + 1) + src(2 * x + 1, 2 * y + 1)) / 4;
      ASSERT_LE(std::abs(double(dst(x, y)) - m), 0.5) << x << "," << y;
      ASSERT_EQ(dst(x, y), static_cast<std::uint16_t>(std::floor(m + 0.5)));
    }
}

TEST(Histogram, RebinAndPercentiles) {
  FullHistogram full(kFullHistogramBins, 0);
  full[10] = 5;
  full[11] = 1;
  full[1033] = 4;
  const auto h = rebin_histogram(full, 256);
  EXPECT_EQ(h.min, 10);
  EXPECT_EQ(h.max, 1033);
  ASSERT_EQ(h.counts.size(), 256u);
  // span 1024 values over 256 bins: 4 values per bin
  EXPECT_EQ(h.counts[0], 6u);
  EXPECT_EQ(h.counts[255], 4u);
  std::uint64_t total = 0;
  for (auto c : h.counts) total += c;
  EXPECT_EQ(total, 10u);
  EXPECT_EQ(histogram_percentile(full, 0), 10);
  EXPECT_EQ(histogram_percentile(full, 50), 11);  // rank round(0.5 * 9) = 5: the sixth value
  EXPECT_EQ(histogram_percentile(full, 100), 1033);
  const auto empty = rebin_histogram(FullHistogram(kFullHistogramBins, 0), 1024);
  EXPECT_EQ(empty.min, 0);
  EXPECT_EQ(empty.max, 0);
  // One value only: everything in bin 0.
  FullHistogram one(kFullHistogramBins, 0);
  one[65535] = 7;
  const auto h1 = rebin_histogram(one, 1024);
  EXPECT_EQ(h1.counts[0], 7u);
  EXPECT_EQ(h1.min, 65535);
}

TEST(Histogram, CountValuesAddsToCounters) {
  ImageU16 img(4, 3);
  img(1, 1) = 9;
  img(3, 2) = 300;
  std::vector<std::uint32_t> counts(kFullHistogramBins, 0);
  counts[9] = 5;
  count_values(img.view().region(1, 1, 3, 2), counts.data());  // strided region: 4 zeros, 9, 300
  EXPECT_EQ(counts[0], 4u);
  EXPECT_EQ(counts[9], 6u);
  EXPECT_EQ(counts[300], 1u);
}

TEST(ChunkCodec, ImsChunkIsShuffleThenZlibAndPadsWithZero) {
  std::mt19937 rng(1);
  ImageU16 src(700, 300);  // smaller than the chunk: edge chunk
  for (auto& v : src) v = static_cast<std::uint16_t>(rng() % 5000);
  const auto bytes = encode_ims_chunk(src.view(), 1024, 512, 2);
  // Independent decode with plain zlib + manual unshuffle.
  std::vector<std::uint8_t> raw(1024 * 512 * 2);
  uLongf n = raw.size();
  ASSERT_EQ(uncompress(raw.data(), &n, bytes.data(), bytes.size()), Z_OK);
  ASSERT_EQ(n, raw.size());
  for (std::size_t y = 0; y < 512; ++y)
    for (std::size_t x = 0; x < 1024; ++x) {
      const std::size_t i = y * 1024 + x;
      const std::uint16_t v = static_cast<std::uint16_t>(raw[i] | (raw[1024 * 512 + i] << 8));
      const std::uint16_t expect = (x < 700 && y < 300) ? src(x, y) : 0;
      ASSERT_EQ(v, expect) << x << "," << y;
    }
  const ImageU16 back = decode_ims_chunk(bytes.data(), bytes.size(), 1024, 512);
  EXPECT_EQ(back(699, 299), src(699, 299));
  ImageU16 too_big(1025, 10);
  EXPECT_THROW(encode_ims_chunk(too_big.view(), 1024, 512, 2), std::invalid_argument);
  EXPECT_THROW(encode_ims_chunk(src.view(), 1024, 512, 0), std::invalid_argument);
}

TEST(ChunkCodec, Float32ChunkIsFourPlaneShuffleThenZlibAndPadsWithZero) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 100.0f);
  ImageF src(200, 150);  // edge chunk of a 256 x 256 grid
  for (auto& v : src) v = normal(rng);
  const auto bytes = encode_f32_chunk(src.view(), 256, 256, 1);
  // Independent decode: plain zlib, then byte b of element i is at b * n + i.
  const std::size_t n = 256 * 256;
  std::vector<std::uint8_t> raw(4 * n);
  uLongf got = raw.size();
  ASSERT_EQ(uncompress(raw.data(), &got, bytes.data(), bytes.size()), Z_OK);
  ASSERT_EQ(got, raw.size());
  for (std::size_t y = 0; y < 256; ++y)
    for (std::size_t x = 0; x < 256; ++x) {
      const std::size_t i = y * 256 + x;
      const std::uint32_t u = raw[i] | (raw[n + i] << 8) | (raw[2 * n + i] << 16) | (static_cast<std::uint32_t>(raw[3 * n + i]) << 24);
      float v;
      std::memcpy(&v, &u, 4);
      const float expect = (x < 200 && y < 150) ? src(x, y) : 0.0f;
      ASSERT_EQ(v, expect) << x << "," << y;
    }
  const ImageF back = decode_f32_chunk(bytes.data(), bytes.size(), 256, 256);
  EXPECT_EQ(back(199, 149), src(199, 149));
  EXPECT_THROW(encode_f32_chunk(src.view(), 128, 256, 1), std::invalid_argument);
}

TEST(ChunkCodec, EveryEncoderWritesAZlibStreamThatPlainZlibDecodes) {
  EXPECT_EQ(parse_deflate_encoder("libdeflate"), DeflateEncoder::Libdeflate);
  EXPECT_EQ(parse_deflate_encoder("zlib-rle"), DeflateEncoder::ZlibRle);
  EXPECT_EQ(parse_deflate_encoder("zlib"), DeflateEncoder::Zlib);
  EXPECT_THROW(parse_deflate_encoder("rle"), std::invalid_argument);
  EXPECT_STREQ(deflate_encoder_name(DeflateEncoder::ZlibRle), "zlib-rle");

  std::mt19937 rng(4);
  std::normal_distribution<float> normal(50.0f, 10.0f);
  ImageF src(256, 256);
  for (auto& v : src) v = normal(rng);
  std::vector<std::uint8_t> ref;
  for (DeflateEncoder e : {DeflateEncoder::Libdeflate, DeflateEncoder::ZlibRle, DeflateEncoder::Zlib})
    for (int level : {1, 6, 9}) {
      SCOPED_TRACE(std::string(deflate_encoder_name(e)) + " level " + std::to_string(level));
      const auto bytes = encode_f32_chunk(src.view(), 256, 256, level, e);
      std::vector<std::uint8_t> raw(4 * 256 * 256);
      uLongf got = raw.size();
      ASSERT_EQ(uncompress(raw.data(), &got, bytes.data(), bytes.size()), Z_OK);
      ASSERT_EQ(got, raw.size());
      if (ref.empty()) ref = raw;
      EXPECT_EQ(raw, ref);  // the same shuffled bytes, whoever compressed them
      const ImageF back = decode_f32_chunk(bytes.data(), bytes.size(), 256, 256);
      EXPECT_TRUE(std::equal(back.begin(), back.end(), src.begin()));
    }
  EXPECT_THROW(encode_f32_chunk(src.view(), 256, 256, 10), std::invalid_argument);
}

TEST(ChunkCodec, DecodeIntoAnEdgeRegionAndRejectCorruptStreams) {
  ImageF src(100, 40);  // an edge chunk's valid part
  for (std::size_t i = 0; i < src.size(); ++i) src.data()[i] = static_cast<float>(i) * 0.5f - 7.0f;
  const auto bytes = encode_f32_chunk(src.view(), 128, 64, 1);
  ImageF canvas(300, 100);
  std::fill(canvas.begin(), canvas.end(), -1.0f);
  decode_f32_chunk_into(bytes.data(), bytes.size(), 128, 64, canvas.view().region(10, 20, 100, 40));
  for (std::size_t y = 0; y < 100; ++y)
    for (std::size_t x = 0; x < 300; ++x) {
      const bool inside = x >= 10 && x < 110 && y >= 20 && y < 60;
      ASSERT_EQ(canvas(x, y), inside ? src(x - 10, y - 20) : -1.0f) << x << "," << y;
    }
  EXPECT_THROW(decode_f32_chunk_into(bytes.data(), bytes.size(), 128, 64, canvas.view().region(0, 0, 129, 10)),
               std::invalid_argument);
  // A chunk that decodes to fewer bytes than the chunk's size, and a damaged stream.
  EXPECT_THROW(decode_f32_chunk(bytes.data(), bytes.size(), 128, 32), std::runtime_error);
  EXPECT_THROW(decode_f32_chunk(bytes.data(), bytes.size(), 128, 128), std::runtime_error);
  auto damaged = bytes;
  for (std::size_t i = 2; i < damaged.size(); i += 3) damaged[i] ^= 0x5A;
  EXPECT_THROW(decode_f32_chunk(damaged.data(), damaged.size(), 128, 64), std::runtime_error);
}

TEST(ChunkCodec, TiffTileRoundTripWithPredictorAndPadding) {
  std::mt19937 rng(2);
  ImageU16 src(300, 200);
  for (auto& v : src) v = static_cast<std::uint16_t>(rng());
  const auto bytes = encode_tiff_tile(src.view(), 512, 6);
  const ImageU16 back = decode_tiff_tile(bytes.data(), bytes.size(), 512);
  for (std::size_t y = 0; y < 512; ++y)
    for (std::size_t x = 0; x < 512; ++x) ASSERT_EQ(back(x, y), (x < 300 && y < 200) ? src(x, y) : 0) << x << "," << y;
}

TEST(MetadataText, NumbersColoursEscaping) {
  EXPECT_EQ(format_number(0.02), "0.02");
  EXPECT_EQ(format_number(663.6), "663.6");
  EXPECT_EQ(format_number(1), "1");
  EXPECT_EQ(xml_escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
  EXPECT_EQ(ome_color("1 1 1"), -1);
  EXPECT_EQ(ome_color("1 0 0"), static_cast<std::int32_t>(0xFF0000FFu));
  EXPECT_EQ(ome_color("0 1 0"), 0x00FF00FF);
  EXPECT_THROW(ome_color("red"), std::invalid_argument);
  EXPECT_THROW(ome_color("1 2 0"), std::invalid_argument);
}

TEST(MetadataText, BdvAndOmeXml) {
  MosaicTextInfo ti;
  ti.name = "m<1>";
  ti.width = 3000;
  ti.height = 2000;
  ti.pixel_um = 0.02;
  ti.channel_names = {"reconstruction", "error map"};
  ti.channel_colors = {"1 0 1", "0 1 0"};
  const std::string bdv = bdv_xml(ti, "mosaic.ims");
  EXPECT_NE(bdv.find("<ImageLoader format=\"ims\">"), std::string::npos);
  EXPECT_NE(bdv.find("<ims type=\"relative\">mosaic.ims</ims>"), std::string::npos);
  EXPECT_NE(bdv.find("<size>3000 2000 1</size>"), std::string::npos);
  // The translation is the first pixel's centre (BigDataViewer maps pixel centres), half a pixel
  // inside the mosaic's edge (the .ims ExtMin).
  EXPECT_NE(bdv.find("<affine>0.02 0.0 0.0 0.01 0.0 0.02 0.0 0.01 0.0 0.0 0.02 0.01</affine>"), std::string::npos);
  for (const char* a : {"<illumination>0</illumination>", "<tile>0</tile>", "<angle>0</angle>", "<Attributes name=\"tile\">",
                        "<Attributes name=\"angle\">", "<Attributes name=\"illumination\">"})
    EXPECT_NE(bdv.find(a), std::string::npos) << a;  // BigStitcher needs them on every view
  EXPECT_NE(bdv.find("<ViewRegistration timepoint=\"0\" setup=\"1\">"), std::string::npos);
  const std::string ome = ome_xml(ti);
  EXPECT_NE(ome.find("Name=\"m&lt;1&gt;\""), std::string::npos);
  EXPECT_NE(ome.find("PhysicalSizeX=\"0.02\""), std::string::npos);
  {  // a file that gives no pixel size (another writer's, without extents): none said, not 0
    MosaicTextInfo unknown = ti;
    unknown.pixel_um = 0;
    EXPECT_EQ(ome_xml(unknown).find("PhysicalSize"), std::string::npos);
  }
  EXPECT_NE(ome.find("SizeC=\"2\""), std::string::npos);
  EXPECT_NE(ome.find("<TiffData IFD=\"1\" FirstC=\"1\""), std::string::npos);
  EXPECT_EQ(ome.find("Annotation"), std::string::npos);  // no scales given, none said
  // The stored-to-value key of each channel, where OMERO and QuPath show it.
  ti.channel_scales = {65535, 16384};
  ti.channel_descriptions = {"A in [0, 1]", "E & more"};
  const std::string annotated = ome_xml(ti);
  // The schema's Channel sequence: AnnotationRef before LightPath (a validating reader refused
  // the other order, probe94).
  EXPECT_NE(annotated.find("<AnnotationRef ID=\"Annotation:1\"/><LightPath/></Channel>"), std::string::npos);
  EXPECT_NE(annotated.find("<MapAnnotation ID=\"Annotation:1\" Namespace=\"annamosaic/channel\"><Value><M K=\"channel\">error "
                           "map</M><M K=\"value\">stored / 16384</M><M K=\"description\">E &amp; more</M></Value></MapAnnotation>"),
            std::string::npos);
  EXPECT_LT(annotated.find("</Image>"), annotated.find("<StructuredAnnotations>"));  // the schema's order
  EXPECT_EQ(annotated.find("<Description>"), std::string::npos);  // none given, none said
  // The mosaic's description and attributes (missing tiles, failed FoVs), which an OME-TIFF alone
  // lost (probe94): the Image's Description before its Pixels, and its own MapAnnotation.
  ti.description = "stitch of tiles; tiles left out (no file): ids 4 & 7";
  ti.attributes = {{"QC failed_fovs", "2"}, {"QC residual_px", "0.3"}};
  const std::string described = ome_xml(ti);
  EXPECT_NE(described.find("<Description>stitch of tiles; tiles left out (no file): ids 4 &amp; 7</Description>"),
            std::string::npos);
  EXPECT_LT(described.find("<Description>"), described.find("<Pixels "));
  EXPECT_NE(described.find("    </Pixels>\n    <AnnotationRef ID=\"Annotation:2\"/>\n  </Image>"), std::string::npos);
  EXPECT_NE(described.find("<MapAnnotation ID=\"Annotation:2\" Namespace=\"annamosaic/mosaic\"><Value><M K=\"QC "
                           "failed_fovs\">2</M><M K=\"QC residual_px\">0.3</M></Value></MapAnnotation>"),
            std::string::npos);
  ti.description.clear();
  ti.attributes.clear();
  // A mosaic that starts away from the stage origin says where, in both documents.
  ti.origin_x_um = -0.08;
  ti.origin_y_um = 5000.5;
  EXPECT_NE(bdv_xml(ti, "mosaic.ims").find("<affine>0.02 0.0 0.0 -0.07 0.0 0.02 0.0 5000.51 0.0 0.0 0.02 0.01</affine>"),
            std::string::npos);
  EXPECT_NE(ome_xml(ti).find("<Plane TheC=\"1\" TheZ=\"0\" TheT=\"0\" PositionX=\"-0.08\" PositionXUnit=\"µm\" "
                             "PositionY=\"5000.5\""),
            std::string::npos);
}

// The range a viewer opens each channel with: a widefield's uncovered border (zeros far below
// its counts) must not pin the low end to 0; zeros that are data (counts) keep it there.
TEST(Pyramid, DisplayRangeLeavesOutAnUncoveredBorder) {
  FullHistogram wf(65536, 0);
  wf[0] = 2000;                                   // 2% of the mosaic uncovered
  for (int v = 177; v <= 261; ++v) wf[v] = 1000;  // the widefield, in ADU
  const auto [lo, hi] = display_range(wf);
  EXPECT_GE(lo, 177);
  EXPECT_LE(hi, 261);
  EXPECT_GT(hi, lo);
  FullHistogram counts(65536, 0);
  counts[0] = 900000;  // a sparse render: zeros are empty pixels, counts start at 1
  for (int v = 1; v <= 12; ++v) counts[v] = 1000 / v;
  EXPECT_EQ(display_range(counts).first, 0);
  EXPECT_GT(display_range(counts).second, 0);
  FullHistogram empty(65536, 0);
  empty[0] = 10;
  EXPECT_EQ(display_range(empty), (std::pair<std::uint16_t, std::uint16_t>{0, 1}));
}

TEST(Pyramid, DisplayRangeKeepsZerosOfScaledCounts) {
  FullHistogram counts(65536, 0);  // counts stored x 100: values 0, 100, 200, ...
  counts[0] = 900000;
  for (int k = 1; k <= 12; ++k) counts[100 * k] = 1000 / k;
  EXPECT_EQ(display_range(counts).first, 0);
}
