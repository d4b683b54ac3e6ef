#include "pyramid/ome_tiff.hpp"

#include <sys/stat.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_pipeline.h>
#include <tiffio.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "imageio/tiff_messages.hpp"
#include "pyramid/chunk_codec.hpp"
#include "pyramid/metadata_text.hpp"

namespace annamosaic {
namespace {

constexpr std::size_t kTile = 512;

// libtiff handle whose messages go to a per-handle sink (TIFFOpenExt, no global hooks).
class TiffOut {
 public:
  TiffOut(const std::string& path, const std::string& final_path) : final_(final_path) {
    tif_ = open_tiff_collecting(path, "w8", msg_);  // "8": BigTIFF
    if (!tif_) fail("cannot create " + path);
  }
  ~TiffOut() {
    if (tif_) TIFFClose(tif_);
  }
  TIFF* get() const { return tif_; }
  [[noreturn]] void fail(const std::string& what) const {
    throw IoError(final_, what + (msg_.errors.empty() ? "" : ": " + msg_.errors) + low_space_note(final_));
  }
  void check(int ok, const char* what) const {
    if (!ok) fail(what);
  }
  void close() {
    TIFF* t = tif_;
    tif_ = nullptr;
    const bool flushed = TIFFFlush(t) == 1;
    TIFFClose(t);
    if (!flushed || !msg_.errors.empty()) fail("cannot finish the file");
  }

