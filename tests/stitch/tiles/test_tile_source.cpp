// Tile sources: file patterns, positions.csv, TIFF tiles with resampled channels.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <utility>

#include "core/error.hpp"
#include "imageio/tiff_io.hpp"
#include "tiles/tile_source.hpp"

using namespace annamosaic;
namespace fs = std::filesystem;

namespace {
std::string tmp(const std::string& name) {
  const std::string d = std::string(ANNAMOSAIC_TEST_TMP) + "/" + name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(TilePattern, Fields) {
  TileInfo t;
  t.id = 3, t.row = 2, t.col = 11;
  EXPECT_EQ(expand_tile_pattern("fov/{id}/image.tif", t), "fov/0003/image.tif");
  EXPECT_EQ(expand_tile_pattern("t{id:d}_r{row:02d}_c{col}.tif", t), "t3_r02_c11.tif");
  EXPECT_EQ(expand_tile_pattern("plain.tif", t), "plain.tif");
  EXPECT_THROW(expand_tile_pattern("x{frame}.tif", t), InputError);
  EXPECT_THROW(expand_tile_pattern("x{id.tif", t), InputError);
  EXPECT_THROW(expand_tile_pattern("x{id:q}.tif", t), InputError);
  // File names counted from 1: an offset before the format.
  EXPECT_EQ(expand_tile_pattern("r{row+1:02d}_c{col+1}_{id+1}.tif", t), "r03_c12_0004.tif");
  EXPECT_THROW(expand_tile_pattern("r{row+x}.tif", t), InputError);
  EXPECT_THROW(expand_tile_pattern("r{row+}.tif", t), InputError);
  // A width typo would make a name no file system takes (and a failure reason too long to store).
  try {
    expand_tile_pattern("fov/{id:99999d}/locs.csv", t);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("{id:99999d} makes 99999 characters: a width typo?"), std::string::npos) << e.what();
  }
  EXPECT_EQ(expand_tile_pattern("{id:0255d}", t).size(), 255u);
}

TEST(TilePattern, ChannelSpecs) {
  const TileChannelSpec a = parse_channel_spec("widefield=fov/{id}/widefield.tif@3-5");
  EXPECT_EQ(a.name, "widefield");
  EXPECT_EQ(a.pattern, "fov/{id}/widefield.tif");
  EXPECT_EQ(a.pages, "3-5");
  const TileChannelSpec b = parse_channel_spec("recon=r/{id}.tif");
  EXPECT_EQ(b.pages, "");
  for (const char* bad : {"noequals", "=x.tif", "name=", "w=x.tif@zero"}) EXPECT_THROW(parse_channel_spec(bad), InputError) << bad;
}

TEST(Positions, ReadsColumnsByName) {
  const std::string d = tmp("positions");
  write_text(d + "/p.csv", "# comment\nx_um,y_um,id,row,col,extra\n0,0,0,0,0,a\n54.3,0.5,1,0,1,b\n\n-0.25,54.3,2,1,0,c\n");
  const auto t = read_positions_csv(d + "/p.csv");
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[1].id, 1);
  EXPECT_EQ(t[1].col, 1);
  EXPECT_DOUBLE_EQ(t[1].x_um, 54.3);
  EXPECT_DOUBLE_EQ(t[2].x_um, -0.25);
  EXPECT_EQ(t[2].row, 1);
}

