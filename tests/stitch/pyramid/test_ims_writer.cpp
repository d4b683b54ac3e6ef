// IMS writer + reader + OME-TIFF export, single process: round trips against an in-memory
// reference pyramid, any block order from several threads, failure paths (missing/duplicate
// blocks, abandon without finish, uncreatable path, file-size limit as a disk-full stand-in).
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/resource.h>
#include <tbb/parallel_for.h>
#include <tiffio.h>

#include <csignal>
#include <filesystem>
#include <random>

#include "core/error.hpp"
#include "imageio/tiff_io.hpp"
#include "pyramid/ims_reader.hpp"
#include "pyramid/ims_writer.hpp"
#include "pyramid/ome_tiff.hpp"
#include "pyramid/pyramid.hpp"
#include "synthetic_mosaic.hpp"

using namespace annamosaic;
namespace fs = std::filesystem;

namespace {

std::string tmp_dir(const std::string& name) {
  const fs::path d = fs::path(ANNAMOSAIC_TEST_TMP) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

// Level 0 of every channel, generated in memory.
std::vector<ImageU16> level0(const MosaicInfo& info) {
  std::vector<ImageU16> out;
  for (std::size_t c = 0; c < info.channels.size(); ++c) {
    out.emplace_back(info.width_px, info.height_px);
    synthetic::fill(c, 0, 0, out.back().view());
  }
  return out;
}

// Writes every block (except `skip`), in a shuffled order, from several threads.
void write_blocks(BlockSink& sink, const MosaicInfo& info, const std::vector<ImageU16>& img, unsigned seed,
                  long skip = -1) {
  std::vector<std::size_t> order(info.blocks_x() * info.blocks_y());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(seed));
  tbb::parallel_for(std::size_t{0}, order.size(), std::size_t{1}, [&](std::size_t k) {
    const std::size_t i = order[k];
    if (long(i) == skip) return;
    const std::size_t bx = i % info.blocks_x(), by = i / info.blocks_x(), B = info.block_px;
    const std::size_t w = std::min(B, info.width_px - bx * B), h = std::min(B, info.height_px - by * B);
    std::vector<ImageView<const std::uint16_t>> views;
    for (const auto& im : img) views.push_back(ImageView<const std::uint16_t>(im.view()).region(bx * B, by * B, w, h));
    sink.write_block(bx, by, views);
  });
}

// A whole mosaic written to `path` (every block, shuffled, several threads) and finished; its stats.
ImsWriteStats write_mosaic(const std::string& path, const MosaicInfo& info, const std::vector<ImageU16>& img, unsigned seed,
                  const ImsWriterOptions& opt = {}) {
  ImsWriter w(path, info, opt);
  w.open();
  write_blocks(w, info, img, seed);
  w.finish();
  return w.stats();
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

void expect_same(const ImageU16& a, const ImageU16& b, const std::string& what) {
  ASSERT_EQ(a.width(), b.width()) << what;
  ASSERT_EQ(a.height(), b.height()) << what;
  for (std::size_t i = 0; i < a.size(); ++i)
    ASSERT_EQ(a.data()[i], b.data()[i]) << what << " pixel " << i % a.width() << "," << i / a.width();
}

void check_file(const std::string& path, const MosaicInfo& info, const std::vector<ImageU16>& img) {
  ImsReader r(path);
  r.open();
  const ImsInfo& in = r.info();
  const auto plan = plan_pyramid(info.width_px, info.height_px);
  ASSERT_EQ(in.levels.size(), plan.size());
  ASSERT_EQ(in.channels.size(), info.channels.size());
  EXPECT_NEAR(in.pixel_um_x, info.pixel_nm / 1000, 1e-12);
  EXPECT_NEAR(in.pixel_um_y, info.pixel_nm / 1000, 1e-12);
  EXPECT_EQ(in.unit, "um");
  EXPECT_EQ(in.filters, "shuffle, deflate(2)");
  EXPECT_EQ(in.data_type, "uint16");
  for (std::size_t c = 0; c < info.channels.size(); ++c) {
    EXPECT_EQ(in.channels[c].name, info.channels[c].name);
    EXPECT_DOUBLE_EQ(in.channels[c].scale, info.channels[c].scale);
    ImageU16 ref = img[c].clone();
    for (std::size_t l = 0; l < plan.size(); ++l) {
      const auto& L = in.levels[l];
      ASSERT_EQ(L.width, plan[l].width);
      ASSERT_EQ(L.height, plan[l].height);
      EXPECT_EQ(L.stored_width, plan[l].padded_width());
      EXPECT_EQ(L.stored_height, plan[l].padded_height());
      EXPECT_EQ(L.chunk_width, 1024u);
      EXPECT_EQ(L.chunk_height, 512u);
      if (l > 0) {
        ImageU16 next(plan[l].width, plan[l].height);
        downsample_2x2(ref.view(), next.view());
        ref = std::move(next);
      }
      expect_same(r.read(l, c, 0, 0, L.width, L.height), ref, "level " + std::to_string(l) + " channel " + std::to_string(c));
      // Histograms: all true pixels counted, min/max exact.
      std::uint16_t lo = 65535, hi = 0;
      for (auto v : ref) lo = std::min(lo, v), hi = std::max(hi, v);
      EXPECT_EQ(in.channels[c].hist_min[l], lo);
      EXPECT_EQ(in.channels[c].hist_max[l], hi);
      for (bool b1024 : {false, true}) {
        const auto h = r.histogram(l, c, b1024);
        ASSERT_EQ(h.size(), b1024 ? 1024u : 256u);
        std::uint64_t n = 0;
        for (auto v : h) n += v;
        EXPECT_EQ(n, std::uint64_t(ref.size()));
      }
    }
  }
  bool has_qc = false, has_rule = false;
  for (const auto& [g, attrs] : in.info_groups)
    if (g == "Annamosaic")
      for (const auto& [k, v] : attrs) {
        has_qc = has_qc || k == "QC origin";
        has_rule = has_rule || k == "PyramidRule";
      }
  EXPECT_TRUE(has_qc);
  EXPECT_TRUE(has_rule);
}

}  // namespace

TEST(ImsWriter, RoundTripAnyOrderSeveralThreads) {
  const std::string dir = tmp_dir("roundtrip");
  const MosaicInfo info = synthetic::mosaic_info(3000, 2100, 3);
  const auto img = level0(info);
  ImsWriterOptions opt;
  opt.qc = {{"origin", "unit test"}};
  opt.queue_mb = 8;  // small queue: exercises back-pressure
  const ImsWriteStats st = write_mosaic(dir + "/mosaic.ims", info, img, 7, opt);
  EXPECT_EQ(files_in(dir), (std::vector<std::string>{"mosaic.ims", "mosaic.xml"}));
  EXPECT_EQ(st.levels, 4u);
  EXPECT_GT(st.compressed_bytes, 0u);
  EXPECT_GT(st.file_bytes, st.compressed_bytes);
  check_file(dir + "/mosaic.ims", info, img);
}

TEST(ImsWriter, Block2048OddSizesFourChannels) {
  const std::string dir = tmp_dir("block2048");
  const MosaicInfo info = synthetic::mosaic_info(4097, 2051, 4, 2048);
  const auto img = level0(info);
  ImsWriterOptions opt;
  opt.qc = {{"origin", "unit test"}};
  write_mosaic(dir + "/m.ims", info, img, 11, opt);
  check_file(dir + "/m.ims", info, img);
}

TEST(ImsWriter, SingleChunkMosaicHasOneLevel) {
  const std::string dir = tmp_dir("tiny");
  const MosaicInfo info = synthetic::mosaic_info(100, 50, 2);
  const auto img = level0(info);
  ImsWriterOptions opt;
  opt.qc = {{"origin", "unit test"}};
  opt.write_bdv_xml = false;
  write_mosaic(dir + "/t.ims", info, img, 1, opt);
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"t.ims"});
  check_file(dir + "/t.ims", info, img);
}