 private:
  TIFF* tif_ = nullptr;
  std::string final_;
  TiffMessages msg_;
};

struct Band {
  std::size_t y0 = 0, rows = 0;
  ImageU16 pixels;                              // width x rows
  std::vector<std::vector<std::uint8_t>> tiles;  // encoded, left to right
};

}  // namespace

OmeTiffStats export_ome_tiff(const ImsReader& reader, const std::string& path, const OmeTiffOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  const ImsInfo& info = reader.info();
  if (opt.deflate_level < 1 || opt.deflate_level > 9) throw std::invalid_argument("deflate level must be 1..9");
  OmeTiffStats stats;
  stats.levels = info.levels.size();
  const double px_um = info.pixel_um_x > 0 ? info.pixel_um_x : 0;

  MosaicTextInfo ti;
  ti.name = info.name.empty() ? "mosaic" : info.name;
  ti.width = info.levels[0].width;
  ti.height = info.levels[0].height;
  ti.pixel_um = px_um;
  ti.origin_x_um = info.origin_um_x, ti.origin_y_um = info.origin_um_y;
  // What a viewer of the OME-TIFF alone would miss: which tiles are missing, which FoVs failed (probe94).
  ti.description = info.description;
  for (const auto& [group, attributes] : info.info_groups)
    if (group == "Annamosaic") ti.attributes = attributes;
  for (const auto& c : info.channels) {
    ti.channel_names.push_back(c.name);
    ti.channel_scales.push_back(c.scale);
    ti.channel_descriptions.push_back(c.description);
    try {
      ome_color(c.color);
      ti.channel_colors.push_back(c.color);
    } catch (const std::invalid_argument&) {
      ti.channel_colors.push_back("1 1 1");  // files from other writers may have none
    }
  }
  const std::string ome = ome_xml(ti);

  AtomicFile out(path);
  {
    TiffOut tif(out.temp_path(), path);
    TIFF* t = tif.get();
    const std::size_t L = info.levels.size();
    std::size_t total_tiles = 0;
    for (const auto& level : info.levels)
      total_tiles += info.channels.size() * ((level.width + kTile - 1) / kTile) * ((level.height + kTile - 1) / kTile);
    for (std::size_t c = 0; c < info.channels.size(); ++c) {
      for (std::size_t r = 0; r < L; ++r) {
        const std::size_t W = info.levels[r].width, H = info.levels[r].height;
        tif.check(TIFFSetField(t, TIFFTAG_SUBFILETYPE, r == 0 ? 0 : FILETYPE_REDUCEDIMAGE), "SubfileType");
        tif.check(TIFFSetField(t, TIFFTAG_IMAGEWIDTH, static_cast<std::uint32_t>(W)), "ImageWidth");
        tif.check(TIFFSetField(t, TIFFTAG_IMAGELENGTH, static_cast<std::uint32_t>(H)), "ImageLength");
        tif.check(TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 16), "BitsPerSample");
        tif.check(TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1), "SamplesPerPixel");
        tif.check(TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, SAMPLEFORMAT_UINT), "SampleFormat");
        tif.check(TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK), "Photometric");
        tif.check(TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG), "PlanarConfig");
        tif.check(TIFFSetField(t, TIFFTAG_TILEWIDTH, static_cast<std::uint32_t>(kTile)), "TileWidth");
        tif.check(TIFFSetField(t, TIFFTAG_TILELENGTH, static_cast<std::uint32_t>(kTile)), "TileLength");
        // Compression before Predictor: the predictor tag belongs to the codec.
        tif.check(TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE), "Compression");
        tif.check(TIFFSetField(t, TIFFTAG_PREDICTOR, PREDICTOR_HORIZONTAL), "Predictor");
        tif.check(TIFFSetField(t, TIFFTAG_SOFTWARE, "annamosaic"), "Software");
        if (px_um > 0) {
          const double per_cm = 1e4 / (px_um * double(std::size_t{1} << r));
          tif.check(TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_CENTIMETER), "ResolutionUnit");
          tif.check(TIFFSetField(t, TIFFTAG_XRESOLUTION, per_cm), "XResolution");
          tif.check(TIFFSetField(t, TIFFTAG_YRESOLUTION, per_cm), "YResolution");
        }
        if (r == 0) {
          if (c == 0) tif.check(TIFFSetField(t, TIFFTAG_IMAGEDESCRIPTION, ome.c_str()), "ImageDescription");
          if (L > 1) {
            // libtiff writes the next L-1 directories as this IFD's SubIFDs.
            std::vector<toff_t> offsets(L - 1, 0);
            tif.check(TIFFSetField(t, TIFFTAG_SUBIFD, static_cast<std::uint16_t>(L - 1), offsets.data()), "SubIFD");
          }
        }

        // read band -> encode tiles (parallel) -> write raw tiles in order
        const std::size_t bands = (H + kTile - 1) / kTile, tiles_x = (W + kTile - 1) / kTile;
        std::size_t next = 0;
        tbb::parallel_pipeline(
            3,
            tbb::make_filter<void, std::shared_ptr<Band>>(
                tbb::filter_mode::serial_in_order,
                [&](tbb::flow_control& fc) -> std::shared_ptr<Band> {
                  if (next == bands) {
                    fc.stop();
                    return nullptr;
                  }
                  if (opt.stop_requested && opt.stop_requested())
                    throw Stopped("OME-TIFF export stopped (level " + std::to_string(r) + ", channel " + std::to_string(c) + ")");
                  auto b = std::make_shared<Band>();
                  b->y0 = next * kTile;
                  b->rows = std::min(kTile, H - b->y0);
                  b->pixels = reader.read(r, c, 0, b->y0, W, b->rows);
                  ++next;
                  return b;
                }) &
                tbb::make_filter<std::shared_ptr<Band>, std::shared_ptr<Band>>(
                    tbb::filter_mode::parallel,
                    [&](std::shared_ptr<Band> b) {
                      b->tiles.resize(tiles_x);
                      tbb::parallel_for(std::size_t{0}, tiles_x, [&](std::size_t tx) {
                        const std::size_t x0 = tx * kTile;
                        b->tiles[tx] = encode_tiff_tile(
                            b->pixels.view().region(x0, 0, std::min(kTile, W - x0), b->rows), kTile,
                            opt.deflate_level, opt.encoder);
                      });
                      b->pixels = ImageU16();
                      return b;
                    }) &
                tbb::make_filter<std::shared_ptr<Band>, void>(
                    tbb::filter_mode::serial_in_order, [&](std::shared_ptr<Band> b) {
                      for (std::size_t tx = 0; tx < tiles_x; ++tx) {
                        auto& bytes = b->tiles[tx];
                        const ttile_t idx = TIFFComputeTile(t, static_cast<std::uint32_t>(tx * kTile),
                                                            static_cast<std::uint32_t>(b->y0), 0, 0);
                        if (TIFFWriteRawTile(t, idx, bytes.data(), static_cast<tmsize_t>(bytes.size())) < 0)
                          tif.fail("cannot write a tile (level " + std::to_string(r) + ", channel " +
                                   std::to_string(c) + ")");
                        // The pixels of the mosaic, not of the padded tile (probe80: edge tiles counted whole).
                        stats.raw_bytes += std::min(kTile, W - tx * kTile) * b->rows * 2;
                        ++stats.tiles;
                      }
                      if (opt.tiles_written) opt.tiles_written(tiles_x, total_tiles);
                    }));
        tif.check(TIFFWriteDirectory(t), "cannot write a directory");
      }
    }
    tif.close();
  }
  out.commit();
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) stats.file_bytes = static_cast<std::uint64_t>(st.st_size);
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return stats;
}

}  // namespace annamosaic
