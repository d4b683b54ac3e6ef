#pragma once
// Internal to annamosaic_pyramid: the HDF5 side of the IMS writer (rank 0 only). It creates
// the file with the serial sec2 driver, stores precompressed chunks with H5Dwrite_chunk and
// writes the metadata at the end. It does no mathematics. Every method takes h5::Lock itself;
// errors are IoErrors naming the final path with HDF5's message (errno text included).
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "pyramid/hdf5_util.hpp"
#include "pyramid/pyramid.hpp"
#include "sink/block_sink.hpp"

namespace annamosaic {

struct ImsMetadata {
  const MosaicInfo* info = nullptr;
  const std::vector<LevelSize>* levels = nullptr;
  const std::vector<FullHistogram>* histograms = nullptr;  // [level * channels + channel]
  std::string description, recording_date;                // recording date "YYYY-MM-DD HH:MM:SS"
  std::vector<std::pair<std::string, std::string>> annamosaic_attrs;  // /DataSetInfo/Annamosaic
  std::vector<std::uint8_t> thumbnail_rgba;                 // thumbnail_size^2 x 4 bytes, or empty
  std::size_t thumbnail_size = 0;
};

class ImsFile {
 public:
  ImsFile(std::string final_path, std::string temp_path) : final_(std::move(final_path)), temp_(std::move(temp_path)) {}
  // Creates the temporary file with every group and data set.
  void create(const std::vector<LevelSize>& levels, std::size_t channels, int deflate_level);
  void write_chunk(std::size_t level, std::size_t channel, std::size_t cy, std::size_t cx,
                   const std::vector<std::uint8_t>& bytes);
  // Reads back [0, w) x [0, h) of a level (the coarsest one, for the thumbnail).
  std::vector<std::uint16_t> read_level(std::size_t level, std::size_t channel, std::size_t w, std::size_t h);
  void write_metadata(const ImsMetadata& meta);
  // Flushes and closes every handle and the file; throws on failure (after abandon()).
  void close();
  // Discards the file: its descriptor is first redirected to an anonymous in-memory file, then
  // every handle is closed. Why: in HDF5 1.10.8 an H5Fclose whose final flush fails (disk full)
  // frees the file but keeps its id, and the library's exit handler then crashes on it; with the
  // writes going to memory the close cannot fail. The caller removes the temporary file.
  void abandon() noexcept;
  ~ImsFile();  // abandon() unless close() succeeded

 private:
  [[noreturn]] void fail(const std::string& what) const;
  std::string final_, temp_;
  std::size_t channels_ = 0;
  h5::NewFile file_;
  std::vector<h5::Hid> data_;    // [level * channels + channel]
  std::vector<h5::Hid> groups_;  // the Channel c groups, same index
};

}  // namespace annamosaic