TEST(ImsWriter, AbandonedWriterLeavesNothing) {
  const std::string dir = tmp_dir("abandon");
  const MosaicInfo info = synthetic::mosaic_info(3000, 2100, 3);
  const auto img = level0(info);
  {
    ImsWriter w(dir + "/mosaic.ims", info);
    w.open();
    write_blocks(w, info, img, 3, /*skip=*/4);
    EXPECT_EQ(files_in(dir).size(), 1u);  // the temporary file only
    EXPECT_NE(files_in(dir)[0].find("mosaic.ims.tmp."), std::string::npos);
  }
  EXPECT_TRUE(files_in(dir).empty());
}

TEST(ImsWriter, MissingBlockFailsFinishWithPath) {
  const std::string dir = tmp_dir("missing");
  const MosaicInfo info = synthetic::mosaic_info(3000, 2100, 1);
  const auto img = level0(info);
  ImsWriter w(dir + "/mosaic.ims", info);
  w.open();
  write_blocks(w, info, img, 3, /*skip=*/5);
  try {
    w.finish();
    FAIL() << "finish() accepted a missing block";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(dir + "/mosaic.ims"), std::string::npos) << msg;
    EXPECT_NE(msg.find("1 of 9 blocks missing"), std::string::npos) << msg;
    EXPECT_NE(msg.find("block (2, 1)"), std::string::npos) << msg;
  }
  EXPECT_TRUE(files_in(dir).empty());
}

