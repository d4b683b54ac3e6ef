#include "imageio/tiff_io.hpp"

#include <fmt/format.h>
#include <tiffio.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <system_error>

#include "core/numeric.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "imageio/tiff_messages.hpp"

namespace annamosaic {
namespace {

// ---------------------------------------------------------------------------------------------
// libtiff handle with its own message sink.

// RAII owner of a TIFF* whose errors and warnings go to a per-handle TiffMessages. Not movable:
// libtiff keeps a pointer to messages_.
class TiffFile {
 public:
  TiffFile(const std::string& path, const char* mode) : tif_(open_tiff_collecting(path, mode, messages_)) {}
  ~TiffFile() {
    if (tif_) TIFFClose(tif_);
  }
  TiffFile(const TiffFile&) = delete;
  TiffFile& operator=(const TiffFile&) = delete;

  TIFF* get() const { return tif_; }
  explicit operator bool() const { return tif_ != nullptr; }
  bool has_errors() const { return messages_.error_count != 0; }
  // Lets a caller ask whether one operation reported errors: libtiff also reports some
  // recoverable problems at error level while opening, which should not fail a later read.
  std::size_t error_mark() const { return messages_.error_count; }
  bool errors_since(std::size_t mark) const { return messages_.error_count != mark; }

  // Closes the handle; errors reported while closing land in the messages.
  void close() {
    if (tif_) TIFFClose(tif_);
    tif_ = nullptr;
  }

  // libtiff's explanation, for exception messages. Some failures only warn, hence the fallback.
  std::string report() const {
    if (!messages_.errors.empty()) return "libtiff: " + messages_.errors;
    if (!messages_.warnings.empty()) return "libtiff warning: " + messages_.warnings;
    return "libtiff gave no details";
  }

 private:
  TiffMessages messages_;
  TIFF* tif_ = nullptr;
};

// A file we cannot open at all is an environment problem (IoError); one libtiff rejects is bad
// input (InputError).
void require_readable(const TiffFile& tif, const std::string& path) {
  if (tif) return;
  if (::access(path.c_str(), R_OK) != 0)
    throw IoError(path, std::string("cannot open: ") + std::strerror(errno));
  throw InputError(path, "not a readable TIFF file (" + tif.report() + ")");
}

std::size_t count_pages(const TiffFile& tif, const std::string& path) {
  const std::size_t mark = tif.error_mark();
  const tdir_t n = TIFFNumberOfDirectories(tif.get());
  if (n == 0) throw InputError(path, "cannot count the pages of the TIFF file (" + tif.report() + ")");
  // A page directory that cannot be read (a truncated stack): libtiff counts the pages before it
  // and reports an error; reading on would silently use fewer pages than the file had.
  if (tif.errors_since(mark))
    throw InputError(path, "corrupt or truncated TIFF: the directory after page " + std::to_string(n) +
                               " cannot be read (" + tif.report() + ")");
  return n;
}

void select_page(const TiffFile& tif, const std::string& path, std::size_t page) {
  if (page > std::numeric_limits<tdir_t>::max() ||
      TIFFSetDirectory(tif.get(), static_cast<tdir_t>(page)) != 1)
    throw InputError(
        path, "cannot read the directory of page " + std::to_string(page + 1) + " (" + tif.report() + ")");
}

// ---------------------------------------------------------------------------------------------
// Page layout and what we support.

struct PageLayout {
  std::uint32_t width = 0, height = 0;
  std::uint16_t bits = 1, format = SAMPLEFORMAT_UINT, samples = 1;
  std::uint16_t photometric = PHOTOMETRIC_MINISBLACK, planar = PLANARCONFIG_CONTIG;
  bool tiled = false;
};

PageLayout current_layout(const TiffFile& tif, const std::string& path) {
  TIFF* t = tif.get();
  PageLayout l;
  if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &l.width) || !TIFFGetField(t, TIFFTAG_IMAGELENGTH, &l.height))
    throw InputError(path, "TIFF page without ImageWidth/ImageLength (" + tif.report() + ")");
  if (!TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &l.bits) ||
      !TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &l.format) ||
      !TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &l.samples) ||
      !TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &l.planar))
    throw InputError(path, "cannot read the sample layout tags (" + tif.report() + ")");
  // Photometric has no default; writers that omit it almost always mean grayscale or RGB.
  if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &l.photometric))
    l.photometric = l.samples >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
  l.tiled = TIFFIsTiled(t) != 0;
  return l;
}

