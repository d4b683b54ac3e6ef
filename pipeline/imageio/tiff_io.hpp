#pragma once
// Grayscale TIFF reading and writing on top of libtiff 4.5.
//
// Reading accepts one sample per pixel (MinIsBlack) of 8/16/32-bit unsigned or signed integers
// or 32-bit floats, striped or tiled, classic TIFF or BigTIFF, any compression libtiff was built
// with; every type is converted to float (32-bit integers above 2^24 lose precision). Anything
// else (RGB, several samples, 1/4/12/64-bit, 64-bit float, MinIsWhite, palette) is an
// InputError naming the file and the unsupported property. Corrupt or truncated files are
// InputErrors carrying libtiff's own message; a file that cannot be opened at all (missing,
// no permission) is an IoError. libtiff messages are collected per handle (TIFFOpenExt), never
// printed, so concurrent readers in one process do not mix their messages.
//
// Writing produces uint16 or float32 single-sample strips, optionally deflate-compressed, through
// AtomicFile: the final name appears only after a complete, flushed file was written.
//
// Metadata written, and how other readers see it:
//  - XResolution/YResolution = 1e7 / pixel_nm pixels per centimetre, ResolutionUnit CENTIMETER
//    (only when pixel_nm > 0). read_tiff_info() turns this back into pixel_nm.
//  - ImageDescription = "ImageJ=1.53t\nunit=um\n" (the unit line only when pixel_nm > 0). ImageJ
//    reads the pixel size from the resolution tags; with ResolutionUnit CENTIMETER it converts
//    to microns only when the description says exactly "unit=um" (not "micron"), so "um" is
//    deliberate. No "images=" line is written for stacks: with it ImageJ would ignore all but
//    the first IFD and assume contiguous, uncompressed planes.
//  - TiffWriteOptions::description, if non-empty, is appended to that ImageDescription with
//    every line prefixed by "# ": ImageJ parses the description as a Java properties file, in
//    which such lines are comments, so free text cannot break or override its keys. Read it back
//    raw through TiffInfo::description.
// ImageJ's built-in TIFF reader (File > Open) cannot undo the deflate predictors (it handles
// only LZW + predictor 2); Bio-Formats, tifffile and libtiff can. Set predictor = false (or
// deflate = false) for files meant for plain ImageJ.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/image.hpp"

namespace annamosaic {

struct TiffInfo {
  std::size_t width = 0, height = 0, pages = 0;  // width/height of the first page
  int bits_per_sample = 0;
  int sample_format = 1;  // 1 uint, 2 int, 3 float (TIFF SampleFormat)
  int samples_per_pixel = 1;
  int photometric = 1;  // TIFF PhotometricInterpretation: 0 MinIsWhite, 1 MinIsBlack, 2 RGB, ...
  bool tiled = false;
  bool bigtiff = false;
  double pixel_nm = 0;      // 0 = unknown; from the resolution tags (cm, inch, or ImageJ unit), else OME-XML PhysicalSizeX
  std::string description;  // raw ImageDescription of the first page, "" if absent
};

// Describes the file (first page, page count) without validating that read_tiff() supports it.
TiffInfo read_tiff_info(const std::string& path);
// Empty when read_tiff() can read a file of this description (its first page), else what is wrong
// and what to do: checks that need the header alone (a campaign's files, before a run).
std::string tiff_unsupported_reason(const TiffInfo& info);
// The channels of an ImageJ hyperstack (its description's "channels=N"), 0 if none are said: such
// a file interleaves them page by page, so read_tiff_mean() refuses to average across them.
std::size_t tiff_imagej_channels(const TiffInfo& info);

// Reads one page (0-based) as float.
ImageF read_tiff(const std::string& path, std::size_t page = 0);

// 1-based inclusive page range; last = 0 means "to the end".
struct PageRange {
  std::size_t first = 1, last = 0;
};
// Parses "all", "3", "3-5", "3-" (surrounding spaces allowed); anything else, page 0, or
// first > last is an InputError naming the spec.
PageRange parse_page_range(const std::string& spec);

// Mean of the selected pages (e.g. widefield "frames 3-5, mean"), summed in double. All pages
// must have the same size; a range beyond the page count is an InputError.
ImageF read_tiff_mean(const std::string& path, PageRange pages);
// The same, but a file with fewer pages than asked gives the mean of the pages asked for that it
// has (3 pages, 3-5 asked: page 3), or of all its pages when it has none of them (one widefield
// image where a stack was expected), and `note` says so (else it is left empty).
// `info`, when given, receives the file's TiffInfo (pixel size, pages) read on the way.
ImageF read_tiff_mean_or_all(const std::string& path, PageRange pages, std::string& note, TiffInfo* info = nullptr);
// The words of that note for a single image ("PATH: a single image, used as is (pages 3- asked
// for)"): how a campaign was taken, which QC does not hold against a FoV.
inline constexpr const char* kSingleImageNote = ": a single image, used as is (";

enum class TiffPixel { UInt16, Float32 };

struct TiffWriteOptions {
  TiffPixel pixel = TiffPixel::Float32;  // UInt16 from float: round, clamp to [0, 65535], NaN -> 0
  double pixel_nm = 0;                   // 0 = no resolution tags, no unit
  bool bigtiff = false;                  // also chosen automatically above ~3.9 GB of pixel data
  bool deflate = true;                   // COMPRESSION_ADOBE_DEFLATE
  bool predictor = true;                 // with deflate, uint16: horizontal differencing (2)
  // Floating-point predictor (3) for float32: ~20-30% smaller, but Debian 12's tifffile (no
  // imagecodecs) and ImageJ's built-in reader cannot decode it, so it is opt-in.
  bool float_predictor = false;
  std::string description;               // appended to the ImageJ description as "# " lines
  // Where pixel (0, 0) lies, in um (with pixel_nm > 0): ImageJ's "xorigin"/"yorigin" (in pixels,
  // negated), so a crop of a mosaic keeps its stage coordinates in Fiji.
  double origin_x_um = 0, origin_y_um = 0;
};

// Writes atomically; failures (cannot create, disk full) are IoErrors naming `path`; an empty
// image (or stack) is a std::invalid_argument.
void write_tiff(const std::string& path, ImageView<const float> image, const TiffWriteOptions& opt);
void write_tiff(const std::string& path, ImageView<const std::uint16_t> image, const TiffWriteOptions& opt);
// Multi-page file, one page per view (pages may differ in size).
void write_tiff_stack(const std::string& path, const std::vector<ImageView<const float>>& pages,
                      const TiffWriteOptions& opt);

}  // namespace annamosaic