TEST(ImsWriter, RejectsBadBlocksAndDescriptions) {
  const std::string dir = tmp_dir("bad");
  MosaicInfo info = synthetic::mosaic_info(3000, 2100, 2);
  const auto img = level0(info);
  ImsWriter w(dir + "/m.ims", info);
  w.open();
  auto views = [&](std::size_t bx, std::size_t by, std::size_t w_, std::size_t h_) {
    std::vector<ImageView<const std::uint16_t>> v;
    for (const auto& im : img) v.push_back(ImageView<const std::uint16_t>(im.view()).region(bx * 1024, by * 1024, w_, h_));
    return v;
  };
  EXPECT_THROW(w.write_block(3, 0, views(0, 0, 1024, 1024)), std::invalid_argument);  // outside the grid
  EXPECT_THROW(w.write_block(2, 0, views(0, 0, 1024, 1024)), std::invalid_argument);  // edge block is 952 wide
  auto one = views(0, 0, 1024, 1024);
  one.pop_back();
  EXPECT_THROW(w.write_block(0, 0, one), std::invalid_argument);  // channel count
  w.write_block(0, 0, views(0, 0, 1024, 1024));
  EXPECT_THROW(w.write_block(0, 0, views(0, 0, 1024, 1024)), std::invalid_argument);  // twice

  MosaicInfo bad = info;
  bad.block_px = 1000;
  EXPECT_THROW(ImsWriter(dir + "/x.ims", bad).open(), std::invalid_argument);
  bad = info;
  bad.channels[0].color = "pink";
  EXPECT_THROW(ImsWriter(dir + "/x.ims", bad).open(), std::invalid_argument);
  bad = info;
  bad.channels.clear();
  EXPECT_THROW(ImsWriter(dir + "/x.ims", bad).open(), std::invalid_argument);
}

TEST(ImsWriter, UncreatablePathIsIoErrorNamingIt) {
  const std::string dir = tmp_dir("nodir");
  const std::string path = dir + "/missing-folder/mosaic.ims";
  ImsWriter w(path, synthetic::mosaic_info(100, 100, 1));
  try {
    w.open();
    FAIL() << "open() succeeded";
  } catch (const IoError& e) {
    EXPECT_EQ(e.path(), path);
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos) << e.what();
  }
}