std::string sample_format_name(std::uint16_t format) {
  switch (format) {
    case SAMPLEFORMAT_UINT:
      return "unsigned integer";
    case SAMPLEFORMAT_INT:
      return "signed integer";
    case SAMPLEFORMAT_IEEEFP:
      return "floating point";
    case SAMPLEFORMAT_VOID:
      return "untyped";
    default:
      return "complex or unknown (SampleFormat " + std::to_string(format) + ")";
  }
}

// Empty when read_tiff() can convert this page, otherwise what is wrong and what to do about it.
std::string unsupported_reason(const PageLayout& l) {
  if (l.samples != 1) {
    if (l.photometric == PHOTOMETRIC_RGB || l.photometric == PHOTOMETRIC_YCBCR)
      return "RGB (" + std::to_string(l.samples) +
             " samples per pixel) is not supported; convert to grayscale";
    return std::to_string(l.samples) +
           " samples per pixel is not supported; save one single-channel image per file";
  }
  if (l.photometric == PHOTOMETRIC_MINISWHITE)
    return "PhotometricInterpretation MinIsWhite (inverted grayscale) is not supported; "
           "save as MinIsBlack";
  if (l.photometric == PHOTOMETRIC_PALETTE)
    return "palette (indexed colour) images are not supported; convert to grayscale";
  if (l.photometric != PHOTOMETRIC_MINISBLACK)
    return "PhotometricInterpretation " + std::to_string(l.photometric) +
           " is not supported; only grayscale (MinIsBlack)";
  const bool is_int =
      l.format == SAMPLEFORMAT_UINT || l.format == SAMPLEFORMAT_INT || l.format == SAMPLEFORMAT_VOID;
  if (l.format == SAMPLEFORMAT_IEEEFP) {
    if (l.bits != 32)
      return std::to_string(l.bits) + "-bit floating point samples are not supported; save as 32-bit float";
  } else if (!is_int) {
    return sample_format_name(l.format) + " samples are not supported";
  } else if (l.bits != 8 && l.bits != 16 && l.bits != 32) {
    return std::to_string(l.bits) +
           "-bit integer samples are not supported; only 8, 16 or 32 bits per sample";
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// Pixel conversion on read.

using RowConverter = void (*)(const unsigned char* src, float* dst, std::size_t n);

template <class S>
void convert_row(const unsigned char* src, float* dst, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    S v;
    std::memcpy(&v, src + i * sizeof(S), sizeof(S));  // libtiff buffers carry no alignment promise
    dst[i] = static_cast<float>(v);
  }
}

RowConverter converter_for(const PageLayout& l) {
  const bool is_signed = l.format == SAMPLEFORMAT_INT;
  if (l.format == SAMPLEFORMAT_IEEEFP) return &convert_row<float>;
  switch (l.bits) {
    case 8:
      return is_signed ? &convert_row<std::int8_t> : &convert_row<std::uint8_t>;
    case 16:
      return is_signed ? &convert_row<std::int16_t> : &convert_row<std::uint16_t>;
    default:
      return is_signed ? &convert_row<std::int32_t> : &convert_row<std::uint32_t>;
  }
}

[[noreturn]] void throw_corrupt(const TiffFile& tif, const std::string& path, std::size_t page,
                                const std::string& what) {
  throw InputError(path, "corrupt or truncated TIFF: " + what + " of page " + std::to_string(page + 1) +
                             " (" + tif.report() + ")");
}

void read_strips(const TiffFile& tif, const std::string& path, std::size_t page, const PageLayout& l,
                 ImageF& out) {
  TIFF* t = tif.get();
  std::uint32_t rows_per_strip = 0;
  if (!TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &rows_per_strip))
    throw_corrupt(tif, path, page, "missing RowsPerStrip");
  rows_per_strip = std::clamp<std::uint32_t>(rows_per_strip, 1, l.height);
  const tmsize_t strip_size = TIFFStripSize(t);
  if (strip_size <= 0) throw_corrupt(tif, path, page, "invalid strip size");
  const std::size_t row_bytes = std::size_t{l.width} * (l.bits / 8);
  const RowConverter convert = converter_for(l);
  std::vector<unsigned char> buf(static_cast<std::size_t>(strip_size));
  const std::uint32_t strips = TIFFNumberOfStrips(t);
  std::uint32_t strip = 0;
  for (std::uint32_t y0 = 0; y0 < l.height; y0 += rows_per_strip, ++strip) {
    const std::uint32_t rows = std::min(rows_per_strip, l.height - y0);
    const auto want = static_cast<tmsize_t>(rows * row_bytes);
    if (strip >= strips || want > strip_size || TIFFReadEncodedStrip(t, strip, buf.data(), want) < want)
      throw_corrupt(tif, path, page, "cannot read strip " + std::to_string(strip));
    for (std::uint32_t r = 0; r < rows; ++r) convert(buf.data() + r * row_bytes, out.row(y0 + r), l.width);
  }
}

