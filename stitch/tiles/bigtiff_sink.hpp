#pragma once
// A BlockSink that writes the mosaic as one tiled BigTIFF: uint16, one TIFF tile per mosaic
// block (block_px must be a multiple of 16), deflate + horizontal predictor, one sample plane per
// channel (PlanarConfiguration separate; a single channel is a plain grayscale image), pixel size
// in the resolution tags (as pipeline/imageio writes them, so Fiji shows um), channel names and
// quantisation scales in the ImageDescription. Written to a temporary name and renamed by
// finish(), which also checks that every block arrived; errors name the path and carry
// libtiff's own message. Thread-safe write_block (libtiff is serialised by a mutex).
// Level 0 only: the pyramidal writers are in stitch/pyramid.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sink/block_sink.hpp"

namespace annamosaic {

struct BigTiffSinkOptions {
  bool deflate = true;
  std::string note;  // a line added to the image description (e.g. the tiles left out), if not empty
};

class BigTiffSink : public BlockSink {
 public:
  // Opens the temporary file (IoError naming `path` if it cannot be created).
  static std::unique_ptr<BigTiffSink> create(const std::string& path, const MosaicInfo& info,
                                             const BigTiffSinkOptions& opt = {});
  ~BigTiffSink() override;
  void write_block(std::size_t bx, std::size_t by, const std::vector<ImageView<const std::uint16_t>>& channels) override;
  void finish() override;

 private:
  struct Impl;
  explicit BigTiffSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace annamosaic
