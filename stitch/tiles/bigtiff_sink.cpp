#include "tiles/bigtiff_sink.hpp"

#include <fmt/format.h>
#include <tiffio.h>

#include <cstdio>
#include <stdexcept>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "imageio/tiff_messages.hpp"

namespace annamosaic {

struct BigTiffSink::Impl {
  MosaicInfo info;
  AtomicFile file;
  TiffMessages messages;  // per handle: concurrent writers do not mix their messages
  TIFF* tif = nullptr;
  std::mutex mutex;
  std::vector<char> written;
  std::vector<std::uint16_t> buffer;  // one padded tile
  bool finished = false;
  Impl(const std::string& path, MosaicInfo i) : info(std::move(i)), file(path) {}
  ~Impl() {
    if (tif) TIFFClose(tif);
  }
  [[noreturn]] void fail(const std::string& what) {
    throw IoError(file.final_path(),
                  what + (messages.errors.empty() ? "" : ": " + messages.errors) + low_space_note(file.final_path()));
  }
};

BigTiffSink::BigTiffSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BigTiffSink::~BigTiffSink() = default;

std::unique_ptr<BigTiffSink> BigTiffSink::create(const std::string& path, const MosaicInfo& info,
                                                 const BigTiffSinkOptions& opt) {
  if (info.width_px == 0 || info.height_px == 0 || info.channels.empty())
    throw std::invalid_argument("BigTiffSink: empty mosaic or no channels");
  if (info.block_px == 0 || info.block_px % 16 != 0)
    throw std::invalid_argument("BigTiffSink: block_px must be a positive multiple of 16 (TIFF tiles)");
  auto impl = std::make_unique<Impl>(path, info);
  impl->tif = open_tiff_collecting(impl->file.temp_path(), "w8", impl->messages);
  if (!impl->tif) impl->fail("cannot create the TIFF file");
  TIFF* t = impl->tif;
  const std::size_t nc = info.channels.size();
  std::string desc = fmt::format("annamosaic mosaic '{}'\nchannels = {}\n", info.name, nc);
  for (std::size_t c = 0; c < nc; ++c)
    desc += fmt::format("channel{} = {} (value = stored / {})\n", c, info.channels[c].name, info.channels[c].scale);
  // Where it lies on the stage, as a .ims says it (ExtMin): TIFF tags hold a pixel size, no origin.
  if (info.pixel_nm > 0)
    desc += fmt::format("pixel_nm = {:.10g}\norigin_um = {:.10g}, {:.10g} (x, y of the first pixel's corner on the stage)\n",
                        info.pixel_nm, info.origin_x_um + 0.0, info.origin_y_um + 0.0);
  if (!opt.note.empty()) desc += opt.note + "\n";
  bool ok = TIFFSetField(t, TIFFTAG_IMAGEWIDTH, static_cast<std::uint32_t>(info.width_px)) &&
            TIFFSetField(t, TIFFTAG_IMAGELENGTH, static_cast<std::uint32_t>(info.height_px)) &&
            TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 16) && TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, SAMPLEFORMAT_UINT) &&
            TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, static_cast<std::uint16_t>(nc)) &&
            TIFFSetField(t, TIFFTAG_PLANARCONFIG, nc > 1 ? PLANARCONFIG_SEPARATE : PLANARCONFIG_CONTIG) &&
            TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK) &&
            TIFFSetField(t, TIFFTAG_TILEWIDTH, static_cast<std::uint32_t>(info.block_px)) &&
            TIFFSetField(t, TIFFTAG_TILELENGTH, static_cast<std::uint32_t>(info.block_px)) &&
            TIFFSetField(t, TIFFTAG_COMPRESSION, opt.deflate ? COMPRESSION_ADOBE_DEFLATE : COMPRESSION_NONE) &&
            TIFFSetField(t, TIFFTAG_IMAGEDESCRIPTION, desc.c_str());
  if (ok && opt.deflate) ok = TIFFSetField(t, TIFFTAG_PREDICTOR, PREDICTOR_HORIZONTAL);
  if (ok && nc > 1) {
    // Extra planes are plain data, not alpha.
    std::vector<std::uint16_t> extra(nc - 1, EXTRASAMPLE_UNSPECIFIED);
    ok = TIFFSetField(t, TIFFTAG_EXTRASAMPLES, static_cast<std::uint16_t>(nc - 1), extra.data());
  }
  if (ok && info.pixel_nm > 0) {
    const float ppcm = static_cast<float>(1e7 / info.pixel_nm);
    ok = TIFFSetField(t, TIFFTAG_XRESOLUTION, ppcm) && TIFFSetField(t, TIFFTAG_YRESOLUTION, ppcm) &&
         TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_CENTIMETER);
  }
  if (!ok) impl->fail("cannot set the TIFF tags");
  impl->written.assign(info.blocks_x() * info.blocks_y(), 0);
  impl->buffer.resize(info.block_px * info.block_px);
  return std::unique_ptr<BigTiffSink>(new BigTiffSink(std::move(impl)));
}

void BigTiffSink::write_block(std::size_t bx, std::size_t by, const std::vector<ImageView<const std::uint16_t>>& channels) {
  Impl& m = *impl_;
  const MosaicInfo& info = m.info;
  const std::size_t B = info.block_px;
  if (bx >= info.blocks_x() || by >= info.blocks_y()) throw std::invalid_argument("BigTiffSink: block index outside the mosaic");
  const std::size_t w = std::min(B, info.width_px - bx * B), h = std::min(B, info.height_px - by * B);
  if (channels.size() != info.channels.size()) throw std::invalid_argument("BigTiffSink: one view per channel");
  for (const auto& v : channels)
    if (v.width() != w || v.height() != h) throw std::invalid_argument("BigTiffSink: block view has the wrong size");
  std::lock_guard<std::mutex> lock(m.mutex);
  if (m.finished) throw std::logic_error("BigTiffSink: write_block after finish");
  char& done = m.written[by * info.blocks_x() + bx];
  if (done) throw std::logic_error(fmt::format("BigTiffSink: block ({}, {}) written twice", bx, by));
  for (std::size_t c = 0; c < channels.size(); ++c) {
    std::fill(m.buffer.begin(), m.buffer.end(), std::uint16_t{0});  // edge blocks: pad the TIFF tile
    for (std::size_t y = 0; y < h; ++y) std::copy_n(channels[c].row(y), w, m.buffer.data() + y * B);
    const ttile_t tile = TIFFComputeTile(m.tif, static_cast<std::uint32_t>(bx * B), static_cast<std::uint32_t>(by * B), 0,
                                         static_cast<std::uint16_t>(c));
    if (TIFFWriteEncodedTile(m.tif, tile, m.buffer.data(), static_cast<tmsize_t>(m.buffer.size() * 2)) < 0)
      m.fail(fmt::format("cannot write block ({}, {})", bx, by));
  }
  done = 1;
}

void BigTiffSink::finish() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mutex);
  if (m.finished) return;
  for (std::size_t k = 0; k < m.written.size(); ++k)
    if (!m.written[k])
      throw std::logic_error(fmt::format("BigTiffSink: block ({}, {}) was never written", k % m.info.blocks_x(),
                                         k / m.info.blocks_x()));
  if (!TIFFWriteDirectory(m.tif)) m.fail("cannot write the TIFF directory");
  TIFFClose(m.tif);
  m.tif = nullptr;
  if (!m.messages.errors.empty()) m.fail("libtiff reported errors");
  m.file.commit();
  m.finished = true;
}

}  // namespace annamosaic