void read_tiles(const TiffFile& tif, const std::string& path, std::size_t page, const PageLayout& l,
                ImageF& out) {
  TIFF* t = tif.get();
  std::uint32_t tile_w = 0, tile_h = 0;
  if (!TIFFGetField(t, TIFFTAG_TILEWIDTH, &tile_w) || !TIFFGetField(t, TIFFTAG_TILELENGTH, &tile_h) ||
      tile_w == 0 || tile_h == 0)
    throw_corrupt(tif, path, page, "missing TileWidth/TileLength");
  const tmsize_t tile_size = TIFFTileSize(t);
  const std::size_t bytes_per_sample = l.bits / 8;
  const std::size_t tile_row_bytes = std::size_t{tile_w} * bytes_per_sample;
  if (tile_size <= 0 || static_cast<std::size_t>(tile_size) < tile_row_bytes * tile_h)
    throw_corrupt(tif, path, page, "invalid tile size");
  const RowConverter convert = converter_for(l);
  std::vector<unsigned char> buf(static_cast<std::size_t>(tile_size));
  for (std::uint32_t ty = 0; ty < l.height; ty += tile_h) {
    for (std::uint32_t tx = 0; tx < l.width; tx += tile_w) {
      const std::uint32_t tile = TIFFComputeTile(t, tx, ty, 0, 0);
      // Edge tiles are stored full size; only their top-left part is image.
      if (TIFFReadEncodedTile(t, tile, buf.data(), tile_size) < tile_size)
        throw_corrupt(tif, path, page, "cannot read tile " + std::to_string(tile));
      const std::uint32_t rows = std::min(tile_h, l.height - ty);
      const std::uint32_t cols = std::min(tile_w, l.width - tx);
      for (std::uint32_t r = 0; r < rows; ++r)
        convert(buf.data() + r * tile_row_bytes, out.row(ty + r) + tx, cols);
    }
  }
}

// Reads the current directory; `page` (0-based) and `pages` only word the messages.
ImageF read_current_page(const TiffFile& tif, const std::string& path, std::size_t page, std::size_t pages) {
  const PageLayout l = current_layout(tif, path);
  const std::string reason = unsupported_reason(l);
  if (!reason.empty())
    throw InputError(path, pages > 1 ? reason + " (page " + std::to_string(page + 1) + ")" : reason);
  ImageF out;
  try {
    out = ImageF(l.width, l.height);
  } catch (const std::exception&) {  // bad_alloc or length_error from absurd (corrupt) sizes
    throw InputError(path, "cannot allocate a " + std::to_string(l.width) + " x " + std::to_string(l.height) +
                               " image for page " + std::to_string(page + 1));
  }
  if (out.empty()) return out;
  const std::size_t mark = tif.error_mark();
  if (l.tiled)
    read_tiles(tif, path, page, l, out);
  else
    read_strips(tif, path, page, l, out);
  // Some decoders report an error yet return the requested byte count.
  if (tif.errors_since(mark)) throw_corrupt(tif, path, page, "decoding error");
  return out;
}

