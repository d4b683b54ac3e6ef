#pragma once
// Deterministic synthetic mosaic for the pyramid tests and benchmarks: integer-only, so the
// Python twin (synthetic_mosaic.py) reproduces every pixel bit for bit with numpy.
//   channel 0 "reconstruction": bright filaments (30000..62767, above int16) on an almost empty
//             background (sparse values 0..63), like an A-net output;
//   channel 1 "error map": 64-px blocks of 16 levels plus 0..63 noise;
//   channel 2 "widefield": smooth 16-px product pattern around 1000..4969 plus 0..31 noise;
//   channel 3 "sparse": isolated counts 1..4 on about 1 pixel in 1024.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/image.hpp"
#include "sink/block_sink.hpp"

namespace annamosaic::synthetic {

inline std::uint32_t hash(std::uint32_t x, std::uint32_t y, std::uint32_t c) {
  std::uint32_t h = (x * 0x9E3779B1u) ^ (y * 0x85EBCA77u) ^ ((c + 1u) * 0xC2B2AE3Du);
  h ^= h >> 15;
  h *= 0x2C1B3C6Du;
  h ^= h >> 12;
  return h;
}

inline std::uint16_t value(std::size_t c, std::size_t x, std::size_t y) {
  const std::uint32_t h = hash(static_cast<std::uint32_t>(x), static_cast<std::uint32_t>(y), static_cast<std::uint32_t>(c));
  switch (c % 4) {
    case 0: {
      const bool on = (x * 7 + y * 3) % 251 < 4 || (x * 2 + y * 9 + 17) % 307 < 3;
      if (on) return static_cast<std::uint16_t>(30000 + (h & 0x7FFF));
      return static_cast<std::uint16_t>(((h >> 8) & 0xFF) < 3 ? (h & 0x3F) : 0);
    }
    case 1:
      return static_cast<std::uint16_t>((((x >> 6) + (y >> 6)) & 0xF) * 64 + (h & 0x3F));
    case 2:
      return static_cast<std::uint16_t>(1000 + ((x >> 4) % 64) * ((y >> 4) % 64) + (h & 0x1F));
    default:
      return static_cast<std::uint16_t>(((h >> 4) & 0x3FF) == 0 ? 1 + (h & 3) : 0);
  }
}

// Fills `dst` with channel c of the region starting at level-0 pixel (x0, y0).
inline void fill(std::size_t c, std::size_t x0, std::size_t y0, ImageView<std::uint16_t> dst) {
  for (std::size_t y = 0; y < dst.height(); ++y) {
    std::uint16_t* row = dst.row(y);
    for (std::size_t x = 0; x < dst.width(); ++x) row[x] = value(c, x0 + x, y0 + y);
  }
}

inline MosaicInfo mosaic_info(std::size_t width, std::size_t height, std::size_t channels, std::size_t block_px = 1024,
                              double pixel_nm = 20.0) {
  static const char* names[] = {"reconstruction", "error map", "widefield", "sparse"};
  static const char* colors[] = {"1 0 1", "1 0.5 0", "0 1 0", "0 0.6 1"};
  MosaicInfo m;
  m.name = "synthetic";
  m.width_px = width;
  m.height_px = height;
  m.pixel_nm = pixel_nm;
  m.block_px = block_px;
  for (std::size_t c = 0; c < channels; ++c) {
    ChannelInfo ci;
    ci.name = names[c % 4];
    ci.color = colors[c % 4];
    ci.scale = c % 4 == 1 ? 1000.0 : 1.0;  // the error map is quantised: stored = round(error * 1000)
    ci.description = ci.name + " (synthetic)";
    m.channels.push_back(ci);
  }
  return m;
}

}  // namespace annamosaic::synthetic