TEST(Positions, ErrorsNameFileLineAndColumn) {
  const std::string d = tmp("positions_bad");
  struct Case {
    const char* text;
    const char* expect;
  };
  for (Case c : {Case{"id,row,col,x_um\n0,0,0,1\n", "missing column 'y_um'"}, Case{"id,row,col,x_um,y_um\n0,0,0,1,abc\n", ":2: column 5"},
                 Case{"id,row,col,x_um,y_um\n0,0,0,1,nan\n", "not a finite number"},
                 Case{"id,row,col,x_um,y_um\n0,0,0.5,1,2\n", "not an integer"},
                 Case{"id,row,col,x_um,y_um\n3000000000,0,0,1,2\n", "'3000000000' is out of range"},
                 Case{"id,row,col,x_um,y_um\n0,0,0,1,2\n0,0,1,1,2\n", ":3: duplicate id 0 (also on line 2)"},
                 // Both tiles named, so either line can be the typo.
                 Case{"id,row,col,x_um,y_um\n7,0,0,1,2\n8,0,0,1,2\n", ":3: tile 8 is in grid cell row 0 col 0, where tile 7 (line 2) is"},
                 Case{"id,row,col,x_um,y_um,x_um\n0,0,0,1,2,99\n", ":1: column 'x_um' appears twice in the header (columns 4 and 6)"},
                 Case{"id,row,col,x_um,y_um\n0,0,0,1\n", "4 fields"}, Case{"id,row,col,x_um,y_um\n", "no tiles"}}) {
    write_text(d + "/p.csv", c.text);
    const std::string e = error_of([&] { read_positions_csv(d + "/p.csv"); });
    EXPECT_NE(e.find(d + "/p.csv"), std::string::npos) << e;
    EXPECT_NE(e.find(c.expect), std::string::npos) << e;
  }
  EXPECT_THROW(read_positions_csv(d + "/missing.csv"), IoError);
  // A column the reader does not use may repeat.
  write_text(d + "/notes.csv", "id,row,col,x_um,y_um,note,note\n0,0,0,1,2,a,b\n");
  EXPECT_EQ(read_positions_csv(d + "/notes.csv").size(), 1u);
}

TEST(Positions, PixelPositionsOnlyWhereTheCallerCanScaleThem) {
  const std::string d = tmp("positions_px");
  write_text(d + "/p.csv", "id,row,col,x_px,y_px\n0,0,0,0,0\n1,0,1,350,2\n");
  bool in_px = false;
  const auto t = read_positions_csv(d + "/p.csv", &in_px);
  EXPECT_TRUE(in_px);
  EXPECT_DOUBLE_EQ(t[1].x_um, 350);  // still pixels: the caller knows the pixel size
  // A campaign's reader (no in_px): pixels would be ambiguous, so refused, saying why.
  EXPECT_NE(error_of([&] { read_positions_csv(d + "/p.csv"); }).find("x_um,y_um"), std::string::npos);
  write_text(d + "/both.csv", "id,row,col,x_um,y_um,x_px,y_px\n0,0,0,0,0,0,0\n");
  EXPECT_NE(error_of([&] { read_positions_csv(d + "/both.csv", &in_px); }).find("keep one pair"), std::string::npos);
  // Fiji's TileConfiguration.txt: read as pixel positions with each tile's file, grid cells left
  // to TiffTileSource (-1); a campaign's reader refuses it.
  write_text(d + "/TileConfiguration.txt", "# Define the number of dimensions we are working on\ndim = 2\n\n"
                                           "# Define the image coordinates\ntile_000.tif; ; (0.0, 0.0)\n"
                                           "tile_001.tif; ; (921.6, -2.5)\n");
  in_px = false;
  const auto fiji = read_positions_csv(d + "/TileConfiguration.txt", &in_px);
  EXPECT_TRUE(in_px);
  ASSERT_EQ(fiji.size(), 2u);
  EXPECT_EQ(fiji[1].file, "tile_001.tif");
  EXPECT_EQ(fiji[1].id, 1);
  EXPECT_EQ(fiji[1].row, -1);
  EXPECT_DOUBLE_EQ(fiji[1].x_um, 921.6);
  EXPECT_DOUBLE_EQ(fiji[1].y_um, -2.5);
  EXPECT_NE(error_of([&] { read_positions_csv(d + "/TileConfiguration.txt"); }).find("is for `annamosaic stitch`"),
            std::string::npos);
  write_text(d + "/z.txt", "dim = 3\na.tif; ; (0, 0, 5)\n");
  EXPECT_NE(error_of([&] { read_positions_csv(d + "/z.txt", &in_px); }).find("z.txt:2: z = 5: tiles in 3-D"), std::string::npos);
  EXPECT_EQ(expand_tile_pattern("raw/{file}", fiji[1]), "raw/tile_001.tif");
  EXPECT_NE(error_of([&] { expand_tile_pattern("{file}", t[0]); }).find("{file} needs a positions file"), std::string::npos);
}