// ---------------------------------------------------------------------------------------------
// Pixel size from resolution tags.

std::string trim(const std::string& s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  const auto b = std::find_if(s.begin(), s.end(), not_space);
  const auto e = std::find_if(s.rbegin(), s.rend(), not_space).base();
  return b < e ? std::string(b, e) : std::string();
}

// The number in an ImageJ description's "key=N" line (channels=2), 0 if absent or not ImageJ's.
std::size_t imagej_count(const std::string& description, const std::string& key) {
  if (description.rfind("ImageJ=", 0) != 0) return 0;
  for (std::size_t pos = 0; pos < description.size();) {
    std::size_t end = description.find('\n', pos);
    if (end == std::string::npos) end = description.size();
    const std::string line = description.substr(pos, end - pos);
    pos = end + 1;
    if (line.rfind(key + "=", 0) == 0) return static_cast<std::size_t>(std::strtoull(line.c_str() + key.size() + 1, nullptr, 10));
  }
  return 0;
}

// Nanometres per unit named by an ImageJ description's "unit=" line, 0 if absent or unknown.
double imagej_unit_nm(const std::string& description) {
  if (description.rfind("ImageJ=", 0) != 0) return 0;
  std::size_t pos = 0;
  while (pos < description.size()) {
    std::size_t end = description.find('\n', pos);
    if (end == std::string::npos) end = description.size();
    const std::string line = description.substr(pos, end - pos);
    pos = end + 1;
    if (line.rfind("unit=", 0) != 0) continue;
    const std::string unit = trim(line.substr(5));
    // ImageJ writes micron, um or "\u00B5m"; tifffile writes the escaped form too.
    if (unit == "um" || unit == "micron" || unit == "microns" || unit == "\\u00B5m" || unit == "\xC2\xB5m" ||
        unit == "\xB5m")
      return 1e3;
    if (unit == "nm" || unit == "nanometer" || unit == "nanometers") return 1.0;
    if (unit == "mm") return 1e6;
    return 0;
  }
  return 0;
}

std::string current_description(TIFF* t) {
  const char* text = nullptr;
  if (TIFFGetField(t, TIFFTAG_IMAGEDESCRIPTION, &text) && text) return text;
  return {};
}

// An OME-TIFF's pixel size: the first PhysicalSizeX="..." of its OME-XML description, in
// PhysicalSizeXUnit (default um, as the OME schema says). 0 when absent or not a length we know.
double ome_physical_size_nm(const std::string& description) {
  if (description.find("<OME") == std::string::npos) return 0;
  const auto attribute = [&](const std::string& name) -> std::string {
    std::size_t at = 0;
    while ((at = description.find(name, at)) != std::string::npos) {
      std::size_t p = at + name.size();
      at = p;
      while (p < description.size() && std::isspace(static_cast<unsigned char>(description[p]))) ++p;
      if (p >= description.size() || description[p] != '=') continue;  // PhysicalSizeX is a prefix of ...XUnit
      ++p;
      while (p < description.size() && std::isspace(static_cast<unsigned char>(description[p]))) ++p;
      if (p >= description.size() || (description[p] != '"' && description[p] != '\'')) continue;
      const std::size_t end = description.find(description[p], p + 1);
      if (end == std::string::npos) return {};
      return description.substr(p + 1, end - p - 1);
    }
    return {};
  };
  const std::string value = attribute("PhysicalSizeX");
  double size = 0;
  if (value.empty() || std::from_chars(value.data(), value.data() + value.size(), size).ec != std::errc() ||
      !(size > 0) || !std::isfinite(size))
    return 0;
  const std::string unit = attribute("PhysicalSizeXUnit");
  if (unit.empty() || unit == "\xC2\xB5m" || unit == "um" || unit == "&#181;m" || unit == "&#xB5;m" || unit == "\xCE\xBCm")
    return size * 1e3;
  if (unit == "nm") return size;
  if (unit == "mm") return size * 1e6;
  return 0;
}

