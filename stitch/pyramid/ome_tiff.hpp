#pragma once
// Pyramidal OME-TIFF export of an IMS mosaic (formats.md): BigTIFF, one full-resolution IFD per
// channel, each with SubIFDs holding the IMS levels 1..L-1 (NewSubfileType = 1), 512 x 512
// tiles, Adobe deflate with horizontal predictor 2, uint16, OME-XML (PhysicalSizeX/Y in um) in
// the first IFD's ImageDescription, resolution tags in pixels per cm.
//
// Streaming: level by level, one tile row (512 rows) of one channel at a time through a
// three-stage pipeline (read from the IMS, compress the row's tiles in parallel with TBB, write
// raw tiles with libtiff in order), so memory is a few tile rows whatever the mosaic size.
// Written atomically (temporary name + rename); IoError naming the path on failure.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "pyramid/chunk_codec.hpp"
#include "pyramid/ims_reader.hpp"

namespace annamosaic {

struct OmeTiffOptions {
  int deflate_level = 2;  // 1..9 (libdeflate level 2: faster and smaller than zlib Z_RLE here)
  DeflateEncoder encoder = DeflateEncoder::Libdeflate;  // chunk_codec.hpp; standard deflate with any
  // Asked before each band of tiles; true: the export throws Stopped (no file is left).
  std::function<bool()> stop_requested;
  // After each band of tiles is written: how many it held, and the tiles of the whole file (every
  // level and channel), for progress on long exports (a 7-gigapixel mosaic writes for minutes).
  std::function<void(std::size_t written, std::size_t total)> tiles_written;
};

struct OmeTiffStats {
  std::size_t levels = 0, tiles = 0;
  std::uint64_t raw_bytes = 0, file_bytes = 0;
  double seconds = 0;
};

OmeTiffStats export_ome_tiff(const ImsReader& reader, const std::string& path, const OmeTiffOptions& opt = {});

}  // namespace annamosaic