TEST(TiffTileSource, AFijiTileConfigurationIsPlacedInGridCellsByPosition) {
  const std::string d = tmp("tile_configuration");
  // 2 x 2 tiles of 100 x 80 px, 10 px overlap, a few px of stage error; listed out of order.
  write_text(d + "/TileConfiguration.txt", "dim = 2\nb.tif; ; (92.0, 1.5)\na.tif; ; (0.0, 0.0)\n"
                                           "d.tif; ; (89.0, 71.0)\nc.tif; ; (-2.0, 69.5)\n");
  for (const char* name : {"a", "b", "c", "d"}) {
    TiffWriteOptions o;
    o.pixel_nm = 50;
    write_tiff(d + "/" + name + ".tif", ImageF(100, 80).view(), o);
  }
  const auto src = TiffTileSource::open(d, d + "/TileConfiguration.txt", {parse_channel_spec("tiles={file}")});
  ASSERT_EQ(src->size(), 4u);
  std::map<std::string, std::pair<int, int>> cell;
  for (std::size_t i = 0; i < src->size(); ++i) cell[src->info(i).file] = {src->info(i).row, src->info(i).col};
  EXPECT_EQ(cell["a.tif"], std::make_pair(0, 0));
  EXPECT_EQ(cell["b.tif"], std::make_pair(0, 1));
  EXPECT_EQ(cell["c.tif"], std::make_pair(1, 0));
  EXPECT_EQ(cell["d.tif"], std::make_pair(1, 1));
  EXPECT_NEAR(src->info(1).x_um, 0.0, 1e-12);  // a.tif, pixels made um at the tiles' 50 nm
  EXPECT_NEAR(src->info(0).x_um, 92.0 * 0.05, 1e-12);
  // A row of 5 cells, the third empty: the tiles after it keep cols 3 and 4, no neighbour across
  // the gap (numbered by count c.tif became col 2, paired with b.tif 180 px away and said to be
  // featureless).
  write_text(d + "/TileConfiguration.txt", "dim = 2\na.tif; ; (0, 0)\nb.tif; ; (90, 1)\nc.tif; ; (271, -1)\n"
                                           "d.tif; ; (361, 0)\n");
  const auto gap = TiffTileSource::open(d, d + "/TileConfiguration.txt", {parse_channel_spec("tiles={file}")});
  std::map<std::string, int> col;
  for (std::size_t i = 0; i < gap->size(); ++i) col[gap->info(i).file] = gap->info(i).col;
  EXPECT_EQ(col, (std::map<std::string, int>{{"a.tif", 0}, {"b.tif", 1}, {"c.tif", 3}, {"d.tif", 4}}));
  // Two tiles in one cell: not a grid.
  write_text(d + "/TileConfiguration.txt", "dim = 2\na.tif; ; (0, 0)\nb.tif; ; (30, 10)\n");
  EXPECT_NE(error_of([&] { TiffTileSource::open(d, d + "/TileConfiguration.txt", {parse_channel_spec("tiles={file}")}); })
                .find("a.tif and b.tif fall in one grid cell (row 0 col 0)"),
            std::string::npos);
}

