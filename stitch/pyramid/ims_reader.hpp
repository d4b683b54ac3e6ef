#pragma once
// Reader of Imaris (.ims) files the way viewers read them: levels from
// /DataSet/ResolutionLevel r, true sizes from the Channel groups' ImageSizeX/Y (padding
// cropped), pixel size from (ExtMax - ExtMin) / size in /DataSetInfo/Image, channel names and
// colours from /DataSetInfo/Channel c. Reads files of any IMS writer (attributes as char arrays
// or strings), 2D only (time point 0, plane z = 0), uint16 data (other integer types are
// converted by HDF5, saturating).
//
// Not thread-safe per object; HDF5 calls hold the module's HDF5 lock (see hdf5_util.hpp).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/image.hpp"

namespace annamosaic {

struct ImsLevelInfo {
  std::size_t width = 0, height = 0;                // true size (ImageSizeX/Y)
  std::size_t stored_width = 0, stored_height = 0;  // data set dims (padded)
  std::size_t chunk_width = 0, chunk_height = 0;    // 0 if contiguous
};

struct ImsChannelInfo {
  std::string name, description, color, color_range;
  double scale = 1.0;                 // QuantisationScale (1 if absent)
  std::vector<std::uint16_t> hist_min, hist_max;  // per level (HistogramMin/Max), if present
};

struct ImsInfo {
  std::string path;
  std::vector<ImsLevelInfo> levels;
  std::vector<ImsChannelInfo> channels;
  double pixel_um_x = 0, pixel_um_y = 0, pixel_um_z = 0;  // 0 if the extents are missing
  double origin_um_x = 0, origin_um_y = 0;                 // ExtMin0/1: the image's stage position
  std::string unit, name, description, recording_date;
  std::string filters;  // e.g. "shuffle, deflate(2)" of level 0, channel 0
  std::string data_type;  // e.g. "uint16"
  // /DataSetInfo/<group> attributes for groups other than Image, Channel c, TimeInfo:
  // ("Annamosaic", "QC residual_px", "0.3"), ...
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> info_groups;
};

// Level-0 pixels per pixel of `level`, along x and y: 2^level where each level halves the one
// below (floor: this project's pyramids, and most writers'), else the ratio of the sizes,
// rounded. The ratio alone drifts on a thin level (91000 x 2765 px: level 7 is 21 rows, a ratio
// of 132, not 128) and misplaced a region exported from it.
std::pair<double, double> level_factors(const ImsInfo& info, std::size_t level);

class ImsReader {
 public:
  explicit ImsReader(std::string path);  // no I/O
  ~ImsReader();
  ImsReader(ImsReader&&) noexcept;
  ImsReader& operator=(ImsReader&&) noexcept;

  // Opens and parses the layout. IoError if the file cannot be opened (missing, permission),
  // InputError naming the file if it is not a readable IMS file.
  void open();
  const ImsInfo& info() const;

  // Region [x0, x0+w) x [y0, y0+h) of a level (true-size coordinates), InputError if outside.
  ImageU16 read(std::size_t level, std::size_t channel, std::size_t x0, std::size_t y0, std::size_t w,
                std::size_t h) const;
  void read_into(std::size_t level, std::size_t channel, std::size_t x0, std::size_t y0,
                 ImageView<std::uint16_t> dst) const;
  // Histogram data set of a level/channel ("Histogram" or "Histogram1024"); empty if absent.
  std::vector<std::uint64_t> histogram(std::size_t level, std::size_t channel, bool bins1024 = false) const;

 private:
  // Chunks stored "shuffle, deflate" (uint16) are read raw and decoded in parallel; false when
  // a chunk is not (a filter skipped, a read error): the caller falls back to H5Dread.
  bool read_chunks_into(std::size_t dataset, std::size_t x0, std::size_t y0, ImageView<std::uint16_t> dst) const;
  struct State;
  std::string path_;
  std::unique_ptr<State> s_;
};

}  // namespace annamosaic