// Only XResolution is used: pixels are assumed square. Without resolution tags (or at 72 dpi,
// a writer's default), an OME-TIFF's PhysicalSizeX.
double pixel_nm_from_tags_raw(TIFF* t, const std::string& description) {
  float x_res = 0;  // libtiff 4.5 returns rational tags as float
  if (!TIFFGetField(t, TIFFTAG_XRESOLUTION, &x_res) || !(x_res > 0) || !std::isfinite(x_res))
    return ome_physical_size_nm(description);
  std::uint16_t unit = RESUNIT_INCH;
  if (!TIFFGetFieldDefaulted(t, TIFFTAG_RESOLUTIONUNIT, &unit)) unit = RESUNIT_INCH;
  switch (unit) {
    case RESUNIT_CENTIMETER:
      return 1e7 / x_res;
    case RESUNIT_INCH:
      return x_res == 72.0f ? ome_physical_size_nm(description) : 2.54e7 / x_res;  // 72 dpi: a default, not a scale (as ImageJ)
    default:
      if (const double unit_nm = imagej_unit_nm(description); unit_nm > 0) return unit_nm / x_res;  // RESUNIT_NONE: ImageJ's way
      return ome_physical_size_nm(description);
  }
}

double pixel_nm_from_tags(TIFF* t, const std::string& description) {
  // libtiff hands rationals back as float (~7 digits): six significant digits keep any real
  // pixel size and drop the float's noise from logs, metadata and comparisons.
  return round_significant(pixel_nm_from_tags_raw(t, description), 6);
}

// ---------------------------------------------------------------------------------------------
// Writing.

template <class Out>
Out convert_sample(float v);
template <>
float convert_sample<float>(float v) {
  return v;
}
template <>
std::uint16_t convert_sample<std::uint16_t>(float v) {
  if (!(v > 0)) return 0;  // also NaN
  if (v >= 65535.0f) return 65535;
  return static_cast<std::uint16_t>(std::lround(v));
}
template <class Out>
Out convert_sample(std::uint16_t v) {
  return static_cast<Out>(v);  // exact for both outputs
}

constexpr std::size_t kTargetStripBytes = 256 * 1024;  // within the usual 64 KiB - 1 MiB
constexpr double kBigTiffThresholdBytes = 3.9e9;       // classic TIFF offsets end at 4 GiB

std::uint32_t rows_per_strip(std::size_t row_bytes, std::size_t height) {
  const std::size_t rows = std::max<std::size_t>(1, kTargetStripBytes / std::max<std::size_t>(1, row_bytes));
  return static_cast<std::uint32_t>(std::min(rows, height));
}

std::string imagej_description(const TiffWriteOptions& opt) {
  std::string d = "ImageJ=1.53t\n";
  if (opt.pixel_nm > 0) d += "unit=um\n";  // "um", not "micron": see the header
  // ImageJ's calibrated x = (x - xorigin) * pixel width.
  if (opt.pixel_nm > 0 && (opt.origin_x_um != 0 || opt.origin_y_um != 0))
    d += fmt::format("xorigin={:.10g}\nyorigin={:.10g}\n", -opt.origin_x_um * 1000.0 / opt.pixel_nm + 0.0,  // + 0: not "-0"
                     -opt.origin_y_um * 1000.0 / opt.pixel_nm + 0.0);
  std::size_t pos = 0;
  while (pos < opt.description.size()) {  // one "# " line per line of text
    std::size_t end = opt.description.find('\n', pos);
    if (end == std::string::npos) end = opt.description.size();
    d += "# " + opt.description.substr(pos, end - pos) + "\n";
    pos = end + 1;
  }
  return d;
}

struct PageTags {
  std::uint32_t width, height;
  std::size_t page, pages;
};

