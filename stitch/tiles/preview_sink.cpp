#include "tiles/preview_sink.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace annamosaic {

PreviewSink::PreviewSink(BlockSink* inner, const MosaicInfo& info, std::size_t channel, std::size_t max_size_px,
                         std::vector<PixelRect> crops)
    : inner_(inner), info_(info), channel_(channel), rects_(std::move(crops)) {
  if (channel >= info.channels.size()) throw std::invalid_argument("PreviewSink: channel out of range");
  const std::size_t need = max_size_px == 0 ? 1 : (std::max(info.width_px, info.height_px) + max_size_px - 1) / max_size_px;
  factor_ = std::max<std::size_t>(1, need);
  while (info.block_px % factor_ != 0) ++factor_;  // a divisor of the block size (block_px itself at worst)
  overview_ = ImageF((info.width_px + factor_ - 1) / factor_, (info.height_px + factor_ - 1) / factor_);
  for (PixelRect& r : rects_) {
    r.x0 = std::min(r.x0, info.width_px), r.y0 = std::min(r.y0, info.height_px);
    r.width = std::min(r.width, info.width_px - r.x0), r.height = std::min(r.height, info.height_px - r.y0);
    crops_.emplace_back(r.width, r.height);
  }
}

void PreviewSink::write_block(std::size_t bx, std::size_t by, const std::vector<ImageView<const std::uint16_t>>& channels) {
  if (inner_) inner_->write_block(bx, by, channels);
  const ImageView<const std::uint16_t>& v = channels.at(channel_);
  const double inv = info_.channels[channel_].scale > 0 ? 1.0 / info_.channels[channel_].scale : 1.0;
  const std::size_t X0 = bx * info_.block_px, Y0 = by * info_.block_px, f = factor_;
  // Blocks cover disjoint overview pixels (f divides block_px): no lock needed for the overview.
  for (std::size_t oy = 0; oy < (v.height() + f - 1) / f; ++oy)
    for (std::size_t ox = 0; ox < (v.width() + f - 1) / f; ++ox) {
      double s = 0;
      std::size_t n = 0;
      for (std::size_t y = oy * f; y < std::min(v.height(), (oy + 1) * f); ++y)
        for (std::size_t x = ox * f; x < std::min(v.width(), (ox + 1) * f); ++x, ++n) s += v(x, y);
      overview_(X0 / f + ox, Y0 / f + oy) = static_cast<float>(s / static_cast<double>(n) * inv);
    }
  for (std::size_t k = 0; k < rects_.size(); ++k) {
    const PixelRect& r = rects_[k];
    const std::size_t ix0 = std::max(X0, r.x0), ix1 = std::min(X0 + v.width(), r.x0 + r.width);
    const std::size_t iy0 = std::max(Y0, r.y0), iy1 = std::min(Y0 + v.height(), r.y0 + r.height);
    for (std::size_t y = iy0; y < iy1; ++y)
      for (std::size_t x = ix0; x < ix1; ++x) crops_[k](x - r.x0, y - r.y0) = static_cast<float>(v(x - X0, y - Y0) * inv);
  }
}

void PreviewSink::finish() {
  if (inner_) inner_->finish();
}

}  // namespace annamosaic