// Disk full stand-in: RLIMIT_FSIZE makes write() fail (EFBIG) as ENOSPC would; the error must
// surface as an IoError naming the mosaic, and nothing may remain under either name. The limit
// is lifted before finish(): it also applies to the in-memory file that ImsFile::abandon()
// redirects the descriptor to (a real ENOSPC does not; checked by hand on a 3 MB tmpfs).
TEST(ImsWriter, WriteFailureIsReportedWithPathAndLeavesNothing) {
  const std::string dir = tmp_dir("full");
  const MosaicInfo info = synthetic::mosaic_info(4096, 4096, 3);
  const auto img = level0(info);
  struct rlimit old {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  auto* old_handler = std::signal(SIGXFSZ, SIG_IGN);  // write() returns EFBIG instead of killing us
  struct rlimit lim = old;
  lim.rlim_cur = 1 << 20;
  bool threw = false;
  {
    ImsWriterOptions opt;
    opt.queue_mb = 8;  // back-pressure: most chunks are written (and fail) before write_blocks returns
    ImsWriter w(dir + "/mosaic.ims", info, opt);
    w.open();
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
    write_blocks(w, info, img, 5);
    setrlimit(RLIMIT_FSIZE, &old);
    try {
      w.finish();
    } catch (const IoError& e) {
      threw = true;
      EXPECT_EQ(e.path(), dir + "/mosaic.ims");
      EXPECT_NE(std::string(e.what()).find("File too large"), std::string::npos) << e.what();
      // What the system said, without the driver's byte counts and buffer addresses around it.
      EXPECT_EQ(std::string(e.what()).find("bytes actually written"), std::string::npos) << e.what();
    }
  }
  std::signal(SIGXFSZ, old_handler);
  EXPECT_TRUE(threw);
  EXPECT_TRUE(files_in(dir).empty());
}

TEST(OmeTiff, ExportHasSubIfdPyramidAndOmeXml) {
  const std::string dir = tmp_dir("ometiff");
  const MosaicInfo info = synthetic::mosaic_info(3000, 2100, 2);
  const auto img = level0(info);
  write_mosaic(dir + "/m.ims", info, img, 2);
  ImsReader r(dir + "/m.ims");
  r.open();
  // Progress: every tile reported once, against the file's total (6x5 + 3x3 + 2x2 + 1 tiles of 512 px per channel).
  OmeTiffOptions opt;
  std::size_t reported = 0, total = 0;
  opt.tiles_written = [&](std::size_t n, std::size_t of) { reported += n, total = of; };
  const auto st = export_ome_tiff(r, dir + "/m.ome.tif", opt);
  EXPECT_EQ(st.levels, 4u);
  EXPECT_EQ(reported, 88u);
  EXPECT_EQ(total, 88u);
  EXPECT_EQ(st.tiles, 88u);
  // The mosaic's pixels, not the padded tiles'.
  EXPECT_EQ(st.raw_bytes, 2u * 2u * (3000u * 2100u + 1500u * 1050u + 750u * 525u + 375u * 262u));
  // Page c (top-level IFD) is channel c at full resolution.
  for (std::size_t c = 0; c < 2; ++c) {
    const ImageF page = read_tiff(dir + "/m.ome.tif", c);
    ASSERT_EQ(page.width(), 3000u);
    ASSERT_EQ(page.height(), 2100u);
    for (std::size_t i = 0; i < page.size(); ++i) ASSERT_EQ(page.data()[i], float(img[c].data()[i])) << i;
  }
  const TiffInfo ti = read_tiff_info(dir + "/m.ome.tif");
  EXPECT_TRUE(ti.bigtiff);
  EXPECT_TRUE(ti.tiled);
  EXPECT_EQ(ti.pages, 2u);
  EXPECT_NE(ti.description.find("PhysicalSizeX=\"0.02\""), std::string::npos);
  // SubIFDs: 3 reduced levels per channel, each half the size of the one above.
  TIFF* t = TIFFOpen((dir + "/m.ome.tif").c_str(), "r");
  ASSERT_NE(t, nullptr);
  std::uint16_t n = 0;
  toff_t* offs = nullptr;
  ASSERT_EQ(TIFFGetField(t, TIFFTAG_SUBIFD, &n, &offs), 1);
  ASSERT_EQ(n, 3);
  std::vector<toff_t> sub(offs, offs + n);
  const std::uint32_t expect_w[] = {1500, 750, 375};
  for (int k = 0; k < 3; ++k) {
    ASSERT_EQ(TIFFSetSubDirectory(t, sub[k]), 1);
    std::uint32_t ww = 0, type = 0;
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &ww);
    TIFFGetField(t, TIFFTAG_SUBFILETYPE, &type);
    EXPECT_EQ(ww, expect_w[k]);
    EXPECT_EQ(type, 1u);
  }
  TIFFClose(t);
}