template <class Out>
void set_page_tags(const TiffFile& tif, const std::string& path, const PageTags& p,
                   const TiffWriteOptions& opt) {
  TIFF* t = tif.get();
  constexpr bool is_float = std::is_same_v<Out, float>;
  const std::size_t row_bytes = std::size_t{p.width} * sizeof(Out);
  bool ok = TIFFSetField(t, TIFFTAG_IMAGEWIDTH, p.width) && TIFFSetField(t, TIFFTAG_IMAGELENGTH, p.height) &&
            TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, static_cast<int>(8 * sizeof(Out))) &&
            TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1) &&
            TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, is_float ? SAMPLEFORMAT_IEEEFP : SAMPLEFORMAT_UINT) &&
            TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK) &&
            TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG) &&
            TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, rows_per_strip(row_bytes, p.height)) &&
            TIFFSetField(t, TIFFTAG_SOFTWARE, "annamosaic");
  if (ok && opt.deflate) {
    ok = TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE) &&
         (is_float ? (!opt.float_predictor || TIFFSetField(t, TIFFTAG_PREDICTOR, PREDICTOR_FLOATINGPOINT))
                   : (!opt.predictor || TIFFSetField(t, TIFFTAG_PREDICTOR, PREDICTOR_HORIZONTAL)));
  } else if (ok) {
    ok = TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
  }
  if (ok && opt.pixel_nm > 0) {
    const double per_cm = 1e7 / opt.pixel_nm;
    ok = TIFFSetField(t, TIFFTAG_RESOLUTIONUNIT, RESUNIT_CENTIMETER) &&
         TIFFSetField(t, TIFFTAG_XRESOLUTION, per_cm) && TIFFSetField(t, TIFFTAG_YRESOLUTION, per_cm);
  }
  if (ok && p.page == 0) ok = TIFFSetField(t, TIFFTAG_IMAGEDESCRIPTION, imagej_description(opt).c_str());
  if (ok && p.pages > 1) {
    ok = TIFFSetField(t, TIFFTAG_SUBFILETYPE, std::uint32_t{FILETYPE_PAGE}) &&
         (p.pages > 65535 ||
          TIFFSetField(t, TIFFTAG_PAGENUMBER, static_cast<int>(p.page), static_cast<int>(p.pages)));
  }
  if (!ok) throw IoError(path, "cannot set TIFF tags (" + tif.report() + ")");
}

template <class Out, class In>
void write_page(const TiffFile& tif, const std::string& path, ImageView<const In> image, const PageTags& p,
                const TiffWriteOptions& opt) {
  set_page_tags<Out>(tif, path, p, opt);
  TIFF* t = tif.get();
  const std::size_t w = image.width(), h = image.height();
  const std::uint32_t rows = rows_per_strip(w * sizeof(Out), h);
  std::vector<Out> buf(std::size_t{rows} * w);  // libtiff may modify it (predictor, byte swap)
  std::uint32_t strip = 0;
  for (std::size_t y0 = 0; y0 < h; y0 += rows, ++strip) {
    const std::size_t n = std::min<std::size_t>(rows, h - y0);
    for (std::size_t r = 0; r < n; ++r)
      std::transform(image.row(y0 + r), image.row(y0 + r) + w, buf.begin() + r * w,
                     [](In v) { return convert_sample<Out>(v); });
    if (TIFFWriteEncodedStrip(t, strip, buf.data(), static_cast<tmsize_t>(n * w * sizeof(Out))) < 0)
      throw IoError(path, "writing strip " + std::to_string(strip) + " failed (" + tif.report() + ")" + low_space_note(path));
  }
  if (TIFFWriteDirectory(t) != 1)
    throw IoError(path, "writing the TIFF directory failed (" + tif.report() + ")" + low_space_note(path));
}