TEST(TiffTileSource, ReadsTilesAndResamplesOtherChannels) {
  const std::string d = tmp("tiff_source");
  write_text(d + "/positions.csv", "id,row,col,x_um,y_um\n0,0,0,0,0\n1,0,1,1.8,0\n");
  for (int id = 0; id < 2; ++id) {
    fs::create_directories(d + "/fov/000" + std::to_string(id));
    ImageF img(100, 80), wf(20, 16);
    for (std::size_t y = 0; y < 80; ++y)
      for (std::size_t x = 0; x < 100; ++x) img(x, y) = static_cast<float>(x + 1000 * id);
    for (std::size_t y = 0; y < 16; ++y)
      for (std::size_t x = 0; x < 20; ++x) wf(x, y) = static_cast<float>(x);  // camera pixel index
    TiffWriteOptions o;
    o.pixel_nm = 20;
    write_tiff(d + "/fov/000" + std::to_string(id) + "/image.tif", img.view(), o);
    o.pixel_nm = 100;
    write_tiff_stack(d + "/fov/000" + std::to_string(id) + "/wf.tif", {wf.view(), wf.view(), wf.view()}, o);
  }
  const auto src = TiffTileSource::open(d, d + "/positions.csv",
                                        {parse_channel_spec("image=fov/{id}/image.tif"), parse_channel_spec("wf=fov/{id}/wf.tif@2-3")});
  ASSERT_EQ(src->size(), 2u);
  EXPECT_DOUBLE_EQ(src->pixel_nm(), 20);  // from the resolution tags
  EXPECT_EQ(src->info(1).width_px, 100u);
  EXPECT_EQ(src->info(1).height_px, 80u);
  EXPECT_EQ(channel_index(*src, "wf", "--register"), 1u);
  EXPECT_THROW(channel_index(*src, "nope", "--register"), InputError);
  const ImageF img = src->load(1, 0);
  EXPECT_EQ(img(7, 3), 1007.0f);
  const ImageF wf = src->load(0, 1);  // 100 nm -> 20 nm: pixel x sees camera coordinate (x + 0.5) / 5 - 0.5
  ASSERT_EQ(wf.width(), 100u);
  ASSERT_EQ(wf.height(), 80u);
  EXPECT_NEAR(wf(52, 40), (52 + 0.5) / 5 - 0.5, 1e-4);
  // A missing tile fails at open(), naming the file.
  fs::remove(d + "/fov/0001/wf.tif");
  const std::string e = error_of([&] {
    TiffTileSource::open(d, d + "/positions.csv", {parse_channel_spec("image=fov/{id}/image.tif"), parse_channel_spec("wf=fov/{id}/wf.tif")});
  });
  EXPECT_NE(e.find(d + "/fov/0001/wf.tif"), std::string::npos) << e;
  EXPECT_NE(e.find("--skip-missing"), std::string::npos) << e;
  // --skip-missing: the tile is left out and named.
  const auto partial = TiffTileSource::open(d, d + "/positions.csv",
                                            {parse_channel_spec("image=fov/{id}/image.tif"), parse_channel_spec("wf=fov/{id}/wf.tif")},
                                            0, /*skip_missing=*/true);
  ASSERT_EQ(partial->size(), 1u);
  EXPECT_EQ(partial->info(0).id, 0);
  EXPECT_EQ(partial->missing_ids(), std::vector<int>{1});
  // Positions in tile pixels are scaled by the pixel size (tags: 20 nm).
  write_text(d + "/positions_px.csv", "id,row,col,x_px,y_px\n0,0,0,0,0\n1,0,1,90,-5\n");
  const auto px = TiffTileSource::open(d, d + "/positions_px.csv", {parse_channel_spec("image=fov/{id}/image.tif")});
  EXPECT_TRUE(px->positions_in_px());
  EXPECT_DOUBLE_EQ(px->info(1).x_um, 1.8);
  EXPECT_DOUBLE_EQ(px->info(1).y_um, -0.1);
  // Pages beyond the file.
  const std::string e2 = error_of([&] {
    TiffTileSource::open(d, d + "/positions.csv", {parse_channel_spec("image=fov/{id}/image.tif@2")});
  });
  EXPECT_NE(e2.find("pages"), std::string::npos) << e2;
}

TEST(MemoryTileSource, HoldsTiles) {
  MemoryTileSource m({"a", "b"}, 20);
  TileInfo t;
  t.id = 9;
  ImageF a(4, 3), b(4, 3);
  a(1, 1) = 5;
  std::vector<ImageF> v;
  v.push_back(std::move(a));
  v.push_back(std::move(b));
  m.add(t, std::move(v));
  EXPECT_EQ(m.info(0).width_px, 4u);
  EXPECT_EQ(m.load(0, 0)(1, 1), 5.0f);
  std::vector<ImageF> one;
  one.emplace_back(4, 3);
  EXPECT_THROW(m.add(t, std::move(one)), std::invalid_argument);
}
