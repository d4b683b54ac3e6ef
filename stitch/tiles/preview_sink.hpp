#pragma once
// A BlockSink decorator for quality control: forwards every block to another sink and keeps, in
// memory, a reduced overview of one channel (mean of factor x factor pixels, at most max_size_px
// on the long side) and optionally full-resolution crops of chosen rectangles (e.g. around tile
// corners, to check for seams). Values are de-quantised (stored / scale). Memory: the overview
// and the crops only.
#include <cstddef>

#include "sink/block_sink.hpp"

namespace annamosaic {

struct PixelRect {
  std::size_t x0 = 0, y0 = 0, width = 0, height = 0;
};

class PreviewSink : public BlockSink {
 public:
  // `inner` may be null (preview only). The factor is a divisor of info.block_px, so blocks
  // never share an overview pixel.
  PreviewSink(BlockSink* inner, const MosaicInfo& info, std::size_t channel, std::size_t max_size_px,
              std::vector<PixelRect> crops = {});
  void write_block(std::size_t bx, std::size_t by, const std::vector<ImageView<const std::uint16_t>>& channels) override;
  void finish() override;

  std::size_t factor() const { return factor_; }
  const ImageF& overview() const { return overview_; }
  std::size_t crops() const { return crops_.size(); }
  const ImageF& crop(std::size_t k) const { return crops_[k]; }
  const PixelRect& crop_rect(std::size_t k) const { return rects_[k]; }

 private:
  BlockSink* inner_;
  MosaicInfo info_;
  std::size_t channel_, factor_;
  std::vector<PixelRect> rects_;  // clipped to the mosaic
  ImageF overview_;
  std::vector<ImageF> crops_;  // blocks write disjoint pixels of the overview and the crops: no lock needed
};

}  // namespace annamosaic