template <class In>
void write_pages(const std::string& path, const std::vector<ImageView<const In>>& pages,
                 const TiffWriteOptions& opt) {
  if (pages.empty()) throw std::invalid_argument(path + ": no pages to write");
  const std::size_t out_bytes = opt.pixel == TiffPixel::UInt16 ? 2 : 4;
  double total_bytes = 0;
  for (const auto& page : pages) {
    if (page.empty()) throw std::invalid_argument(path + ": cannot write an empty image");
    if (page.width() > UINT32_MAX || page.height() > UINT32_MAX)
      throw std::invalid_argument(path + ": image too large for TIFF");
    total_bytes += double(page.width()) * double(page.height()) * double(out_bytes);
  }
  const bool bigtiff = opt.bigtiff || total_bytes > kBigTiffThresholdBytes;
  if (opt.deflate && !TIFFIsCODECConfigured(COMPRESSION_ADOBE_DEFLATE))
    throw IoError(path, "this libtiff was built without deflate support");

  AtomicFile out(path);
  TiffFile tif(out.temp_path(), bigtiff ? "w8" : "w");
  if (!tif)
    throw IoError(path, "cannot create temporary file " + out.temp_path() + " (" + tif.report() + ")" + low_space_note(path));
  for (std::size_t i = 0; i < pages.size(); ++i) {
    const PageTags tags{static_cast<std::uint32_t>(pages[i].width()),
                        static_cast<std::uint32_t>(pages[i].height()), i, pages.size()};
    if (opt.pixel == TiffPixel::UInt16)
      write_page<std::uint16_t>(tif, path, pages[i], tags, opt);
    else
      write_page<float>(tif, path, pages[i], tags, opt);
  }
  if (TIFFFlush(tif.get()) != 1) throw IoError(path, "flushing the TIFF failed (" + tif.report() + ")" + low_space_note(path));
  tif.close();
  if (tif.has_errors()) throw IoError(path, "closing the TIFF failed (" + tif.report() + ")");
  out.commit();
}

std::string page_count_text(std::size_t n) { return std::to_string(n) + (n == 1 ? " page" : " pages"); }

}  // namespace

// ---------------------------------------------------------------------------------------------

std::size_t tiff_imagej_channels(const TiffInfo& info) { return imagej_count(info.description, "channels"); }

std::string tiff_unsupported_reason(const TiffInfo& info) {
  PageLayout l;
  l.width = static_cast<std::uint32_t>(info.width);
  l.height = static_cast<std::uint32_t>(info.height);
  l.bits = static_cast<std::uint16_t>(info.bits_per_sample);
  l.format = static_cast<std::uint16_t>(info.sample_format);
  l.samples = static_cast<std::uint16_t>(info.samples_per_pixel);
  l.photometric = static_cast<std::uint16_t>(info.photometric);
  return unsupported_reason(l);
}

TiffInfo read_tiff_info(const std::string& path) {
  TiffFile tif(path, "r");
  require_readable(tif, path);
  TiffInfo info;
  info.pages = count_pages(tif, path);
  select_page(tif, path, 0);
  const PageLayout l = current_layout(tif, path);
  info.width = l.width;
  info.height = l.height;
  info.bits_per_sample = l.bits;
  info.sample_format = l.format;
  info.samples_per_pixel = l.samples;
  info.photometric = l.photometric;
  info.tiled = l.tiled;
  info.bigtiff = TIFFIsBigTIFF(tif.get()) != 0;
  info.description = current_description(tif.get());
  info.pixel_nm = pixel_nm_from_tags(tif.get(), info.description);
  return info;
}

ImageF read_tiff(const std::string& path, std::size_t page) {
  TiffFile tif(path, "r");
  require_readable(tif, path);
  const std::size_t pages = count_pages(tif, path);
  if (page >= pages)
    throw InputError(path, "page index " + std::to_string(page) +
                               " (0-based) is out of range: the file has " + page_count_text(pages));
  select_page(tif, path, page);
  return read_current_page(tif, path, page, pages);
}

PageRange parse_page_range(const std::string& spec) {
  const std::string s = trim(spec);
  const auto bad = [&spec]() {
    return InputError("page range '" + spec + "'",
                      "expected 'all', 'N', 'N-M' or 'N-' with 1-based page numbers, N <= M");
  };
  if (s == "all") return PageRange{1, 0};
  // Parses a page number >= 1 spanning exactly [b, e).
  const auto number = [&](const char* b, const char* e) {
    std::size_t v = 0;
    const auto [ptr, ec] = std::from_chars(b, e, v);
    if (b == e || ec != std::errc() || ptr != e || v == 0) throw bad();
    return v;
  };
  const char* begin = s.data();
  const char* end = s.data() + s.size();
  const std::size_t dash = s.find('-');
  if (dash == std::string::npos) {
    const std::size_t n = number(begin, end);
    return PageRange{n, n};
  }
  PageRange r;
  r.first = number(begin, begin + dash);
  if (begin + dash + 1 == end) return r;  // "N-": to the end
  r.last = number(begin + dash + 1, end);
  if (r.last < r.first) throw bad();
  return r;
}