TEST(ImsReader, NonImsFilesAreInputErrors) {
  const std::string dir = tmp_dir("reader");
  {
    std::FILE* f = std::fopen((dir + "/junk.ims").c_str(), "wb");
    std::fputs("not hdf5", f);
    std::fclose(f);
  }
  ImsReader junk(dir + "/junk.ims");
  EXPECT_THROW(junk.open(), InputError);
  ImsReader missing(dir + "/none.ims");
  EXPECT_THROW(missing.open(), IoError);
}

TEST(ImsReader, RegionsAreTheSameThroughRawChunksAndThroughHdf5Filters) {
  // Our writer's chunks ("shuffle, deflate", uint16, depth 1) are decoded by the reader itself;
  // a data set stored otherwise (here: deflate alone, 300 x 200 chunks, as another writer might)
  // goes through HDF5. Both must give the written pixels for any region.
  const std::string dir = tmp_dir("reader_paths");
  const MosaicInfo info = synthetic::mosaic_info(2500, 1300, 2);
  const auto img = level0(info);
  write_mosaic(dir + "/m.ims", info, img, 3);
  {
    // Channel 1 of level 0 rewritten with other storage settings.
    hid_t f = H5Fopen((dir + "/m.ims").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    const std::string where = "/DataSet/ResolutionLevel 0/TimePoint 0/Channel 1";
    hid_t g = H5Gopen2(f, where.c_str(), H5P_DEFAULT);
    hid_t old = H5Dopen2(g, "Data", H5P_DEFAULT);
    hid_t space = H5Dget_space(old);
    hsize_t dims[3];
    H5Sget_simple_extent_dims(space, dims, nullptr);
    std::vector<std::uint16_t> padded(dims[1] * dims[2], 0);
    for (std::size_t y = 0; y < 1300; ++y)
      for (std::size_t x = 0; x < 2500; ++x) padded[y * dims[2] + x] = img[1](x, y);
    H5Dclose(old);
    ASSERT_GE(H5Ldelete(g, "Data", H5P_DEFAULT), 0);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    const hsize_t chunk[3] = {1, 200, 300};
    H5Pset_chunk(dcpl, 3, chunk);
    H5Pset_deflate(dcpl, 4);
    hid_t ds = H5Dcreate2(g, "Data", H5T_STD_U16LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ASSERT_GE(ds, 0);
    ASSERT_GE(H5Dwrite(ds, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, padded.data()), 0);
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
    H5Gclose(g);
    H5Fclose(f);
  }
  ImsReader r(dir + "/m.ims");
  r.open();
  std::mt19937 rng(9);
  for (int trial = 0; trial < 20; ++trial) {
    // Any region: inside one chunk, across chunk rows and columns, the whole level, the last pixel.
    std::size_t x0 = rng() % 2500, y0 = rng() % 1300;
    std::size_t ww = 1 + rng() % (2500 - x0), hh = 1 + rng() % (1300 - y0);
    if (trial == 0) x0 = 0, y0 = 0, ww = 2500, hh = 1300;
    if (trial == 1) x0 = 2499, y0 = 1299, ww = 1, hh = 1;
    for (std::size_t c = 0; c < 2; ++c) {
      const ImageU16 got = r.read(0, c, x0, y0, ww, hh);
      for (std::size_t y = 0; y < hh; ++y)
        for (std::size_t x = 0; x < ww; ++x)
          ASSERT_EQ(got(x, y), img[c](x0 + x, y0 + y)) << "channel " << c << " region " << x0 << "," << y0 << " " << ww
                                                        << "x" << hh << " at " << x << "," << y;
    }
  }
  // Into a strided view (a window of a larger image).
  ImageU16 canvas(700, 300);
  r.read_into(0, 0, 1000, 500, canvas.view().region(50, 20, 600, 250));
  EXPECT_EQ(canvas(50, 20), img[0](1000, 500));
  EXPECT_EQ(canvas(649, 269), img[0](1599, 749));
  EXPECT_EQ(canvas(49, 20), 0);
}