ImageF read_tiff_mean_or_all(const std::string& path, PageRange pages, std::string& note, TiffInfo* info_out) {
  note.clear();
  const TiffInfo info = read_tiff_info(path);
  if (info_out) *info_out = info;
  if (info.pages < pages.first || (pages.last != 0 && info.pages < pages.last)) {
    const std::string asked = "pages " + std::to_string(pages.first) + "-" + (pages.last ? std::to_string(pages.last) : "");
    // The pages asked for that exist, if any: the first pages of a stack are the ones the range
    // leaves out (a shutter's motion blur), so they come in only when nothing else is there.
    if (info.pages > 1 && info.pages >= pages.first) {
      note = path + ": " + std::to_string(info.pages) + " pages, fewer than the " + asked + " asked for: " +
             (pages.first == info.pages ? "using page " + std::to_string(pages.first)
                                        : "averaging pages " + std::to_string(pages.first) + "-" + std::to_string(info.pages));
      pages.last = info.pages;
    } else {
      note = path + (info.pages == 1 ? kSingleImageNote + asked + " asked for)"
                                     : ": " + std::to_string(info.pages) + " pages, fewer than the " + asked +
                                           " asked for: averaging all pages");
      pages = PageRange{1, 0};
    }
  }
  return read_tiff_mean(path, pages);
}

ImageF read_tiff_mean(const std::string& path, PageRange range) {
  TiffFile tif(path, "r");
  require_readable(tif, path);
  const std::size_t pages = count_pages(tif, path);
  const std::size_t last = range.last == 0 ? pages : range.last;
  const std::string wanted = std::to_string(range.first) + "-" + (range.last ? std::to_string(last) : "");
  if (range.first == 0 || range.first > last)
    throw InputError(path, "invalid page range " + wanted + " (pages are 1-based)");
  if (last > pages)
    throw InputError(path, "pages " + wanted + " requested but the file has " + page_count_text(pages));

  // An ImageJ hyperstack interleaves its channels page by page: an average of pages would mix
  // them (a widefield of two colours read as one noisy image).
  select_page(tif, path, 0);
  if (const std::size_t channels = imagej_count(current_description(tif.get()), "channels");
      channels > 1 && last > range.first)  // one page is one channel: read as asked
    throw InputError(path, "an ImageJ hyperstack of " + std::to_string(channels) + " channels, interleaved page by page: " +
                               "averaging pages " + wanted + " would mix them; save the channel to use as a stack of " +
                               "its own (Fiji: Image > Color > Split Channels)");

  Image<double> sum;
  for (std::size_t p = range.first; p <= last; ++p) {
    select_page(tif, path, p - 1);
    const ImageF frame = read_current_page(tif, path, p - 1, pages);
    if (p == range.first) sum = Image<double>(frame.width(), frame.height());
    if (frame.width() != sum.width() || frame.height() != sum.height())
      throw InputError(path, "page " + std::to_string(p) + " is " + std::to_string(frame.width()) + " x " +
                                 std::to_string(frame.height()) + " but page " + std::to_string(range.first) +
                                 " is " + std::to_string(sum.width()) + " x " + std::to_string(sum.height()));
    std::transform(sum.begin(), sum.end(), frame.begin(), sum.begin(),
                   [](double s, float v) { return s + v; });
  }
  const double count = static_cast<double>(last - range.first + 1);
  ImageF mean(sum.width(), sum.height());
  std::transform(sum.begin(), sum.end(), mean.begin(),
                 [count](double s) { return static_cast<float>(s / count); });
  return mean;
}

void write_tiff(const std::string& path, ImageView<const float> image, const TiffWriteOptions& opt) {
  write_pages<float>(path, {image}, opt);
}

void write_tiff(const std::string& path, ImageView<const std::uint16_t> image, const TiffWriteOptions& opt) {
  write_pages<std::uint16_t>(path, {image}, opt);
}

void write_tiff_stack(const std::string& path, const std::vector<ImageView<const float>>& pages,
                      const TiffWriteOptions& opt) {
  write_pages<float>(path, pages, opt);
}

}  // namespace annamosaic
